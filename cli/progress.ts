/**
 * Progress of put/get/append on stderr: a cli-progress bar while a transfer runs
 * (only when stderr is a terminal and not `--quiet`), and one summary line with the
 * rate at the end. The line's text is built by the pure `progressLine`.
 */
import type { ProgressListener } from "../actors/client/index.js";
import { formatBytes, isQuiet, notice } from "./output.js";

const MiB = 1024 * 1024;
/** A transfer shorter than this never draws a bar (no flicker for small files). */
const BAR_DELAY_MS = 300;

export interface TransferProgress {
  /** Pass to the client's `onProgress`; undefined when no bar is drawn (the client then skips progress work). */
  onProgress?: ProgressListener;
  /** Removes the bar (call on success and on failure). */
  stop(): void;
}

/** `rate` in MiB/s, with a precision that suits it. */
function mibPerSec(bytes: number, ms: number): string {
  const r = bytes / MiB / Math.max(ms / 1000, 0.001);
  return `${r >= 100 ? r.toFixed(0) : r.toFixed(1)} MiB/s`;
}

/** `1h02m`, `3m05s`, `42s`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * The bar's text: with a known total `label [=====-----] 42% | 1.2 GiB / 3.0 GiB | 180 MiB/s | ETA 10s`,
 * without one `label 1.2 GiB | 180 MiB/s`. PURE.
 */
export function progressLine(p: { label: string; doneBytes: number; totalBytes?: number; elapsedMs: number; barWidth?: number }): string {
  const rate = p.elapsedMs > 0 ? mibPerSec(p.doneBytes, p.elapsedMs) : "-- MiB/s";
  if (p.totalBytes === undefined || p.totalBytes <= 0) return `${p.label} ${formatBytes(p.doneBytes)} | ${rate}`;
  const fraction = Math.min(1, p.doneBytes / p.totalBytes);
  const width = p.barWidth ?? 30;
  const filled = Math.round(fraction * width);
  const bar = "=".repeat(filled) + "-".repeat(width - filled);
  const bytesPerMs = p.elapsedMs > 0 ? p.doneBytes / p.elapsedMs : 0;
  const eta = bytesPerMs > 0 ? formatEta((p.totalBytes - p.doneBytes) / bytesPerMs / 1000) : "--";
  const pct = String(Math.floor(fraction * 100)).padStart(3);
  return `${p.label} [${bar}] ${pct}% | ${formatBytes(p.doneBytes)} / ${formatBytes(p.totalBytes)} | ${rate} | ETA ${eta}`;
}

/**
 * A progress bar for one transfer, or a no-op when stderr is not a terminal or `--quiet`
 * is set. cli-progress is loaded only when a bar is drawn.
 */
export async function transferProgress(label: string, totalBytes?: number): Promise<TransferProgress> {
  if (!process.stderr.isTTY || isQuiet()) return { stop: () => undefined };
  const { SingleBar } = (await import("cli-progress")).default;
  const startedMs = performance.now();
  let done = 0;
  let total = totalBytes;
  let bar: InstanceType<typeof SingleBar> | undefined;
  return {
    onProgress(bytesDone, totalFromClient) {
      done = bytesDone;
      total ??= totalFromClient;
      if (!bar) {
        if (performance.now() - startedMs < BAR_DELAY_MS) return;
        bar = new SingleBar({
          stream: process.stderr,
          format: () => progressLine({ label, doneBytes: done, totalBytes: total, elapsedMs: performance.now() - startedMs }),
          hideCursor: true,
          clearOnComplete: true,
          fps: 5,
        });
        bar.start(total ?? 0, done);
      }
      bar.update(done);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

/**
 * The line printed after a transfer on a terminal (unless `--quiet`), e.g.
 * `stored /a: 1.0 GiB in 16 chunks, 182 MiB/s`. The rate is shown from 1 MiB up.
 */
export function transferNotice(what: string, sizeBytes: number, ms: number): void {
  if (!process.stderr.isTTY) return;
  notice(`${what}${sizeBytes >= MiB ? `, ${mibPerSec(sizeBytes, ms)}` : ""}`);
}
