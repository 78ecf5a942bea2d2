/** `decommission`: take a datanode out of service without losing replication, or put it back. */
import { WoodsError } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";
import { DECOMMISSIONING_MAX, decommissionReply } from "../decommission.js";

/**
 * `decommission {id, cancel?}` (admin only: the cluster's NATS permissions keep it from the client
 * role). Starting logs a `decommission` entry: from then on the node gets no new chunks, stays
 * readable, and its copies no longer count, so the watchdog copies its chunks elsewhere. Cancelling
 * logs one with `cancel`: its copies count again and surplus ones are trimmed as usual. Repeating
 * either (a retry) logs nothing and answers once what was applied is durable. The reply is the
 * node's state after the request (decommission.ts).
 */
export const decommission: VerbHandler<"decommission"> = async (ctx, req) => {
  const { state, log } = ctx;
  const { ns, registry } = state;
  const id = req.id;
  const already = ns.decommissioning.has(id);
  if (req.cancel) {
    if (already) {
      await ctx.logAndApply({ op: "decommission", node: id, cancel: true, atMs: ctx.clock() });
      log.info({ dn: id }, `${id} is back in service (decommission cancelled): its copies count again, and copies made meanwhile are trimmed as surplus`);
      ctx.event("datanode.recommissioned", { id });
    } else {
      await ctx.sync();
    }
    return decommissionReply(state, id);
  }
  if (already) {
    await ctx.sync();
    return decommissionReply(state, id);
  }
  const node = registry.node(id);
  if (!node) throw new WoodsError("NOT_FOUND", `no datanode ${id} is known to this namenode (woods nodes lists them); a node must have sent a heartbeat to be decommissioned`);
  if (ns.decommissioning.size >= DECOMMISSIONING_MAX) {
    throw new WoodsError("BAD_REQUEST", `${ns.decommissioning.size} datanodes are being decommissioned already (at most ${DECOMMISSIONING_MAX}); cancel or finish some first`);
  }
  await ctx.logAndApply({ op: "decommission", node: id, atMs: ctx.clock() });
  const inService = registry.allNodes().filter((n) => n.state === "alive" && !n.decommissioning).length;
  log.info(
    { dn: id, zone: node.zone, chunks: node.chunkCount, inService },
    `${id} is being decommissioned: no new chunks; its ${node.chunkCount} chunk(s) are copied to other nodes, after which it can be stopped`,
  );
  if (inService < ctx.config.replication) {
    log.warn(
      { dn: id, inService, replication: ctx.config.replication },
      `only ${inService} datanode(s) stay in service, fewer than the default replication ${ctx.config.replication}: chunks may not find enough places`,
    );
  }
  ctx.event("datanode.decommissioning", { id, zone: node.zone, chunks: node.chunkCount });
  return decommissionReply(state, id);
};
