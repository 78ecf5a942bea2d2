/**
 * What a config reload may change in a running process. PURE: compares two loaded configs and
 * splits their differences into keys applied at once (policies: placement, repair limits, retry,
 * scrub rate, log level) and keys that need a restart (identities, sizes, ports, timers wired
 * into long-lived objects). The watcher (watch.ts) does the I/O around it.
 */
import type { WoodsConfig } from "./schema.js";

/**
 * Every key a running process can take from a changed config file without a restart. Each actor
 * applies the subset it uses (NAMENODE_RELOADABLE, DATANODE_RELOADABLE, CLIENT_RELOADABLE).
 */
export const NAMENODE_RELOADABLE: readonly string[] = [
  "namenode.placementPolicy",
  "namenode.placementSeed",
  "namenode.repairInflightMax",
  "namenode.repairInflightPerNodeMax",
  "namenode.repairAttemptsMax",
  "namenode.repairTimeoutMs",
  "namenode.deadAfterMs",
  "namenode.fullReserveBytes",
  "log.level",
];
export const DATANODE_RELOADABLE: readonly string[] = ["datanode.scrubBytesPerSecond", "datanode.scrubIntervalMs", "log.level"];
export const CLIENT_RELOADABLE: readonly string[] = [
  "client.retry.maxAttempts",
  "client.retry.baseDelayMs",
  "client.retry.maxDelayMs",
  "client.retry.jitter",
  "client.retry.deadlineMs",
];
export const RELOADABLE_KEYS: readonly string[] = [...new Set([...NAMENODE_RELOADABLE, ...DATANODE_RELOADABLE, ...CLIENT_RELOADABLE])];

/** One key whose effective value differs. */
export interface ConfigChange {
  /** Dotted path, e.g. `namenode.placementPolicy`. */
  key: string;
  from: unknown;
  to: unknown;
}

type Tree = { [k: string]: unknown };

/** Every leaf key whose value differs between `a` and `b`, in key order. */
export function diffConfig(a: WoodsConfig, b: WoodsConfig): ConfigChange[] {
  const out: ConfigChange[] = [];
  const walk = (x: unknown, y: unknown, path: string[]): void => {
    const xo = x !== null && typeof x === "object" && !Array.isArray(x);
    const yo = y !== null && typeof y === "object" && !Array.isArray(y);
    if (xo && yo) {
      const keys = [...new Set([...Object.keys(x as Tree), ...Object.keys(y as Tree)])].sort();
      for (const k of keys) walk((x as Tree)[k], (y as Tree)[k], [...path, k]);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      out.push({ key: path.join("."), from: x, to: y });
    }
  };
  walk(a, b, []);
  return out;
}

/** What a reload does with the differences between the running config and the new one. */
export interface ReloadPlan {
  /** Reloadable keys that changed: applied now. */
  apply: ConfigChange[];
  /** Other changed keys this process uses: they take effect only after a restart. */
  restart: ConfigChange[];
}

/**
 * Splits the changes from `current` to `next`: keys in `reloadable` are applied, keys under one
 * of the `ignored` prefixes (another actor's section) are dropped, the rest need a restart.
 */
export function planReload(current: WoodsConfig, next: WoodsConfig, reloadable: readonly string[], ignored: readonly string[] = []): ReloadPlan {
  const plan: ReloadPlan = { apply: [], restart: [] };
  const allowed = new Set(reloadable);
  for (const c of diffConfig(current, next)) {
    if (allowed.has(c.key)) plan.apply.push(c);
    else if (!ignored.some((p) => c.key === p || c.key.startsWith(`${p}.`))) plan.restart.push(c);
  }
  return plan;
}

/** Writes the changed values into `target` in place, so every holder of the object sees them. */
export function applyChanges(target: WoodsConfig, changes: readonly ConfigChange[]): void {
  for (const c of changes) {
    const path = c.key.split(".");
    let cur = target as unknown as Tree;
    for (const k of path.slice(0, -1)) cur = cur[k] as Tree;
    cur[path[path.length - 1]] = c.to;
  }
}

/** `namenode.placementPolicy free-space → round-robin, namenode.repairInflightMax 16 → 4`. */
export function describeChanges(changes: readonly ConfigChange[]): string {
  return changes.map((c) => `${c.key} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`).join(", ");
}
