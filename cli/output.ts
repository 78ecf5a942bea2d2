/** Formatting of CLI output and errors (exit 1 with one "woods:" line on stderr). */
import { WoodsError, type NodeInfo } from "../messages/index.js";

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

/**
 * One line of `woods nodes`: id, state, zone (when it has one), space, chunks, load, and where it
 * stands in decommissioning (when not in service).
 */
export function formatNode(n: NodeInfo): string {
  const zone = n.zone ? `zone ${n.zone}  ` : "";
  const admin =
    n.adminState === "decommissioning"
      ? `  decommissioning${n.decommissionChunksLeft === undefined ? "" : ` (${n.decommissionChunksLeft} chunks left)`}`
      : n.adminState === "decommissioned"
        ? "  decommissioned"
        : "";
  return `${n.id.padEnd(8)} ${n.state.padEnd(6)} ${zone}used ${formatBytes(n.usedBytes)} of ${formatBytes(n.capacityBytes)}  ${n.chunks} chunks  load ${n.load.toFixed(2)}${admin}`;
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
