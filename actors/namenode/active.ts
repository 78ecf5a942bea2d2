/**
 * The active namenode: claims the metadata log with a new epoch, then serves every verb, runs the
 * watchdog, checkpoints, sweeps staging and renews its leader lease. It stops being active when the
 * log fences it or the lease is lost (`onFatal`), or on `stop()`.
 */
import { randomUUID } from "node:crypto";
import { writeSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { WoodsError, type LogEntry, type Subjects } from "../../messages/index.js";
import { NAMENODE_RELOADABLE, type ConfigSource, type WoodsConfig } from "../../config/index.js";
import {
  MetaLogAppender,
  MetaLogFatalError,
  claimMetaLog,
  sweepStaging,
  purgeMetaLogBefore,
  type LeaderLease,
  type SnapshotStore,
} from "../../jetstream/index.js";
import type { Logger } from "../logger.js";
import { publishEvent } from "../events.js";
import type { NamenodeState } from "./state.js";
import { seededRng } from "./placement.js";
import type { NamenodeContext } from "./context.js";
import { serveNamenode, tick, type CrashHooks } from "./actor.js";
import { registerService, SERVICE_NAMES } from "../services.js";
import { Repairs } from "./repairs.js";
import { CrashTrigger, type CrashPoint, type CrashSpec } from "./crash-points.js";
import { Checkpointer, type SnapshotResult } from "./checkpoints.js";
import { startConfigReload } from "../config-reload.js";
import { registerNamenodeMetrics } from "./metrics.js";

/** Config keys that change repair limits (sent to the watchdog on a reload). */
const REPAIR_LIMIT_KEYS = new Set(["namenode.repairInflightMax", "namenode.repairInflightPerNodeMax", "namenode.repairAttemptsMax", "namenode.repairTimeoutMs"]);
/** Pause between metadata log publish attempts: long enough for a JetStream leader change to progress. */
const LOG_RETRY_DELAY_FRACTION = 0.2;
/** The staging bucket is swept this often relative to `stagingMaxAgeMs`, within the bounds below. */
const STAGING_SWEEP_FRACTION = 0.25;
const STAGING_SWEEP_MIN_MS = 1_000;
const STAGING_SWEEP_MAX_MS = 60_000;
/**
 * Metadata log batches in flight at once. One publish round trip per batch was the ceiling of metadata
 * writes (the stream's fsyncs sat idle between round trips); a few in flight keep it busy.
 */
const LOG_PIPELINE_DEPTH = 4;
/** Attempts at appending the epoch entry while the previous writer may still slip batches in. */
const CLAIM_ATTEMPTS = 20;

export interface ActiveDeps {
  nc: NatsConnection;
  subj: Subjects;
  config: WoodsConfig;
  reloadSource: ConfigSource | false | undefined;
  log: Logger;
  clock: () => number;
  state: NamenodeState;
  /** Log sequence the state covers. */
  lastSeq: number;
  snapshots: SnapshotStore;
  /** Entries applied when the loaded snapshot was taken (0 without one). */
  appliedAtLastSnapshot: number;
  lease: LeaderLease;
  crashSpec: CrashSpec | undefined;
  onCrash?: (point: CrashPoint, verb: string) => void;
  /** Called once when this namenode can no longer write: the log fenced it or failed, or the lease was lost. */
  onFatal: (err: MetaLogFatalError) => void;
}

export interface ActivePhase {
  readonly epoch: number;
  readonly logSeq: number;
  tickNow(): Promise<void>;
  snapshotNow(): Promise<SnapshotResult>;
  /** Stops serving; `release` gives the leader lease up so a standby takes over at once. */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/** Claims the log and starts serving. */
export async function becomeActive(d: ActiveDeps): Promise<ActivePhase> {
  const { nc, subj, config, log, clock, state } = d;
  const id = config.namenode.id;
  let stopped = false;
  let fatal: MetaLogFatalError | undefined;

  // The epoch entry is the first batch of this writer: whatever the previous one appended before it is
  // replayed first, and anything it tries after it is refused by the stream (expected last sequence).
  let epochEntry: LogEntry | undefined;
  const claimedSeq = await claimMetaLog(
    nc,
    subj,
    d.lastSeq,
    () => (epochEntry = { op: "epoch", epoch: state.ns.epoch + 1, namenodeId: id, atMs: clock() }),
    (batch) => {
      for (const e of batch.entries) state.apply(e, false);
    },
    { timeoutMs: config.namenode.logPublishTimeoutMs, attempts: CLAIM_ATTEMPTS, log },
  );
  state.apply(epochEntry!, true);
  const epoch = state.ns.epoch;
  state.leasesAfterReplay();
  log.info({ epoch, logSeq: claimedSeq }, `namenode ${id} took over the metadata log as epoch ${epoch}`);

  const failed = (err: MetaLogFatalError): void => {
    if (fatal) return;
    fatal = err;
    d.onFatal(err);
  };
  const appender = new MetaLogAppender(nc, subj, {
    batchMaxEntries: config.namenode.logBatchMaxEntries,
    publishTimeoutMs: config.namenode.logPublishTimeoutMs,
    publishRetries: config.namenode.logPublishRetries,
    publishDeadlineMs: config.namenode.logPublishDeadlineMs,
    pipelineDepth: LOG_PIPELINE_DEPTH,
    retryDelayMs: Math.ceil(config.namenode.logPublishTimeoutMs * LOG_RETRY_DELAY_FRACTION),
    lastSeq: claimedSeq,
    onFatal: (err) => {
      log.error({ err, code: err.code }, `the metadata log failed: ${err.message}`);
      failed(err);
    },
    log,
  });

  // Entries handed to the appender by this run (the metadata log lag is this minus those acknowledged).
  let appendedEntries = 0;
  const ctx: NamenodeContext = {
    config,
    log,
    clock,
    state,
    epoch: () => epoch,
    logSeq: () => appender.lastSeq,
    newId: () => randomUUID().replaceAll("-", ""),
    logAndApply(entry: LogEntry, hooks?: { beforeAppend?: () => void }): Promise<number> {
      // Never change memory once the log is lost: this namenode is about to step down.
      if (appender.fatal) return Promise.reject(appender.fatal);
      if (fatal) return Promise.reject(fatal);
      if (stopped) return Promise.reject(new WoodsError("UNAVAILABLE", "the namenode is stopping"));
      state.apply(entry, true);
      hooks?.beforeAppend?.();
      appendedEntries++;
      return appender.append(entry);
    },
    sync: () => appender.sync(),
    event: (kind, fields) => publishEvent(nc, subj, kind, id, fields),
  };

  let crash: CrashHooks | undefined;
  if (d.crashSpec) {
    const onCrash =
      d.onCrash ??
      ((point: CrashPoint, verb: string) => {
        // Synchronous write: the process dies before pino's async stream would flush.
        writeSync(2, `namenode ${id}: crash point ${point} reached on ${verb}; killing myself with SIGKILL\n`);
        process.kill(process.pid, "SIGKILL");
      });
    crash = { trigger: new CrashTrigger(d.crashSpec), crash: onCrash };
    log.warn({ crashSpec: d.crashSpec }, `crash point armed: ${d.crashSpec.point} on mutation #${d.crashSpec.nth} of ${d.crashSpec.verb ?? "any verb"}`);
  }

  const checkpointer = new Checkpointer({
    store: d.snapshots,
    ns: state.ns,
    appender,
    purge: (keepFromSeq) => purgeMetaLogBefore(nc, subj, keepFromSeq),
    config: config.namenode,
    log,
    clock,
    appliedAtLastSnapshot: d.appliedAtLastSnapshot,
  });

  const repairs = new Repairs(nc, subj, ctx);
  const metrics = registerNamenodeMetrics({
    state,
    watchdog: () => repairs.stats(),
    logSeq: () => appender.lastSeq,
    logLag: () => Math.max(0, appendedEntries - appender.stats.entries),
  });
  const reload = startConfigReload({
    config,
    source: d.reloadSource ?? false,
    log,
    who: `namenode ${id}`,
    reloadable: NAMENODE_RELOADABLE,
    // Keys only datanodes and clients use (the namenode reads client.appendTailMaxBytes).
    ignored: ["datanode", "writePath", "client.retry", "client.writeWindowFrames", "client.chunksInflightMax", "client.frameAckTimeoutMs", "client.minReplicasForCommit", "client.readInflightMax", "client.requestTimeoutMs"],
    onApplied: (changes) => {
      const keys = new Set(changes.map((c) => c.key));
      if (keys.has("namenode.placementPolicy") || keys.has("namenode.placementSeed")) {
        // A new seed restarts the random sequence (0 = from the clock, as at start).
        const rng = keys.has("namenode.placementSeed") ? seededRng(config.namenode.placementSeed || clock()) : undefined;
        state.placement.reconfigure(config.namenode.placementPolicy, rng);
      }
      if ([...keys].some((k) => REPAIR_LIMIT_KEYS.has(k))) repairs.reconfigure();
      // deadAfterMs and fullReserveBytes are read from the config at each use (state.ts).
    },
  });
  // Every serve() on nc from here on is an endpoint of this NATS service ($SRV.INFO / $SRV.STATS).
  const service = await registerService(nc, { name: SERVICE_NAMES.namenode, description: `woods namenode ${id}: namespace and placement`, id, metadata: { prefix: config.prefix, role: "active" } });
  const subs = serveNamenode(nc, subj, ctx, crash);
  // Resolve only once the server has our subscriptions: callers may send requests right away.
  await nc.flush();
  let ticking: Promise<void> | undefined;
  const runTick = (): Promise<void> => {
    if (ticking) return ticking;
    ticking = tick(ctx)
      .then(() => repairs.tick())
      .catch((err) => log.error({ err }, `tick failed: ${err.message}`))
      .finally(() => (ticking = undefined));
    return ticking;
  };
  const timer = setInterval(() => {
    void runTick();
    checkpointer.maybeTake();
  }, config.namenode.tickIntervalMs);
  // A fresh empty namespace leaves safe mode at once.
  void runTick();

  // The lease: renewed while this namenode serves; once lost, a standby may be writing already.
  let renewing = false;
  const renewTimer = setInterval(() => {
    if (renewing || stopped || fatal) return;
    renewing = true;
    d.lease
      .renew(epoch)
      .then((held) => {
        if (held || stopped) return;
        log.error({ epoch }, `namenode ${id} lost its leader lease: stepping down`);
        failed(new MetaLogFatalError("FENCED", `namenode ${id} (epoch ${epoch}) lost its leader lease`));
      })
      .finally(() => (renewing = false));
  }, config.namenode.leaderRenewMs);
  void d.lease.renew(epoch);

  const sweepEveryMs = Math.min(STAGING_SWEEP_MAX_MS, Math.max(STAGING_SWEEP_MIN_MS, Math.round(config.namenode.stagingMaxAgeMs * STAGING_SWEEP_FRACTION)));
  let sweeping = false;
  const sweepTimer = setInterval(() => {
    if (sweeping || stopped) return;
    sweeping = true;
    Promise.all([
      sweepStaging(nc, subj.stagingBucket(), config.namenode.stagingMaxAgeMs, Date.now(), log),
      sweepStaging(nc, subj.repairBucket(), config.namenode.stagingMaxAgeMs, Date.now(), log),
    ])
      .catch((err) => log.warn({ err }, `staging sweep failed: ${err.message}`))
      .finally(() => (sweeping = false));
  }, sweepEveryMs);
  ctx.event("namenode.started", { id, epoch, logSeq: appender.lastSeq, files: state.ns.fileCount });
  log.info({ subject: subj.namenodeAll() }, `namenode ${id} serves ${subj.namenodeAll()}`);

  return {
    epoch,
    get logSeq() {
      return appender.lastSeq;
    },
    tickNow: runTick,
    snapshotNow: () => checkpointer.takeNow(),
    async stop(opts = {}) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      clearInterval(sweepTimer);
      clearInterval(renewTimer);
      reload?.stop();
      metrics.stop();
      repairs.stop();
      service.stop();
      for (const s of subs) s.unsubscribe();
      await appender.flush();
      await checkpointer.stop();
      appender.close();
      if (opts.release && !fatal) {
        await d.lease.release();
        log.info({ epoch }, `namenode ${id} gave the leader lease up: a standby takes over at its next campaign`);
      }
    },
  };
}
