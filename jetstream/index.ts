/** The JetStream layer: the namenode's metadata log. Never imports actors/. */
export {
  ensureMetaStream,
  replayMetaLog,
  replayMetaLogDirect,
  MetaLogAppender,
  MetaLogFatalError,
  type AppenderOptions,
  type ReplayResult,
  type LogSink,
} from "./metalog.js";
export { sweepStaging, ensureRepairBucket, type StagingSweepResult } from "./staging.js";
