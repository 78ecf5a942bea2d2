import { z } from "zod";

const ms = z.number().int().min(0);
const positive = z.number().int().min(1);

/** The configuration schema; `config/defaults.yaml` must satisfy it. */
export const configSchema = z
  .object({
    prefix: z.string().regex(/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/),
    nats: z
      .object({
        url: z.string().min(1),
        reconnectTimeWaitMs: ms,
        creds: z.string(),
        tls: z.object({ ca: z.string(), cert: z.string(), key: z.string() }).strict(),
      })
      .strict(),
    chunkSizeBytes: positive.max(4 * 1024 * 1024 * 1024),
    frameSizeBytes: positive.min(4096).max(8 * 1024 * 1024),
    replication: positive.max(16),
    writePath: z.enum(["direct", "staged"]),
    stagingReplicas: z.number().int().min(1).max(5),
    namenode: z
      .object({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
        deadAfterMs: positive,
        leaseMs: positive,
        placementPolicy: z.enum(["free-space", "random", "round-robin"]),
        placementSeed: z.number().int().min(0),
        fullReserveBytes: z.number().int().min(0),
        logBatchMaxEntries: positive.max(100_000),
        logPublishTimeoutMs: positive,
        logPublishRetries: z.number().int().min(0).max(100),
        logPublishDeadlineMs: z.number().int().min(0),
        logReplicas: z.number().int().min(1).max(5),
        tickIntervalMs: positive,
        orphanGraceMs: ms,
        repairInflightMax: positive.max(10_000),
        repairInflightPerNodeMax: positive.max(1_000),
        repairTimeoutMs: positive,
        repairAttemptsMax: positive.max(100),
        safeModeReportedFraction: z.number().min(0).max(1),
        safeModeExtensionMs: ms,
        safeModeMaxMs: ms,
        stagingMaxAgeMs: positive,
        repairBucketMaxBytes: positive,
        snapshotEveryEntries: z.number().int().min(0),
        snapshotIntervalMs: ms,
        snapshotsKept: positive.max(100),
        snapshotLogPurge: z.boolean(),
        appendLeaseMs: positive,
        appendKeyTtlMs: positive,
        leaderLeaseMs: positive,
        leaderRenewMs: positive,
      })
      .strict(),
    datanode: z
      .object({
        heartbeatIntervalMs: positive,
        blockSizeBytes: positive.min(512).max(16 * 1024 * 1024),
        reportPageMaxChunks: positive.max(100_000),
        writeIdleTimeoutMs: positive,
        writesInflightMax: positive,
        reserveBytes: z.number().int().min(0),
        scrubBytesPerSecond: z.number().int().min(0),
        scrubIntervalMs: positive,
        dirCheckIntervalMs: positive,
        appendBatchMaxBytes: positive.max(64 * 1024 * 1024),
        appendApplyTimeoutMs: positive,
        /**
         * Zone of this datanode ("" = none): placement spreads each chunk's replicas over zones. A zone
         * written as a number (`zone: 2`, WOODS_DATANODE_ZONE=2) is taken as its text.
         */
        zone: z.preprocess(
          (v) => (typeof v === "number" ? String(v) : v),
          z.string().regex(/^([A-Za-z0-9_-]{1,64})?$/, "must be empty or match [A-Za-z0-9_-]{1,64}"),
        ),
      })
      .strict(),
    client: z
      .object({
        writeWindowFrames: positive.max(1024),
        chunksInflightMax: positive.max(64),
        frameAckTimeoutMs: positive,
        minReplicasForCommit: positive.max(16),
        readInflightMax: positive.max(256),
        readFromAllReplicas: z.boolean(),
        requestTimeoutMs: positive,
        appendTailMaxBytes: positive.max(8 * 1024 * 1024),
        retry: z
          .object({ maxAttempts: positive.max(100), baseDelayMs: ms, maxDelayMs: ms, jitter: z.number().min(0).max(1), deadlineMs: positive })
          .strict(),
      })
      .strict(),
    log: z.object({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]) }).strict(),
  })
  .strict();

export type WoodsConfig = z.infer<typeof configSchema>;
