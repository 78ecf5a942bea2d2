export { configSchema, type WoodsConfig } from "./schema.js";
export { loadConfig, loadDefaults, envNames, parseSize, ConfigError } from "./load.js";
