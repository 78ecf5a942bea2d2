/**
 * Hot reload of a process's config file: watch the file, load it again the way it was loaded at
 * start (defaults ← file ← environment ← flags, so the environment and flags still win),
 * validate, and hand the reloadable changes to the process. A file that does not load (bad
 * YAML, a bad value, gone) is reported once and the running config stays.
 *
 * fs.watch on the file's directory (editors often write a new file and rename it over the old
 * one, which a watch on the file itself would lose) plus a slow stat poll for file systems where
 * fs.watch says nothing (network mounts, some containers); events are debounced, and a reload
 * whose file bytes did not change does nothing.
 */
import { watch as fsWatch, watchFile, unwatchFile, readFileSync, type FSWatcher } from "node:fs";
import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import { loadConfig, configSource, type ConfigSource } from "./load.js";
import type { WoodsConfig } from "./schema.js";
import { applyChanges, describeChanges, planReload, type ConfigChange } from "./reload.js";

/** Quiet time after the last file event before reloading: an editor's save is several events. */
export const RELOAD_DEBOUNCE_MS = 200;
/** Stat poll of the file, for where fs.watch is silent. */
export const RELOAD_POLL_INTERVAL_MS = 2_000;

/** The slice of a pino logger the watcher uses (config/ does not import actors/). */
export interface ReloadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ConfigWatchOptions {
  /** The running config: reloadable changes are written into it in place. */
  config: WoodsConfig;
  /** How it was loaded (default: `configSource(config)`); without a file there is nothing to watch. */
  source?: ConfigSource;
  /** Keys applied without a restart. */
  reloadable: readonly string[];
  /** Key prefixes this process does not use (no restart warning for them). */
  ignored?: readonly string[];
  /** Called after the changes were written into `config` (reconfigure what copied values at start). */
  onApplied?: (changes: ConfigChange[]) => void;
  log: ReloadLog;
  /** Who reloads, for log lines (`namenode nn1`). */
  who: string;
  debounceMs?: number;
  pollIntervalMs?: number;
}

/** The outcome of one reload attempt. */
export type ReloadOutcome =
  | { kind: "unchanged" }
  | { kind: "rejected"; error: string }
  | { kind: "applied"; applied: ConfigChange[]; restart: ConfigChange[] };

export interface ConfigWatcher {
  readonly file: string;
  /** Reloads now (also what a file event does after the debounce). */
  reloadNow(): ReloadOutcome;
  stop(): void;
}

/**
 * Loads `file` again as `source` says and plans the reload against `current`. PURE apart from
 * reading the file; does not change `current`.
 */
export function tryReload(
  current: WoodsConfig,
  source: ConfigSource,
  reloadable: readonly string[],
  ignored: readonly string[] = [],
): { ok: true; next: WoodsConfig; applied: ConfigChange[]; restart: ConfigChange[] } | { ok: false; error: string } {
  let next: WoodsConfig;
  try {
    next = loadConfig({ file: source.file, env: source.env, overrides: source.overrides });
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  const plan = planReload(current, next, reloadable, ignored);
  return { ok: true, next, applied: plan.apply, restart: plan.restart };
}

/**
 * Watches the file `config` was loaded from; returns undefined when it was loaded without one.
 * Changes are applied only between events of the process (never in the middle of a handler).
 */
export function watchConfig(opts: ConfigWatchOptions): ConfigWatcher | undefined {
  const source = opts.source ?? configSource(opts.config);
  const file = source?.file;
  if (!source || !file) return undefined;
  const { log, who } = opts;
  const debounceMs = opts.debounceMs ?? RELOAD_DEBOUNCE_MS;
  const pollIntervalMs = opts.pollIntervalMs ?? RELOAD_POLL_INTERVAL_MS;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // The bytes last handled (loaded or rejected): the same bytes again are not reloaded nor re-reported.
  let lastDigest = digest(file);
  const restartNoted = new Map<string, string>();

  const reloadNow = (): ReloadOutcome => {
    const d = digest(file);
    if (d === lastDigest) return { kind: "unchanged" };
    lastDigest = d;
    const r = tryReload(opts.config, source, opts.reloadable, opts.ignored);
    if (!r.ok) {
      log.error({ file, err: r.error }, `${who} kept its running config: ${file} changed but does not load: ${r.error}`);
      return { kind: "rejected", error: r.error };
    }
    if (r.applied.length > 0) {
      applyChanges(opts.config, r.applied);
      log.info(
        { file, changed: Object.fromEntries(r.applied.map((c) => [c.key, { from: c.from, to: c.to }])) },
        `${who} reloaded ${file}: ${describeChanges(r.applied)}`,
      );
      opts.onApplied?.(r.applied);
    }
    // Warn once per key and value: later edits of other keys do not repeat it.
    const fresh = r.restart.filter((c) => restartNoted.get(c.key) !== JSON.stringify(c.to));
    for (const c of r.restart) restartNoted.set(c.key, JSON.stringify(c.to));
    if (fresh.length > 0) {
      log.warn(
        { file, restart: fresh.map((c) => c.key) },
        `${who} needs a restart to use ${describeChanges(fresh)} (changed in ${file}; not reloadable, the running values stay)`,
      );
    }
    if (r.applied.length === 0 && fresh.length === 0) log.debug({ file }, `${who}: ${file} changed, nothing to apply`);
    return { kind: "applied", applied: r.applied, restart: r.restart };
  };

  const poke = (): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      try {
        reloadNow();
      } catch (e) {
        // A hook that throws must not take the process down: the config object already holds the values.
        log.error({ file, err: e }, `${who}: applying a reload of ${file} failed: ${(e as Error).message}`);
      }
    }, debounceMs);
    timer.unref();
  };

  let dirWatcher: FSWatcher | undefined;
  try {
    const name = basename(file);
    dirWatcher = fsWatch(dirname(file), { persistent: false }, (_event, changed) => {
      // Some platforms give no name; then any change in the dir may be ours.
      if (!changed || changed.toString() === name) poke();
    });
    dirWatcher.on("error", (e) => log.warn({ file, err: e }, `${who}: watching ${dirname(file)} failed (${e.message}); polling ${file} only`));
  } catch (e) {
    log.warn({ file, err: e }, `${who}: cannot watch ${dirname(file)} (${(e as Error).message}); polling ${file} only`);
  }
  const onStat = (): void => poke();
  watchFile(file, { persistent: false, interval: pollIntervalMs }, onStat);
  log.info({ file, reloadable: opts.reloadable }, `${who} reloads ${opts.reloadable.join(", ")} when ${file} changes`);

  return {
    file,
    reloadNow,
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      dirWatcher?.close();
      unwatchFile(file, onStat);
    },
  };
}

/** SHA-256 of the file's bytes, or a marker when it cannot be read (a missing file is a change too). */
function digest(file: string): string {
  try {
    return createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch (e) {
    return `unreadable:${(e as NodeJS.ErrnoException).code ?? "?"}`;
  }
}
