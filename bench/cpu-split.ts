/**
 * Where the CPU goes during one timed operation: each cluster process's CPU time (from
 * /proc/<pid>/stat), the bench process's own, and the whole machine's busy time (/proc/stat),
 * as % of one core (with 2 cores the machine has 200 %). What the processes do not account for is
 * the kernel's own threads (page-cache writeback, softirqs) and anything else running.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { execFileSync } from "node:child_process";

export interface CpuSplit {
  /** % of one core per named process, the bench process as "bench". */
  procs: Record<string, number>;
  /** % of one core the machine was busy (all CPUs together). */
  machine: number;
  cores: number;
}

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU ms of a process (user + system), or NaN when it is gone. */
function procCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/** Busy and total CPU ms of the machine (all CPUs). */
function machineMs(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3] + f[4];
  return { busy: ((total - idle) * 1000) / ticksPerSecond, total: (total * 1000) / ticksPerSecond };
}

export class CpuMeter {
  /** The split of the last measurement of each key. */
  readonly last = new Map<string, CpuSplit>();

  constructor(private readonly pids: Record<string, number>) {}

  async measure<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = Object.fromEntries(Object.entries(this.pids).map(([name, pid]) => [name, procCpuMs(pid)]));
    const self0 = process.cpuUsage();
    const m0 = machineMs();
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - t0;
      const self = process.cpuUsage(self0);
      const m1 = machineMs();
      const procs: Record<string, number> = { bench: ((self.user + self.system) / 1000 / ms) * 100 };
      for (const [name, pid] of Object.entries(this.pids)) procs[name] = ((procCpuMs(pid) - before[name]) / ms) * 100;
      const cores = cpus().length;
      const machine = ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * cores * 100;
      this.last.set(key, { procs, machine, cores });
    }
  }
}

/** Markdown table of the splits, one row per key (in `labels` order), columns per process group. */
export function cpuTable(meter: CpuMeter, labels: [key: string, label: string][]): string {
  const rows = labels.filter(([k]) => meter.last.has(k));
  if (rows.length === 0) return "";
  const cores = meter.last.get(rows[0][0])!.cores;
  const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} %` : "-");
  const lines = [
    `| CPU during the last round (% of one core; the machine has ${cores * 100} %) | bench process (client) | nats-server | namenode | datanodes | kernel threads and rest | idle |`,
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [key, label] of rows) {
    const s = meter.last.get(key)!;
    const dn = Object.entries(s.procs)
      .filter(([n]) => n.startsWith("dn"))
      .map(([n, v]) => `${n} ${Math.round(v)}`)
      .join(" + ");
    const dnSum = Object.entries(s.procs)
      .filter(([n]) => n.startsWith("dn"))
      .reduce((a, [, v]) => a + v, 0);
    const accounted = s.procs.bench + (s.procs.nats ?? 0) + (s.procs.namenode ?? 0) + dnSum;
    lines.push(
      `| ${label} | ${pct(s.procs.bench)} | ${pct(s.procs.nats ?? Number.NaN)} | ${pct(s.procs.namenode ?? Number.NaN)} | ${pct(dnSum)} (${dn}) | ${pct(Math.max(0, s.machine - accounted))} | ${pct(Math.max(0, s.cores * 100 - s.machine))} |`,
    );
  }
  return lines.join("\n");
}
