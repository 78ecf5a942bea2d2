/**
 * Checkpoints: load the newest valid namespace snapshot at start, and write
 * new ones while serving. A snapshot is captured synchronously at a log batch
 * boundary (so it matches the log up to one sequence exactly), encoded in
 * parts with the event loop free in between, and uploaded only once that
 * sequence is durable. Old snapshots are deleted; covered log entries are
 * purged when configured.
 */
import type { WoodsConfig } from "../../config/index.js";
import { WoodsError } from "../../messages/index.js";
import { snapshotName, type MetaLogBounds, type SnapshotStore, type SnapshotObject } from "../../jetstream/index.js";
import type { Logger } from "../logger.js";
import type { Namespace } from "./namespace.js";
import { decodeSnapshot, encodeSnapshot, type SnapshotHeader } from "./snapshot-format.js";

export interface LoadedSnapshot {
  name: string;
  header: SnapshotHeader;
  ns: Namespace;
  sizeBytes: number;
  loadMs: number;
}

/** A snapshot passed over at start, and why. */
export interface SkippedSnapshot {
  name: string;
  reason: string;
}

/**
 * Loads the newest snapshot that verifies and from which the log can be
 * replayed (its sequence is in the stream's range). Returns undefined for a
 * full replay. Throws when the log was purged and no snapshot covers the hole.
 */
export async function loadNewestSnapshot(
  store: SnapshotStore,
  bounds: MetaLogBounds,
  log: Logger,
  clock: () => number = Date.now,
): Promise<{ loaded?: LoadedSnapshot; skipped: SkippedSnapshot[] }> {
  const skipped: SkippedSnapshot[] = [];
  const skip = (s: SnapshotObject, reason: string): void => {
    skipped.push({ name: s.name, reason });
    log.warn({ snapshot: s.name, logSeq: s.logSeq, reason }, `skipped snapshot ${s.name}: ${reason}`);
  };
  for (const s of await store.list()) {
    if (s.logSeq > bounds.lastSeq) {
      skip(s, `it covers sequence ${s.logSeq}, past the log's last sequence ${bounds.lastSeq}`);
      continue;
    }
    if (s.logSeq + 1 < bounds.firstSeq) {
      skip(s, `the log was purged up to ${bounds.firstSeq - 1}, past its sequence ${s.logSeq}`);
      continue;
    }
    const startMs = clock();
    try {
      const data = await store.read(s.name);
      const { header, ns } = decodeSnapshot(data);
      if (header.logSeq !== s.logSeq) throw new WoodsError("INTERNAL", `its header covers sequence ${header.logSeq}, its name ${s.logSeq}`);
      return { loaded: { name: s.name, header, ns, sizeBytes: data.length, loadMs: clock() - startMs }, skipped };
    } catch (e) {
      skip(s, (e as Error).message);
    }
  }
  if (bounds.firstSeq > 1) {
    const why = skipped.length > 0 ? skipped.map((s) => `${s.name}: ${s.reason}`).join("; ") : "there are no snapshots";
    throw new WoodsError(
      "INTERNAL",
      `the metadata log was purged up to sequence ${bounds.firstSeq - 1} and no snapshot covering it could be loaded (${why}); the namespace cannot be rebuilt`,
    );
  }
  return { skipped };
}

/** What one snapshot write did. */
export interface SnapshotResult {
  name: string;
  logSeq: number;
  files: number;
  chunks: number;
  sizeBytes: number;
  /** Time the event loop was held to capture the namespace. */
  captureMs: number;
  totalMs: number;
  deleted: string[];
  /** Log messages purged after it (0 unless `snapshotLogPurge`). */
  purged: number;
}

export interface CheckpointerDeps {
  store: SnapshotStore;
  ns: Namespace;
  /** The log appender: a capture happens at its batch boundary, an upload after `sync()`. */
  appender: { atBoundary<T>(fn: (coversSeq: number) => T): Promise<T>; sync(): Promise<void> };
  purge(keepFromSeq: number): Promise<number>;
  config: WoodsConfig["namenode"];
  log: Logger;
  clock: () => number;
  /** Entries applied when the state last matched a snapshot (the loaded one, or 0). */
  appliedAtLastSnapshot: number;
}

/** Writes snapshots when due (`maybeTake`) or on demand (`takeNow`), one at a time. */
export class Checkpointer {
  private running: Promise<SnapshotResult> | undefined;
  private appliedAtLast: number;
  private lastAtMs: number;
  private stopped = false;

  constructor(private readonly d: CheckpointerDeps) {
    this.appliedAtLast = d.appliedAtLastSnapshot;
    this.lastAtMs = d.clock();
  }

  /** True when enough entries were applied, or enough time passed with any change. */
  due(): boolean {
    const changed = this.d.ns.appliedCount - this.appliedAtLast;
    if (changed <= 0) return false;
    const { snapshotEveryEntries, snapshotIntervalMs } = this.d.config;
    if (snapshotEveryEntries > 0 && changed >= snapshotEveryEntries) return true;
    return snapshotIntervalMs > 0 && this.d.clock() - this.lastAtMs >= snapshotIntervalMs;
  }

  /** Starts a snapshot when due and none is running; failures are logged (the next check retries). */
  maybeTake(): void {
    if (this.stopped || this.running || !this.due()) return;
    this.takeNow().catch((err) => this.d.log.warn({ err }, `snapshot failed: ${err.message}`));
  }

  /** Writes a snapshot of the state as of now (after any running one). */
  async takeNow(): Promise<SnapshotResult> {
    while (this.running) await this.running.catch(() => undefined);
    if (this.stopped) throw new WoodsError("UNAVAILABLE", "the namenode is stopping");
    const p = this.take();
    this.running = p;
    try {
      return await p;
    } finally {
      this.running = undefined;
    }
  }

  /** Waits for a running snapshot; no new ones start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async take(): Promise<SnapshotResult> {
    const startMs = this.d.clock();
    const cap = await this.d.appender.atBoundary((logSeq) => {
      const t0 = this.d.clock();
      const c = this.d.ns.capture();
      return { ...c, logSeq, createdAtMs: t0, captureMs: this.d.clock() - t0 };
    });
    const encoded = await encodeSnapshot(cap, { between: () => new Promise((r) => setImmediate(r)) });
    // The capture may include the batch being published: upload only once it is durable.
    await this.d.appender.sync();
    const name = snapshotName(cap.logSeq);
    const sizeBytes = await this.d.store.write(name, encoded.parts);
    this.appliedAtLast = cap.meta.applied;
    this.lastAtMs = this.d.clock();

    const kept = this.d.config.snapshotsKept;
    const all = await this.d.store.list();
    const deleted: string[] = [];
    for (const old of all.slice(kept)) {
      await this.d.store.remove(old.name);
      deleted.push(old.name);
    }
    let purged = 0;
    if (this.d.config.snapshotLogPurge) {
      // Keep the log from the oldest kept snapshot on: any of them can still be loaded with its tail.
      const oldest = all.slice(0, kept).at(-1);
      if (oldest) purged = await this.d.purge(oldest.logSeq + 1);
    }
    const result: SnapshotResult = {
      name,
      logSeq: cap.logSeq,
      files: encoded.header.files,
      chunks: encoded.header.chunks,
      sizeBytes,
      captureMs: cap.captureMs,
      totalMs: this.d.clock() - startMs,
      deleted,
      purged,
    };
    this.d.log.info(
      { ...result },
      `wrote snapshot ${name} (${result.files} files, ${result.chunks} chunks, ${encoded.header.keys ?? 0} append keys, ${encoded.header.leases ?? 0} leases, seq ${cap.logSeq}, ${sizeBytes} bytes) in ${result.totalMs} ms` +
        (deleted.length > 0 ? `; deleted ${deleted.join(", ")}` : "") +
        (purged > 0 ? `; purged ${purged} log messages before ${all.slice(0, kept).at(-1)!.logSeq + 1}` : ""),
    );
    return result;
  }
}
