/** `heartbeat` and `report`: what datanodes tell the namenode. */
import type { NamenodeContext, VerbHandler } from "../context.js";
import type { NodeTransition } from "../registry.js";

/**
 * `heartbeat`: liveness and capacity; the reply carries pending delete orders and asks for a full
 * report when needed. Reply and orders carry this namenode's epoch: a datanode that has seen a
 * newer namenode refuses them (fencing of a stale namenode still answering).
 * TODO(issue 7, items 1–2): refuse a heartbeat whose `id` is not the sender's NATS user; without
 * per-user auth the namenode cannot tell who sent it.
 */
export const heartbeat: VerbHandler<"heartbeat"> = (ctx, req) => {
  const r = ctx.state.registry.heartbeat(req);
  for (const t of r.transitions) announceNodeTransition(ctx, t);
  if (r.commands.length > 0) {
    ctx.log.debug({ dn: req.id, commands: r.commands.length }, `${req.id} is ordered to delete ${r.commands.length} chunk(s)`);
  }
  const epoch = ctx.epoch();
  return { commands: r.commands.map((c) => ({ ...c, epoch })), fullReport: r.fullReport, epoch };
};

/** `report`: replica locations (full pages or deltas). */
export const report: VerbHandler<"report"> = (ctx, req) => {
  const { state } = ctx;
  const { known, stale, corrupt } = state.registry.report(req, state.classify);
  if (!known) {
    ctx.log.debug({ dn: req.id }, `ignored a report from ${req.id}, which has not sent a heartbeat yet`);
    return {};
  }
  for (const c of req.chunks) {
    state.allocations.replicaStored(c.id);
    state.appendAllocations.replicaStored(c.id);
  }
  if (req.removed.length > 0) state.purgeDeleted(req.removed.map((c) => c.id));
  if (req.full && req.last) {
    ctx.log.info({ dn: req.id, pages: req.page + 1 }, `${req.id} sent its full report (${req.page + 1} page(s))`);
  }
  for (const s of stale) {
    const current = state.ns.chunk(s.chunkId);
    const at = current ? ` of ${current.file.path} #${current.index}` : "";
    ctx.log.warn(
      { dn: req.id, chunkId: s.chunkId, version: s.version, current: current?.version },
      `${req.id} holds chunk ${s.chunkId}${at} at version ${s.version}, older than the current ${current?.version}: stale, never served, ordered deleted`,
    );
    ctx.event("chunk.stale", { dn: req.id, chunkId: s.chunkId, version: s.version, currentVersion: current?.version, path: current?.file.path });
  }
  for (const c of corrupt) {
    const current = state.ns.chunk(c.chunkId);
    const at = current ? ` of ${current.file.path} #${current.index}` : "";
    ctx.log.warn(
      { dn: req.id, chunkId: c.chunkId, version: c.version, reason: c.reason },
      `${req.id} reports its copy of chunk ${c.chunkId}${at} corrupt (${c.reason}): no longer served, to be re-replicated from a good copy`,
    );
    ctx.event("chunk.corrupt", { dn: req.id, chunkId: c.chunkId, version: c.version, reason: c.reason, path: current?.file.path });
  }
  return {};
};

/** Logs a datanode state change as a sentence and publishes its event. */
export function announceNodeTransition(ctx: NamenodeContext, t: NodeTransition): void {
  const id = t.node.id;
  switch (t.kind) {
    case "joined":
      if (t.previous === "dead") {
        ctx.log.info({ dn: id, previous: t.previous }, `${id} is alive again after being dead; a full report is asked`);
        ctx.event("datanode.alive", { id, previous: t.previous });
      } else {
        ctx.log.info({ dn: id, previous: t.previous }, `${id} joined`);
        ctx.event("datanode.joined", { id, previous: t.previous });
      }
      return;
    case "dirs-failed":
      ctx.log.warn(
        { dn: id, failedDirs: t.failedDirs, previous: t.previous },
        `${id} reports ${t.failedDirs} failed data dir(s) (was ${t.previous}); their chunks are re-replicated as they are reported removed`,
      );
      return;
    case "dead":
      ctx.log.warn({ dn: id, silentMs: t.silentMs }, `${id} became dead after ${t.silentMs} ms without heartbeat`);
      ctx.event("datanode.dead", { id, silentMs: t.silentMs });
      return;
    case "full":
      ctx.log.warn({ dn: id, availableBytes: t.node.availableBytes }, `${id} became full with ${t.node.availableBytes} bytes available`);
      ctx.event("datanode.full", { id, availableBytes: t.node.availableBytes });
      return;
    case "not-full":
      ctx.log.info({ dn: id, availableBytes: t.node.availableBytes }, `${id} has space again (${t.node.availableBytes} bytes available)`);
      return;
  }
}
