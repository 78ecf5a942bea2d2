/** Starts the namenode: connect, replay the metadata log, write a new epoch, then serve. */
import { randomUUID } from "node:crypto";
import { subjects, WoodsError, type LogEntry } from "../../messages/index.js";
import { NAMENODE_RELOADABLE, type ConfigSource, type WoodsConfig } from "../../config/index.js";
import { writeSync } from "node:fs";
import {
  ensureMetaStream,
  replayMetaLog,
  MetaLogAppender,
  sweepStaging,
  ensureRepairBucket,
  metaLogBounds,
  purgeMetaLogBefore,
  SnapshotStore,
  type MetaLogFatalError,
} from "../../jetstream/index.js";
import { connectNats, natsAuthOf } from "../connect.js";
import { createLogger } from "../logger.js";
import { publishEvent } from "../events.js";
import { NamenodeState } from "./state.js";
import { seededRng } from "./placement.js";
import type { NamenodeContext } from "./context.js";
import { serveNamenode, tick, type CrashHooks } from "./actor.js";
import { registerService, SERVICE_NAMES } from "../services.js";
import { Repairs } from "./repairs.js";
import { CrashTrigger, parseCrashSpec, type CrashPoint } from "./crash-points.js";
import { Checkpointer, loadNewestSnapshot, type SnapshotResult, type SkippedSnapshot } from "./checkpoints.js";
import { reloadSetup, startConfigReload } from "../config-reload.js";
import { registerNamenodeMetrics } from "./metrics.js";

/** Config keys that change repair limits (sent to the watchdog on a reload). */
const REPAIR_LIMIT_KEYS = new Set(["namenode.repairInflightMax", "namenode.repairInflightPerNodeMax", "namenode.repairAttemptsMax", "namenode.repairTimeoutMs"]);

/** Pause between metadata log publish attempts: long enough for a JetStream leader change to progress. */
const LOG_RETRY_DELAY_FRACTION = 0.2;
/** The staging bucket is swept this often relative to `stagingMaxAgeMs`, within the bounds below. */
const STAGING_SWEEP_FRACTION = 0.25;
const STAGING_SWEEP_MIN_MS = 1_000;
const STAGING_SWEEP_MAX_MS = 60_000;

export interface NamenodeOptions {
  config: WoodsConfig;
  /** Called when the log can no longer be written (fenced, or retries exhausted). Default: exit(1). */
  onFatal?: (err: MetaLogFatalError) => void;
  /** Clock in ms (tests); defaults to Date.now. */
  clock?: () => number;
  /** Crash point spec (crash-points.ts); defaults to env WOODS_FAULT_NAMENODE_CRASH. */
  crashSpec?: string;
  /** What a crash point does (tests); default: SIGKILL this process. */
  onCrash?: (point: CrashPoint, verb: string) => void;
  /**
   * The config file to watch for hot reload and how to load it again (default: how `config`
   * was loaded, see configSource; nothing is watched without a file). `false`: no reload.
   */
  configSource?: ConfigSource | false;
}

/** How this start rebuilt the namespace (tests and diagnostics). */
export interface StartupStats {
  /** The snapshot loaded, if any. */
  snapshot?: { name: string; logSeq: number; files: number; chunks: number; sizeBytes: number; loadMs: number };
  /** Snapshots passed over (corrupt, or not usable with the log). */
  skippedSnapshots: SkippedSnapshot[];
  /** First log sequence replayed (1 = full replay). */
  replayFromSeq: number;
  replayedEntries: number;
  replayedBatches: number;
  replayMs: number;
}

export interface NamenodeHandle {
  stop(): Promise<void>;
  /** The in-memory state (tests and diagnostics). */
  readonly state: NamenodeState;
  readonly epoch: number;
  /** Runs one watchdog round now (tests; the timer does it every tickIntervalMs). */
  tickNow(): Promise<void>;
  /** How the namespace was rebuilt at start. */
  readonly startup: StartupStats;
  /** Writes a namespace snapshot now (tests and admin; normally `namenode.snapshot*` decide). */
  snapshotNow(): Promise<SnapshotResult>;
}

/** Runs a namenode until `stop()`; resolves once it serves requests. */
export async function runNamenode(opts: NamenodeOptions): Promise<NamenodeHandle> {
  // With a file to watch the namenode runs on its own copy: a reload writes into it.
  const { config, source: reloadSource } = reloadSetup(opts.config, opts.configSource);
  const clock = opts.clock ?? Date.now;
  const id = config.namenode.id;
  const log = createLogger("namenode", id, config.log.level);
  const subj = subjects(config.prefix);
  const startedAtMs = clock();
  // Parse first: a malformed spec must fail the start, not silently disarm a fault test.
  const crashSpec = parseCrashSpec(opts.crashSpec ?? process.env.WOODS_FAULT_NAMENODE_CRASH);
  const nc = await connectNats({
    url: config.nats.url,
    name: `woods-namenode-${id}`,
    reconnectForever: true,
    reconnectTimeWaitMs: config.nats.reconnectTimeWaitMs,
    ...natsAuthOf(config.nats),
  });
  let stopped = false;
  try {
    await ensureMetaStream(nc, subj, config.namenode.logReplicas, log);
    const repairStorage = await ensureRepairBucket(nc, subj.repairBucket(), config.namenode.repairBucketMaxBytes, log);
    log.info({ bucket: subj.repairBucket(), storage: repairStorage }, `repairs pass through ${subj.repairBucket()} (${repairStorage} storage)`);

    const snapshots = await SnapshotStore.open(nc, subj.snapshotBucket(), config.namenode.logReplicas, log);
    const { loaded, skipped } = await loadNewestSnapshot(snapshots, await metaLogBounds(nc, subj), log);
    if (loaded) {
      const h = loaded.header;
      log.info(
        { snapshot: loaded.name, files: h.files, chunks: h.chunks, logSeq: h.logSeq, sizeBytes: loaded.sizeBytes, loadMs: loaded.loadMs },
        `loaded snapshot ${loaded.name} (format ${h.v}, ${h.files} files, ${h.chunks} chunks, ${h.keys ?? 0} append keys, seq ${h.logSeq}) in ${loaded.loadMs} ms`,
      );
    }

    const seed = config.namenode.placementSeed || startedAtMs;
    const state = new NamenodeState({
      config,
      clock,
      rng: seededRng(seed),
      startedAtMs,
      onChunkTransition: (chunkId, from, to, event) => log.debug({ chunkId, from, to, event }, `chunk ${chunkId} went from ${from} to ${to} on ${event}`),
      ...(loaded ? { ns: loaded.ns } : {}),
    });

    const replayStartMs = Date.now();
    const replayed = await replayMetaLog(
      nc,
      subj,
      (batch) => {
        for (const e of batch.entries) state.apply(e, false);
      },
      { fromSeq: loaded ? loaded.header.logSeq + 1 : 1 },
    );
    const replayMs = Date.now() - replayStartMs;
    log.info(
      { fromSeq: replayed.fromSeq, entries: replayed.entries, batches: replayed.batches, lastSeq: replayed.lastSeq, files: state.ns.fileCount, chunks: state.ns.chunkCount },
      `replayed ${replayed.entries} entries (${replayed.batches} batches) from seq ${replayed.fromSeq} in ${replayMs} ms`,
    );
    const startup: StartupStats = {
      ...(loaded
        ? {
            snapshot: {
              name: loaded.name,
              logSeq: loaded.header.logSeq,
              files: loaded.header.files,
              chunks: loaded.header.chunks,
              sizeBytes: loaded.sizeBytes,
              loadMs: loaded.loadMs,
            },
          }
        : {}),
      skippedSnapshots: skipped,
      replayFromSeq: replayed.fromSeq,
      replayedEntries: replayed.entries,
      replayedBatches: replayed.batches,
      replayMs,
    };
    state.leasesAfterReplay();

    const onFatal =
      opts.onFatal ??
      ((err: MetaLogFatalError) => {
        log.fatal({ err, code: err.code }, `exiting: ${err.message}`);
        process.exit(1);
      });
    const appender = new MetaLogAppender(nc, subj, {
      batchMaxEntries: config.namenode.logBatchMaxEntries,
      publishTimeoutMs: config.namenode.logPublishTimeoutMs,
      publishRetries: config.namenode.logPublishRetries,
      retryDelayMs: Math.ceil(config.namenode.logPublishTimeoutMs * LOG_RETRY_DELAY_FRACTION),
      lastSeq: replayed.lastSeq,
      onFatal: (err) => {
        log.error({ err, code: err.code }, `the metadata log failed: ${err.message}`);
        onFatal(err);
      },
      log,
    });

    const epoch = state.ns.epoch + 1;
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
        // Never change memory once the log is lost: the process is about to exit.
        if (appender.fatal) return Promise.reject(appender.fatal);
        if (stopped) return Promise.reject(new WoodsError("UNAVAILABLE", "the namenode is stopping"));
        state.apply(entry, true);
        hooks?.beforeAppend?.();
        appendedEntries++;
        return appender.append(entry);
      },
      sync: () => appender.sync(),
      event: (kind, fields) => publishEvent(nc, subj, kind, id, fields),
    };

    await ctx.logAndApply({ op: "epoch", epoch, namenodeId: id, atMs: clock() });
    log.info({ epoch, logSeq: appender.lastSeq }, `namenode ${id} took over the metadata log as epoch ${epoch}`);

    let crash: CrashHooks | undefined;
    if (crashSpec) {
      const onCrash =
        opts.onCrash ??
        ((point: CrashPoint, verb: string) => {
          // Synchronous write: the process dies before pino's async stream would flush.
          writeSync(2, `namenode ${id}: crash point ${point} reached on ${verb}; killing myself with SIGKILL\n`);
          process.kill(process.pid, "SIGKILL");
        });
      crash = { trigger: new CrashTrigger(crashSpec), crash: onCrash };
      log.warn({ crashSpec }, `crash point armed: ${crashSpec.point} on mutation #${crashSpec.nth} of ${crashSpec.verb ?? "any verb"}`);
    }

    const checkpointer = new Checkpointer({
      store: snapshots,
      ns: state.ns,
      appender,
      purge: (keepFromSeq) => purgeMetaLogBefore(nc, subj, keepFromSeq),
      config: config.namenode,
      log,
      clock,
      appliedAtLastSnapshot: loaded ? loaded.header.applied : 0,
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
      source: reloadSource ?? false,
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
    const service = await registerService(nc, { name: SERVICE_NAMES.namenode, description: `woods namenode ${id}: namespace and placement`, id, metadata: { prefix: config.prefix } });
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
      state,
      epoch,
      tickNow: runTick,
      startup,
      snapshotNow: () => checkpointer.takeNow(),
      async stop() {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        clearInterval(sweepTimer);
        reload?.stop();
        metrics.stop();
        repairs.stop();
        service.stop();
        for (const s of subs) s.unsubscribe();
        await appender.flush();
        await checkpointer.stop();
        await nc.drain().catch(() => undefined);
        log.info({}, `namenode ${id} stopped`);
      },
    };
  } catch (e) {
    stopped = true;
    await nc.close().catch(() => undefined);
    throw e;
  }
}
