/**
 * Report deltas after appends. Every append changes a replica's size (and a version bump its
 * name), and the namenode hears of it in a delta; a chunk taking hundreds of batches a second
 * must not cost as many report requests, so changes are merged while one delta is in flight.
 */
import type { AppendChange } from "./append-store.js";
import type { ReportedChunk, Reporter } from "./reports.js";

export class AppendDeltas {
  private readonly reporter: Pick<Reporter, "delta">;
  /** `id_vN` → the newest state of a replica to report. */
  private readonly stored = new Map<string, ReportedChunk>();
  private readonly removed = new Map<string, { id: string; version: number }>();
  private flushing: Promise<void> | undefined;

  constructor(reporter: Pick<Reporter, "delta">) {
    this.reporter = reporter;
  }

  /** Queues what an append changed; sent with the next delta. */
  note(change: AppendChange): void {
    for (const r of change.removed) {
      const k = `${r.chunkId}_v${r.version}`;
      this.stored.delete(k);
      this.removed.set(k, { id: r.chunkId, version: r.version });
    }
    const c = change.stored;
    if (c) {
      const k = `${c.chunkId}_v${c.version}`;
      this.removed.delete(k);
      this.stored.set(k, { id: c.chunkId, version: c.version, sizeBytes: c.sizeBytes });
    }
    this.flushing ??= this.flush();
  }

  /** Resolves once everything noted so far has been handed to the reporter. */
  async settled(): Promise<void> {
    await this.flushing;
  }

  private async flush(): Promise<void> {
    try {
      while (this.stored.size > 0 || this.removed.size > 0) {
        const chunks = [...this.stored.values()];
        const removed = [...this.removed.values()];
        this.stored.clear();
        this.removed.clear();
        await this.reporter.delta(chunks, removed);
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
