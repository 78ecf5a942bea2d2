/** Formatting of CLI output and errors (exit 1 with one "woods:" line on stderr). */
import { WoodsError } from "../messages/index.js";

let quiet = false;

/** Set from `--quiet`: informational stderr lines (progress, MiB/s, banners) are dropped; errors never are. */
export function setQuiet(on: boolean): void {
  quiet = on;
}

/** True under `--quiet`. */
export function isQuiet(): boolean {
  return quiet;
}

/** Writes an informational line to stderr unless `--quiet`. */
export function notice(line: string): void {
  if (!quiet) process.stderr.write(line.endsWith("\n") ? line : `${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Exit code 2 marks a usage error; anything else that fails is 1. */
export class UsageError extends Error {}

export function fail(e: unknown): never {
  if (e instanceof UsageError) {
    process.stderr.write(`woods: ${e.message}\n`);
    process.exit(2);
  }
  const msg =
    e instanceof WoodsError ? `${e.message} (${e.code})` : e instanceof Error ? e.message : String(e);
  process.stderr.write(`woods: ${msg.split("\n")[0]}\n`);
  if (process.env.WOODS_DEBUG) console.error(e);
  process.exit(1);
}
