/** Starts a datanode: scan the data dirs, connect, serve, heartbeat. */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { setSha256Backend } from "@nats-io/obj";
import { subjects } from "../../messages/index.js";
import { DATANODE_RELOADABLE, type ConfigSource, type WoodsConfig } from "../../config/index.js";
import { createLogger } from "../logger.js";
import { connectNats, natsAuthOf } from "../connect.js";
import { publishEvent } from "../events.js";
import { ChunkStore } from "./store.js";
import { ActiveWrites } from "./writes.js";
import { Reporter } from "./reports.js";
import { Heartbeat } from "./heartbeat.js";
import { LoadSampler } from "./load-sampler.js";
import { serveDatanode } from "./actor.js";
import { registerService, SERVICE_NAMES } from "../services.js";
import { announceCorrupt, announceDirFailed } from "./announce.js";
import { ReplicateJobs } from "./handlers/replicate.js";
import { NamenodeFence } from "./namenode-epoch.js";
import { Scrubber } from "./scrubber.js";
import { DirChecker } from "./dir-check.js";
import type { DatanodeContext } from "./context.js";
import { AppendStore } from "./append-store.js";
import { AppendDeltas } from "./append-deltas.js";
import { AppendPrimary } from "./append-primary.js";
import { applyAppend } from "./handlers/append-apply.js";
import { call } from "../rpc.js";
import { WoodsError } from "../../messages/index.js";
import { reloadSetup, startConfigReload } from "../config-reload.js";
import { datanodeMetrics } from "./metrics.js";

export interface DatanodeHandle {
  stop(): Promise<void>;
}

export interface DatanodeOptions {
  id: string;
  dirs: string[];
  config: WoodsConfig;
  /**
   * The config file to watch for hot reload and how to load it again (default: how `config`
   * was loaded, see configSource; nothing is watched without a file). `false`: no reload.
   */
  configSource?: ConfigSource | false;
}

/** Runs datanode `id` on `dirs` until stop(); rejects only if no data dir is usable. */
export async function runDatanode(opts: DatanodeOptions): Promise<DatanodeHandle> {
  const { id, dirs } = opts;
  // With a file to watch the datanode runs on its own copy: a reload writes into it.
  const { config, source: reloadSource } = reloadSetup(opts.config, opts.configSource);
  const log = createLogger("datanode", id, config.log.level);
  const metrics = datanodeMetrics(id);
  // Object Store's default pure-JS SHA-256 is several times slower than node:crypto (FACTS.md).
  setSha256Backend("native");
  const subj = subjects(config.prefix);
  let ctxRef: DatanodeContext | undefined;
  const store = new ChunkStore({
    dirs,
    blockSizeBytes: config.datanode.blockSizeBytes,
    reserveBytes: config.datanode.reserveBytes,
    readMaxBytes: config.frameSizeBytes,
    log,
    // Before the context exists (the startup scan) the full report carries what was found.
    onCorrupt: (c, reason) => {
      if (ctxRef) announceCorrupt(ctxRef, c, reason);
    },
    onDirFailed: (dir, reason, lost) => {
      if (ctxRef) announceDirFailed(ctxRef, dir, reason, lost);
    },
    onBytes: (io, n) => metrics.bytes(io, n),
  });
  await store.init();
  const held = await store.scan();
  // The highest namenode epoch seen before a restart still fences older namenodes' orders.
  const fence = await NamenodeFence.load({ dirs: () => store.dirStates().filter((d) => !d.failed).map((d) => d.path), log });
  let deltasRef: AppendDeltas | undefined;
  // A change before the reporter exists cannot happen: appends arrive only once serving.
  const appends = new AppendStore({ store, log, onChange: (change) => deltasRef?.note(change) });

  const nc = await connectNats({
    url: config.nats.url,
    name: `woods-datanode-${id}`,
    reconnectForever: true,
    reconnectTimeWaitMs: config.nats.reconnectTimeWaitMs,
    ...natsAuthOf(config.nats),
  });
  const reporter = new Reporter({
    id,
    nc,
    subj,
    log,
    pageMaxChunks: config.datanode.reportPageMaxChunks,
    requestTimeoutMs: config.client.requestTimeoutMs,
    snapshot: () => store.list().map((c) => ({ id: c.chunkId, version: c.version, sizeBytes: c.sizeBytes })),
    corruptSnapshot: () => store.listCorrupt().map((c) => ({ id: c.chunkId, version: c.version, reason: c.reason })),
    newReportId: () => `${id}-${randomUUID()}`,
  });
  const writes = new ActiveWrites({
    maxInflight: config.datanode.writesInflightMax,
    idleTimeoutMs: config.datanode.writeIdleTimeoutMs,
    log,
    nodeId: id,
  });
  deltasRef = new AppendDeltas(reporter);
  const primary = new AppendPrimary(
    {
      id,
      log,
      now: Date.now,
      sleep: (ms) => sleep(ms),
      // On this node's own subjects (`<prefix>.namenode.dn.<id>.<verb>`): the only ones its NATS user may publish.
      namenode: (verb, body, timeoutMs) => call(nc, subj.fromDatanode(id, verb), body, timeoutMs),
      // The primary's own copy goes through the same function as a replica's, not over NATS.
      apply: (dn, req, timeoutMs) =>
        dn === id ? withTimeout(applyAppend(ctx, req), timeoutMs, `appendApply on ${id}'s own copy of chunk ${req.chunkId}`) : call(nc, subj.datanode(dn, "appendApply"), req, timeoutMs),
    },
    {
      batchMaxBytes: config.datanode.appendBatchMaxBytes,
      // Read at each use: the server's limit is learned again on every reconnect.
      get payloadMaxBytes() {
        return nc.info?.max_payload ?? 1024 * 1024;
      },
      applyTimeoutMs: config.datanode.appendApplyTimeoutMs,
      requestTimeoutMs: config.client.requestTimeoutMs,
      minReplicasForCommit: config.client.minReplicasForCommit,
    },
  );
  const ctx: DatanodeContext = { id, nc, subj, config, store, writes, reporter, replications: new ReplicateJobs(), fence, appends, primary, log };
  ctxRef = ctx;
  primary.start();
  // Registered before serving: the verbs become endpoints of this service ($SRV.INFO / $SRV.STATS).
  const service = await registerService(nc, {
    name: SERVICE_NAMES.datanode,
    description: `woods datanode ${id}: stores chunk replicas`,
    id,
    metadata: { prefix: config.prefix },
  });
  const subs = serveDatanode(ctx);
  // Resolve only once the server has our subscriptions: callers may send requests right away.
  await nc.flush();
  const heartbeat = new Heartbeat(ctx, new LoadSampler(), Date.now());
  heartbeat.start();
  for (const c of store.listCorrupt()) {
    publishEvent(nc, subj, "chunk.corrupt", id, { dn: id, chunkId: c.chunkId, version: c.version, reason: c.reason, atStartup: true });
  }
  for (const d of store.dirStates().filter((x) => x.failed)) {
    publishEvent(nc, subj, "datanode.dir.failed", id, { dn: id, dir: d.path, reason: "unusable at startup", chunks: 0 });
  }
  const scrubber = new Scrubber({
    store,
    log,
    bytesPerSecond: config.datanode.scrubBytesPerSecond,
    intervalMs: config.datanode.scrubIntervalMs,
    maxSliceBytes: config.frameSizeBytes,
    blockSizeBytes: config.datanode.blockSizeBytes,
    onBytes: (n) => metrics.scrubbed(n),
  });
  scrubber.start();
  metrics.observe({ id, chunkCount: () => store.chunkCount, usage: () => store.usage(), activeWrites: () => writes.size });
  const reload = startConfigReload({
    config,
    source: reloadSource ?? false,
    log,
    who: `datanode ${id}`,
    reloadable: DATANODE_RELOADABLE,
    // Keys only the namenode and clients use (the datanode reads client.requestTimeoutMs, minReplicasForCommit and writeWindowFrames).
    ignored: ["namenode", "writePath", "replication", "client.retry", "client.chunksInflightMax", "client.frameAckTimeoutMs", "client.readInflightMax", "client.appendTailMaxBytes"],
    onApplied: (changes) => {
      if (changes.some((c) => c.key.startsWith("datanode.scrub"))) scrubber.reconfigure(config.datanode.scrubBytesPerSecond, config.datanode.scrubIntervalMs);
    },
  });
  const dirChecker = new DirChecker({ store, intervalMs: config.datanode.dirCheckIntervalMs, log });
  dirChecker.start();

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "reconnect") {
        log.info(`${id} reconnected to NATS; a full report will follow`);
        reporter.invalidate();
      } else if (s.type === "disconnect") {
        log.warn(`${id} lost its NATS connection; reconnecting`);
      }
    }
  })().catch(() => undefined);

  log.info({ chunks: held.length, dirs }, `${id} started with ${held.length} chunks in ${dirs.join(", ")}`);

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        heartbeat.stop();
        reload?.stop();
        metrics.stop();
        service.stop();
        for (const s of subs) s.unsubscribe();
        await Promise.all([scrubber.stop(), dirChecker.stop(), primary.stop()]);
        await writes.abortAll();
        // Reports still queued are dropped: the next start sends a full report anyway.
        await nc.drain().catch(() => nc.close());
        log.info(`${id} stopped`);
      })();
      return stopping;
    },
  };
}

/** Rejects with TIMEOUT when `work` has not settled after `timeoutMs` (the work itself goes on). */
function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WoodsError("TIMEOUT", `${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
