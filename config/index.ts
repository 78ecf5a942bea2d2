export { configSchema, type WoodsConfig } from "./schema.js";
export { loadConfig, loadDefaults, envNames, parseSize, ConfigError, configSource, type ConfigSource } from "./load.js";
export {
  NAMENODE_RELOADABLE,
  DATANODE_RELOADABLE,
  CLIENT_RELOADABLE,
  RELOADABLE_KEYS,
  diffConfig,
  planReload,
  applyChanges,
  describeChanges,
  type ConfigChange,
  type ReloadPlan,
} from "./reload.js";
export { watchConfig, tryReload, RELOAD_DEBOUNCE_MS, RELOAD_POLL_INTERVAL_MS, type ConfigWatcher, type ConfigWatchOptions, type ReloadOutcome } from "./watch.js";
