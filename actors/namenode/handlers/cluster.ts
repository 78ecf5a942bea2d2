/** `ping`, `nodes`, `fsck`: cluster-wide views. */
import type { FsckReply, NodeInfo } from "../../../messages/index.js";
import type { NamenodeContext, VerbHandler } from "../context.js";
import { chunkHealth } from "../watchdog-view.js";
import { adminStateOf } from "../decommission.js";

/** `ping`: who answers, its epoch and how far the log is. */
export const ping: VerbHandler<"ping"> = (ctx) => ({ role: "namenode", id: ctx.config.namenode.id, epoch: ctx.epoch(), logSeq: ctx.logSeq() });

/** `nodes`: every datanode this namenode has heard of, by id. */
export const nodes: VerbHandler<"nodes"> = (ctx) => {
  const now = ctx.clock();
  const out: NodeInfo[] = ctx.state.registry
    .allNodes()
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((n) => ({
      id: n.id,
      state: n.state,
      capacityBytes: n.capacityBytes,
      usedBytes: n.usedBytes,
      availableBytes: n.availableBytes,
      chunks: n.chunkCount,
      load: n.load,
      activeWrites: n.activeWrites,
      lastHeartbeatMsAgo: Math.max(0, now - n.lastHeartbeatMs),
      failedDirs: n.failedDirs,
      repairs: ctx.state.repairsByNode.get(n.id) ?? 0,
      zone: n.zone,
      ...adminFields(ctx, n.id, n.decommissioning),
    }));
  return { nodes: out };
};

/** A node's decommissioning fields for `nodes`, from the last watchdog round's count (cheap: `nodes` is polled). */
function adminFields(ctx: NamenodeContext, id: string, decommissioning: boolean): Pick<NodeInfo, "adminState" | "decommissionChunksLeft"> {
  const status = ctx.state.registry.decommissionOf(id);
  return { adminState: adminStateOf(decommissioning, status), ...(decommissioning && status ? { decommissionChunksLeft: status.left } : {}) };
}

/**
 * `fsck`: replica health of every committed chunk of every complete file. O(chunks).
 * `corrupt` counts chunks with at least one corrupt copy on a live node (such copies are
 * never served nor counted as good); `missing` chunks have no good copy on a live node.
 * Copies on nodes being decommissioned do not count toward replication.
 */
export const fsck: VerbHandler<"fsck"> = (ctx) => {
  const { ns, registry } = ctx.state;
  const r: FsckReply = { healthy: true, files: 0, chunks: 0, underReplicated: 0, overReplicated: 0, corrupt: 0, missing: 0, liveNodes: 0 };
  for (const f of ns.allFiles()) {
    if (f.state !== "complete") continue;
    r.files++;
    for (const c of f.chunks) {
      if (!c) continue;
      r.chunks++;
      const h = chunkHealth(registry, c.id, c.version);
      const live = h.good.length;
      // Copies on nodes being decommissioned are read but not counted: such a chunk is short, not missing.
      if (live === 0 && h.retiring.length === 0) r.missing++;
      else if (live < f.replication) r.underReplicated++;
      else if (live > f.replication) r.overReplicated++;
      if (h.corrupt.length > 0) r.corrupt++;
    }
  }
  r.liveNodes = registry.allNodes().filter((n) => n.state !== "dead").length;
  r.repairsInflight = ctx.state.repairsInflight;
  r.safeMode = ctx.state.safeMode;
  r.healthy = r.missing === 0 && r.underReplicated === 0 && r.overReplicated === 0 && r.corrupt === 0;
  return r;
};
