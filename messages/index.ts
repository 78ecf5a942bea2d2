export * from "./subjects.js";
export * from "./errors.js";
export * from "./paths.js";
export * from "./schemas.js";
export * from "./codec.js";
export * from "./frames.js";
export * from "./crc32-combine.js";
export * from "./log-entries.js";
export { MAX_DECODE_DEPTH, checkMsgpack, checkJsonDepth } from "./decode-limits.js";
