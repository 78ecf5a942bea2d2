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
  /** Called with the size of every verified slice (metrics). */
  onBytes?: (bytes: number) => void;
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
  /** Pacing restarts from here after a rate change, so a new rate is not judged by bytes read under the old one. */
  private pace = { sinceMs: 0, bytesBefore: 0 };
  /** The pass in progress stops at its next slice (the rate was set to 0). */
  private passCancelled = false;

  constructor(opts: ScrubberOptions) {
    // A copy: reconfigure() changes the rate and interval.
    this.opts = { ...opts };
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }).then(() => undefined));
  }

  /**
   * New rate and interval (a config reload). 0 stops the pass in progress at its next slice and
   * schedules no more; a rate above 0 after 0 schedules a pass as at start; another rate paces
   * the rest of the pass in progress.
   */
  reconfigure(bytesPerSecond: number, intervalMs: number): void {
    const wasOff = this.opts.bytesPerSecond <= 0;
    this.opts.bytesPerSecond = bytesPerSecond;
    this.opts.intervalMs = intervalMs;
    this.pace = { sinceMs: this.now(), bytesBefore: -1 };
    if (this.stopping.signal.aborted) return;
    if (bytesPerSecond <= 0) {
      this.passCancelled = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.opts.log.info("scrubber turned off (datanode.scrubBytesPerSecond is 0)");
      return;
    }
    this.passCancelled = false;
    if (wasOff && !this.running) this.start();
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
    if (this.stopping.signal.aborted || this.opts.bytesPerSecond <= 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.runPass()
        .catch((e) => this.opts.log.error({ err: e }, "scrub pass failed unexpectedly"))
        .finally(() => {
          this.running = undefined;
          this.schedule(this.opts.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  /** One pass over every chunk held when it starts; returns what it found. Never throws for a bad chunk. */
  async runPass(): Promise<ScrubPassResult> {
    const { store, log } = this.opts;
    const began = this.now();
    this.pace = { sinceMs: began, bytesBefore: 0 };
    this.passCancelled = false;
    const result: ScrubPassResult = { chunks: 0, bytes: 0, corrupt: 0, failed: 0, elapsedMs: 0 };
    for (const c of store.list()) {
      if (this.stopping.signal.aborted || this.passCancelled) break;
      // Read at each chunk: a reload may change the rate mid-pass.
      const slice = scrubSliceBytes(this.opts.bytesPerSecond, this.opts.maxSliceBytes, this.opts.blockSizeBytes);
      // Deleted, moved aside or lost with its dir since the pass began. An append that grew the
      // replica since leaves it in place (as a new index entry): readVerified reads it as it is now.
      if (!store.get(c.chunkId, c.version)) continue;
      const outcome = await this.verify(c, slice, result);
      if (outcome === "stopped") break;
      if (outcome === "corrupt") result.corrupt++;
      else if (outcome === "failed") result.failed++;
      else result.chunks++;
    }
    result.elapsedMs = this.now() - began;
    const mib = (result.bytes / (1024 * 1024)).toFixed(1);
    log.info(
      { ...result, stopped: this.stopping.signal.aborted || this.passCancelled },
      `scrubbed ${result.chunks + result.corrupt} chunks (${mib} MiB) in ${result.elapsedMs} ms, ${result.corrupt} corrupt`,
    );
    return result;
  }

  private async verify(c: StoredChunk, slice: number, result: ScrubPassResult): Promise<"ok" | "corrupt" | "failed" | "stopped"> {
    try {
      for await (const span of this.opts.store.readVerified(c, slice)) {
        // A rate change marks the pace with -1: it counts from the bytes read at that moment.
        if (this.pace.bytesBefore < 0) this.pace.bytesBefore = result.bytes;
        result.bytes += span.length;
        this.opts.onBytes?.(span.length);
        const wait = scrubDelayMs(result.bytes - this.pace.bytesBefore, this.now() - this.pace.sinceMs, this.opts.bytesPerSecond);
        if (wait > 0) await this.sleep(wait, this.stopping.signal);
        // Leaving the loop closes the file (the generator's finally).
        if (this.stopping.signal.aborted || this.passCancelled) return "stopped";
      }
      return "ok";
    } catch (e) {
      if (this.stopping.signal.aborted) return "stopped";
      return (e as { code?: string }).code === "CHECKSUM" ? "corrupt" : "failed";
    }
  }
}
