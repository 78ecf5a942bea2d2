/**
 * Hot reload for an actor process: watches the config file it was started with (`--config FILE`
 * or `$WOODS_CONFIG`) and applies the keys the actor can change while running. The values are
 * written into the actor's config object in place (code that reads `config.x.y` at each use sees
 * them at once); `onApplied` reconfigures what copied a value at start. `log.level` is handled
 * here for every actor.
 */
import { configSource, watchConfig, type ConfigChange, type ConfigSource, type ConfigWatcher, type WoodsConfig } from "../config/index.js";
import type { Logger } from "./logger.js";

export interface ActorReloadOptions {
  config: WoodsConfig;
  /** How the config was loaded; default `configSource(config)`. `false` turns reloading off. */
  source?: ConfigSource | false;
  log: Logger;
  /** `namenode nn1`, `datanode dn2`: who logs the reload. */
  who: string;
  reloadable: readonly string[];
  /** Sections this actor does not use: their changes are not reported as needing a restart. */
  ignored: readonly string[];
  onApplied?: (changes: ConfigChange[]) => void;
}

/**
 * Which source to watch and which config object to run with: a copy when there is a file to
 * watch, so that reloading one actor never changes another that shares the object in-process.
 */
export function reloadSetup(config: WoodsConfig, source: ConfigSource | false | undefined): { config: WoodsConfig; source: ConfigSource | undefined } {
  const s = source === false ? undefined : (source ?? configSource(config));
  return s?.file ? { config: structuredClone(config), source: s } : { config, source: undefined };
}

/** Starts watching; returns undefined when the actor was started without a config file. */
export function startConfigReload(opts: ActorReloadOptions): ConfigWatcher | undefined {
  const source = opts.source === false ? undefined : (opts.source ?? configSource(opts.config));
  if (!source?.file) return undefined;
  return watchConfig({
    config: opts.config,
    source,
    reloadable: opts.reloadable,
    ignored: opts.ignored,
    log: opts.log,
    who: opts.who,
    onApplied: (changes) => {
      if (changes.some((c) => c.key === "log.level")) opts.log.level = opts.config.log.level;
      opts.onApplied?.(changes);
    },
  });
}
