/**
 * Chunk writes in progress on this datanode (direct frames or ingest), bounded by
 * `datanode.writesInflightMax`; a direct write idle for `datanode.writeIdleTimeoutMs` is aborted.
 */
import type { Subscription } from "@nats-io/transport-node";
import { WoodsError } from "../../messages/index.js";
import type { Logger } from "../logger.js";
import type { ChunkWriter } from "./store.js";

export interface ActiveWrite {
  chunkId: string;
  version: number;
  kind: "direct" | "ingest";
  /** Set once the store has opened the temp file. */
  writer?: ChunkWriter;
  /** The subscription to `woods.data.<chunkId>` (direct writes). */
  sub?: Subscription;
  /** Frames (or the ingest loop) run one after another on this chain; it never rejects. */
  chain: Promise<void>;
  framesWritten: number;
  framesQueued: number;
  idleTimer?: NodeJS.Timeout;
  aborted: boolean;
}

export interface ActiveWritesOptions {
  maxInflight: number;
  idleTimeoutMs: number;
  log: Logger;
  nodeId: string;
}

export class ActiveWrites {
  private readonly opts: ActiveWritesOptions;
  private readonly byChunk = new Map<string, ActiveWrite>();

  constructor(opts: ActiveWritesOptions) {
    this.opts = opts;
  }

  get size(): number {
    return this.byChunk.size;
  }

  get(chunkId: string): ActiveWrite | undefined {
    return this.byChunk.get(chunkId);
  }

  /** Registers a new write; UNAVAILABLE (retryable) when `writesInflightMax` writes are already running. */
  add(chunkId: string, version: number, kind: ActiveWrite["kind"]): ActiveWrite {
    if (this.byChunk.has(chunkId)) throw new WoodsError("EXISTS", `chunk ${chunkId} is already being written here`, { retryable: true });
    if (this.byChunk.size >= this.opts.maxInflight) {
      throw new WoodsError("UNAVAILABLE", `${this.opts.nodeId} already has ${this.byChunk.size} writes in flight (writesInflightMax)`);
    }
    const w: ActiveWrite = { chunkId, version, kind, chain: Promise.resolve(), framesWritten: 0, framesQueued: 0, aborted: false };
    this.byChunk.set(chunkId, w);
    if (kind === "direct") this.touch(w);
    return w;
  }

  /** Restarts the idle timer of a direct write (called on every frame). */
  touch(w: ActiveWrite): void {
    if (w.idleTimer) clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      this.opts.log.warn(
        { chunkId: w.chunkId, version: w.version },
        `write of chunk ${w.chunkId} v${w.version} aborted after ${this.opts.idleTimeoutMs} ms without frames`,
      );
      void this.abort(w);
    }, this.opts.idleTimeoutMs);
    w.idleTimer.unref();
  }

  /** Stops taking frames for `w` and forgets it; queued frames still drain on its chain. */
  detach(w: ActiveWrite): void {
    if (w.idleTimer) clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
    try {
      w.sub?.unsubscribe();
    } catch {
      // Already closed with the connection.
    }
    if (this.byChunk.get(w.chunkId) === w) this.byChunk.delete(w.chunkId);
  }

  /** Aborts a write: no more frames, wait for queued ones, remove the temp file. Idempotent. */
  async abort(w: ActiveWrite): Promise<void> {
    w.aborted = true;
    this.detach(w);
    await w.chain;
    await w.writer?.abort();
  }

  /** Aborts every write (shutdown). */
  async abortAll(): Promise<void> {
    await Promise.all([...this.byChunk.values()].map((w) => this.abort(w)));
  }
}
