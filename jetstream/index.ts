/** The JetStream layer: the namenode's metadata log. Never imports actors/. */
export {
  ensureMetaStream,
  replayMetaLog,
  replayMetaLogDirect,
  metaLogBounds,
  purgeMetaLogBefore,
  type MetaLogBounds,
  MetaLogAppender,
  MetaLogFatalError,
  type AppenderOptions,
  type ReplayResult,
  type LogSink,
} from "./metalog.js";
export { sweepStaging, ensureRepairBucket, type StagingSweepResult } from "./staging.js";
export { SnapshotStore, snapshotName, SNAPSHOT_READ_IDLE_TIMEOUT_MS, type SnapshotObject } from "./snapshots.js";
export { openLeaderBucket, readLeader, LeaderLease, type LeaderRecord, type LeaderView } from "./leader.js";
export { tailMetaLog, claimMetaLog, type MetaLogTail } from "./metalog-tail.js";
