/**
 * Chunk reports to the namenode: a full report (in pages) at start, after a reconnect, after any
 * report that failed to land, and whenever a heartbeat reply asks for one; deltas in between.
 * Every report goes through one queue so a delta never overtakes the full report it follows.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { NamenodeRequest, Subjects } from "../../messages/index.js";
import type { Logger } from "../logger.js";
import { call } from "../rpc.js";

export interface ReportedChunk {
  id: string;
  version: number;
  sizeBytes: number;
}

/** A replica found corrupt and kept aside, as the namenode hears of it. */
export interface ReportedCorrupt {
  id: string;
  version: number;
  reason: string;
}

export interface ReporterOptions {
  id: string;
  nc: NatsConnection;
  subj: Subjects;
  log: Logger;
  pageMaxChunks: number;
  requestTimeoutMs: number;
  /** Snapshot of every chunk held, taken when a full report starts. */
  snapshot: () => ReportedChunk[];
  /** Snapshot of every corrupt replica kept aside, sent with the full report. */
  corruptSnapshot?: () => ReportedCorrupt[];
  /** Unique id for each full report (pages of one report share it). */
  newReportId: () => string;
}

export class Reporter {
  private readonly opts: ReporterOptions;
  private queue: Promise<void> = Promise.resolve();
  /** True while the namenode's view of this node may be stale; the next full report clears it. */
  private needFull = true;

  constructor(opts: ReporterOptions) {
    this.opts = opts;
  }

  get fullReportNeeded(): boolean {
    return this.needFull;
  }

  /** Marks the namenode's view as stale (reconnect, lost delta); the heartbeat loop sends a full report. */
  invalidate(): void {
    this.needFull = true;
  }

  /**
   * Queues a delta; skipped when a full report is pending anyway (it will carry the same facts).
   * A replica found corrupt appears in `corrupt` only (that marks it not good at the namenode).
   */
  delta(chunks: ReportedChunk[], removed: { id: string; version: number }[], corrupt: ReportedCorrupt[] = []): Promise<void> {
    if (chunks.length === 0 && removed.length === 0 && corrupt.length === 0) return this.queue;
    return this.enqueue(async () => {
      if (this.needFull) return;
      try {
        const body = { full: false, reportId: this.opts.newReportId(), page: 0, last: true, chunks, removed };
        await this.send(corrupt.length > 0 ? { ...body, corrupt } : body);
      } catch (e) {
        this.needFull = true;
        this.opts.log.debug({ err: e }, "delta report failed; a full report will follow");
      }
    });
  }

  /** Queues a full report in pages of at most `pageMaxChunks`; returns whether it landed. */
  full(): Promise<boolean> {
    let ok = false;
    return this.enqueue(async () => {
      // Cleared before the snapshot so deltas queued while the pages go out are sent after them.
      this.needFull = false;
      const all = this.opts.snapshot();
      const corrupt = this.opts.corruptSnapshot?.() ?? [];
      const reportId = this.opts.newReportId();
      const per = this.opts.pageMaxChunks;
      const pages = Math.max(1, Math.ceil(all.length / per), Math.ceil(corrupt.length / per));
      try {
        for (let page = 0; page < pages; page++) {
          const chunks = all.slice(page * per, (page + 1) * per);
          const bad = corrupt.slice(page * per, (page + 1) * per);
          const body = { full: true, reportId, page, last: page === pages - 1, chunks, removed: [] };
          await this.send(bad.length > 0 ? { ...body, corrupt: bad } : body);
        }
        ok = true;
        this.opts.log.info(
          { chunks: all.length, corrupt: corrupt.length, pages, reportId },
          `${this.opts.id} sent a full report of ${all.length} chunks (${corrupt.length} corrupt kept aside) in ${pages} pages`,
        );
      } catch (e) {
        this.needFull = true;
        this.opts.log.debug({ err: e }, "full report failed; will retry after the next heartbeat");
      }
    }).then(() => ok);
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(job, job);
    return this.queue;
  }

  private async send(body: Omit<NamenodeRequest<"report">, "id">): Promise<void> {
    await call(this.opts.nc, this.opts.subj.fromDatanode(this.opts.id, "report"), { id: this.opts.id, ...body }, this.opts.requestTimeoutMs);
  }
}
