/** Starts a datanode: scan the data dirs, connect, serve, heartbeat. */
import { randomUUID } from "node:crypto";
import { setSha256Backend } from "@nats-io/obj";
import { subjects } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import { createLogger } from "../logger.js";
import { connectNats } from "../connect.js";
import { ChunkStore } from "./store.js";
import { ActiveWrites } from "./writes.js";
import { Reporter } from "./reports.js";
import { Heartbeat } from "./heartbeat.js";
import { LoadSampler } from "./load-sampler.js";
import { serveDatanode } from "./actor.js";
import { announceRemoved } from "./announce.js";
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
    onCorrupt: (c, reason) => {
      if (ctxRef) announceRemoved(ctxRef, [{ chunkId: c.chunkId, version: c.version }], `corrupt: ${reason}`);
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
    newReportId: () => `${id}-${randomUUID()}`,
  });
  const writes = new ActiveWrites({
    maxInflight: config.datanode.writesInflightMax,
    idleTimeoutMs: config.datanode.writeIdleTimeoutMs,
    log,
    nodeId: id,
  });
  const ctx: DatanodeContext = { id, nc, subj, config, store, writes, reporter, log };
  ctxRef = ctx;
  const subs = serveDatanode(ctx);
  const heartbeat = new Heartbeat(ctx, new LoadSampler(), Date.now());
  heartbeat.start();

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
        for (const s of subs) s.unsubscribe();
        await writes.abortAll();
        // Reports still queued are dropped: the next start sends a full report anyway.
        await nc.drain().catch(() => nc.close());
        log.info(`${id} stopped`);
      })();
      return stopping;
    },
  };
}
