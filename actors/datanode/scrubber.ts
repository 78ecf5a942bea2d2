/**
 * The background scrubber: a pass over every committed chunk verifying each block CRC and the
 * whole-chunk CRC (store.readVerified), paced to `datanode.scrubBytesPerSecond` (0 = off), the
 * next pass `datanode.scrubIntervalMs` after the previous one finished. Reads are async slices,
 * so serving is never held up for more than one slice. A corrupt replica is taken out of
 * service by the store, whose onCorrupt hook reports it.
 */
import { setTimeout as sleepFor } from "node:timers/promises";
import type { Logger } from "../logger.js";
import type { ChunkStore, StoredChunk } from "./store.js";

/** The first pass starts this long after start (or sooner if the interval is shorter): late enough not to slow the startup reports. */
export const SCRUB_FIRST_DELAY_MS = 5_000;
/** Pacing granularity: a slice is at most this fraction of a second's budget, so the rate stays smooth. */
const SLICES_PER_SECOND = 4;

/**
 * How long to wait before reading more so that `bytesDone` bytes over `elapsedMs` stay within
 * `bytesPerSecond`. Pure.
 */
export function scrubDelayMs(bytesDone: number, elapsedMs: number, bytesPerSecond: number): number {
  if (bytesPerSecond <= 0) return 0;
  return Math.max(0, (bytesDone * 1000) / bytesPerSecond - elapsedMs);
}

/** Slice size for a pass: a frame at most, a quarter second's budget at most, one block at least. Pure. */
export function scrubSliceBytes(bytesPerSecond: number, maxSliceBytes: number, blockSizeBytes: number): number {
  const budget = Math.floor(bytesPerSecond / SLICES_PER_SECOND);
  return Math.max(blockSizeBytes, Math.min(maxSliceBytes, budget));
}

export interface ScrubPassResult {
  chunks: number;
  bytes: number;
  corrupt: number;
  /** Chunks that could not be read for another reason (failed dir, deleted meanwhile). */
  failed: number;
  elapsedMs: number;
}

export interface ScrubberOptions {
  store: Pick<ChunkStore, "list" | "get" | "readVerified">;
  log: Logger;
  bytesPerSecond: number;
  intervalMs: number;
  /** Largest slice read at once (the frame size). */
  maxSliceBytes: number;
  blockSizeBytes: number;
  /** Injectable clock and sleep so tests can check the pacing without waiting. */
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export class Scrubber {
  private readonly opts: ScrubberOptions;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(opts: ScrubberOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }).then(() => undefined));
  }

  /** Schedules the first pass; does nothing when the rate is 0. */
  start(): void {
    if (this.opts.bytesPerSecond <= 0) {
      this.opts.log.info("scrubber is off (datanode.scrubBytesPerSecond is 0)");
      return;
    }
    this.schedule(Math.min(SCRUB_FIRST_DELAY_MS, this.opts.intervalMs));
  }

  /** Stops scheduling and interrupts a pass in progress at its next slice. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.running = this.runPass()
        .catch((e) => this.opts.log.error({ err: e }, "scrub pass failed unexpectedly"))
        .finally(() => this.schedule(this.opts.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  /** One pass over every chunk held when it starts; returns what it found. Never throws for a bad chunk. */
  async runPass(): Promise<ScrubPassResult> {
    const { store, log, bytesPerSecond } = this.opts;
    const slice = scrubSliceBytes(bytesPerSecond, this.opts.maxSliceBytes, this.opts.blockSizeBytes);
    const began = this.now();
    const result: ScrubPassResult = { chunks: 0, bytes: 0, corrupt: 0, failed: 0, elapsedMs: 0 };
    for (const c of store.list()) {
      if (this.stopping.signal.aborted) break;
      // Deleted, moved aside or lost with its dir since the pass began. An append that grew the
      // replica since leaves it in place (as a new index entry): readVerified reads it as it is now.
      if (!store.get(c.chunkId, c.version)) continue;
      const outcome = await this.verify(c, slice, began, result);
      if (outcome === "stopped") break;
      if (outcome === "corrupt") result.corrupt++;
      else if (outcome === "failed") result.failed++;
      else result.chunks++;
    }
    result.elapsedMs = this.now() - began;
    const mib = (result.bytes / (1024 * 1024)).toFixed(1);
    log.info(
      { ...result, stopped: this.stopping.signal.aborted },
      `scrubbed ${result.chunks + result.corrupt} chunks (${mib} MiB) in ${result.elapsedMs} ms, ${result.corrupt} corrupt`,
    );
    return result;
  }

  private async verify(c: StoredChunk, slice: number, began: number, result: ScrubPassResult): Promise<"ok" | "corrupt" | "failed" | "stopped"> {
    try {
      for await (const span of this.opts.store.readVerified(c, slice)) {
        result.bytes += span.length;
        const wait = scrubDelayMs(result.bytes, this.now() - began, this.opts.bytesPerSecond);
        if (wait > 0) await this.sleep(wait, this.stopping.signal);
        // Leaving the loop closes the file (the generator's finally).
        if (this.stopping.signal.aborted) return "stopped";
      }
      return "ok";
    } catch (e) {
      if (this.stopping.signal.aborted) return "stopped";
      return (e as { code?: string }).code === "CHECKSUM" ? "corrupt" : "failed";
    }
  }
}
