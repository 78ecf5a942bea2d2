/**
 * Starts a namenode: connect, load the newest snapshot and replay the metadata log, then either take
 * the leader lease and serve (active.ts) or follow the log as a standby until the lease is free
 * (standby.ts), and take over then.
 */
import { subjects, WoodsError } from "../../messages/index.js";
import type { ConfigSource, WoodsConfig } from "../../config/index.js";
import {
  ensureMetaStream,
  replayMetaLog,
  ensureRepairBucket,
  metaLogBounds,
  SnapshotStore,
  openLeaderBucket,
  LeaderLease,
  type MetaLogFatalError,
} from "../../jetstream/index.js";
import { connectNats, natsAuthOf } from "../connect.js";
import { createLogger } from "../logger.js";
import { NamenodeState } from "./state.js";
import { seededRng } from "./placement.js";
import { parseCrashSpec, type CrashPoint } from "./crash-points.js";
import { loadNewestSnapshot, type SnapshotResult, type SkippedSnapshot } from "./checkpoints.js";
import { reloadSetup } from "../config-reload.js";
import { becomeActive, type ActivePhase } from "./active.js";
import { startStandby, type StandbyPhase } from "./standby.js";

export interface NamenodeOptions {
  config: WoodsConfig;
  /**
   * Called when this namenode can no longer write: fenced by a newer one, the lease lost, log retries
   * exhausted, or (as a standby) the log lost. Default: exit(1). `woods namenode` starts over as a standby.
   */
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
  /** Stops; an active namenode gives its leader lease up so a standby takes over at once. */
  stop(): Promise<void>;
  /** The in-memory state (tests and diagnostics). */
  readonly state: NamenodeState;
  /** The epoch this namenode writes under (0 while it is a standby). */
  readonly epoch: number;
  readonly role: "active" | "standby";
  /** Resolves once this namenode is active (at once for the active one). */
  whenActive(): Promise<void>;
  /** Runs one watchdog round now (tests; the timer does it every tickIntervalMs). Nothing on a standby. */
  tickNow(): Promise<void>;
  /** How the namespace was rebuilt at start. */
  readonly startup: StartupStats;
  /** Writes a namespace snapshot now (tests and admin; normally `namenode.snapshot*` decide). */
  snapshotNow(): Promise<SnapshotResult>;
}

/** Runs a namenode until `stop()`; resolves once it serves requests, as the active namenode or a standby. */
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
  const ensureRepairBucketSoon = async (): Promise<void> => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        const storage = await ensureRepairBucket(nc, subj.repairBucket(), config.namenode.repairBucketMaxBytes, log, config.namenode.logReplicas);
        log.info({ bucket: subj.repairBucket(), storage }, `repairs pass through ${subj.repairBucket()} (${storage} storage)`);
        return;
      } catch (err) {
        log.warn({ err, attempt }, `the repair bucket ${subj.repairBucket()} is not reachable yet (${(err as Error).message}); repairs wait for it`);
        await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * attempt)));
      }
    }
  };
  try {
    await ensureMetaStream(nc, subj, config.namenode.logReplicas, log);
    // In the background: the namenode must start while the server holding the bucket is away (repairs wait).
    void ensureRepairBucketSoon();
    const lease = new LeaderLease(
      await openLeaderBucket(nc, subj, { replicas: config.namenode.logReplicas, leaseMs: config.namenode.leaderLeaseMs }),
      id,
      config.namenode.leaderLeaseMs,
    );

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
    const onChunkTransition = (chunkId: string, from: string, to: string, event: string) =>
      log.debug({ chunkId, from, to, event }, `chunk ${chunkId} went from ${from} to ${to} on ${event}`);
    let state = new NamenodeState({ config, clock, rng: seededRng(seed), startedAtMs, onChunkTransition, ...(loaded ? { ns: loaded.ns } : {}) });

    log.info({ fromSeq: loaded ? loaded.header.logSeq + 1 : 1 }, `replaying the metadata log from seq ${loaded ? loaded.header.logSeq + 1 : 1}`);
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

    const onFatal =
      opts.onFatal ??
      ((err: MetaLogFatalError) => {
        log.fatal({ err, code: err.code }, `exiting: ${err.message}`);
        process.exit(1);
      });
    const activate = (lastSeq: number): Promise<ActivePhase> =>
      becomeActive({
        nc,
        subj,
        config,
        reloadSource,
        log,
        clock,
        state,
        lastSeq,
        snapshots,
        appliedAtLastSnapshot: loaded ? loaded.header.applied : 0,
        lease,
        crashSpec,
        ...(opts.onCrash ? { onCrash: opts.onCrash } : {}),
        onFatal,
      });

    let active: ActivePhase | undefined;
    let standby: StandbyPhase | undefined;
    let becameActive: Promise<void>;
    if (await lease.tryAcquire()) {
      active = await activate(replayed.lastSeq);
      becameActive = Promise.resolve();
    } else {
      const holder = await lease.holder().catch(() => undefined);
      log.info({ holder: holder?.id, epoch: holder?.epoch }, `namenode ${holder?.id ?? "?"} holds the leader lease: ${id} starts as a standby`);
      standby = await startStandby({ nc, subj, config, log, clock, state, lease, lastSeq: replayed.lastSeq });
      becameActive = standby.won.then(async ({ lastSeq }) => {
        standby = undefined;
        if (stopped) return;
        // The namespace followed the log and carries over; datanodes register again and send full reports,
        // exactly as after a restart (safe mode until they have), so no replica the standby missed is lost
        // from view. The standby's warm map served reads while it followed.
        state = new NamenodeState({ config, clock, rng: seededRng(seed), startedAtMs: clock(), onChunkTransition, ns: state.ns, recentlyCompleted: state.recentlyCompleted });
        active = await activate(lastSeq);
        if (stopped) await active.stop({ release: true });
      });
      becameActive.catch((err: Error) => {
        if (stopped) return;
        log.error({ err }, `namenode ${id} cannot go on as a standby or take over: ${err.message}`);
        onFatal(err as MetaLogFatalError);
      });
    }

    return {
      get state() {
        return state;
      },
      get epoch() {
        return active?.epoch ?? 0;
      },
      get role() {
        return active ? ("active" as const) : ("standby" as const);
      },
      whenActive: () => becameActive,
      tickNow: () => active?.tickNow() ?? Promise.resolve(),
      startup,
      snapshotNow: () => (active ? active.snapshotNow() : Promise.reject(new WoodsError("UNAVAILABLE", `namenode ${id} is a standby`))),
      async stop() {
        if (stopped) return;
        stopped = true;
        await standby?.stop();
        await active?.stop({ release: true });
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
