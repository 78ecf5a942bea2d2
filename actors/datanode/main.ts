/** Starts a datanode: scan the data dirs, connect, serve, heartbeat. */
import { randomUUID } from "node:crypto";
import { setSha256Backend } from "@nats-io/obj";
import { subjects } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import { createLogger } from "../logger.js";
import { connectNats } from "../connect.js";
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
import { Scrubber } from "./scrubber.js";
import { DirChecker } from "./dir-check.js";
import type { DatanodeContext } from "./context.js";

export interface DatanodeHandle {
  stop(): Promise<void>;
}

/** Runs datanode `id` on `dirs` until stop(); rejects only if no data dir is usable. */
export async function runDatanode(opts: { id: string; dirs: string[]; config: WoodsConfig }): Promise<DatanodeHandle> {
  const { id, dirs, config } = opts;
  const log = createLogger("datanode", id, config.log.level);
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
  });
  await store.init();
  const held = await store.scan();

  const nc = await connectNats({
    url: config.nats.url,
    name: `woods-datanode-${id}`,
    reconnectForever: true,
    reconnectTimeWaitMs: config.nats.reconnectTimeWaitMs,
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
  const ctx: DatanodeContext = { id, nc, subj, config, store, writes, reporter, replications: new ReplicateJobs(), log };
  ctxRef = ctx;
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
  });
  scrubber.start();
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
        service.stop();
        for (const s of subs) s.unsubscribe();
        await Promise.all([scrubber.stop(), dirChecker.stop()]);
        await writes.abortAll();
        // Reports still queued are dropped: the next start sends a full report anyway.
        await nc.drain().catch(() => nc.close());
        log.info(`${id} stopped`);
      })();
      return stopping;
    },
  };
}
