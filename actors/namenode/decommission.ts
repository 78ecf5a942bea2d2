/**
 * How far the decommissioning of datanodes has come (docs/operations.md). PURE: reads the
 * namenode's memory only; O(committed chunks), with a cheap check per chunk and replica lists
 * built only for chunks a decommissioning node holds.
 *
 * A node being decommissioned gets no new chunks and its copies do not count toward replication,
 * so the watchdog copies its chunks elsewhere as it would a dead node's, reading from it. It is
 * `decommissioned` once every chunk it holds a good copy of has `replication` counted copies on
 * other nodes and what it holds is known: it has sent a full report to this namenode, and the
 * namenode is out of safe mode. Stopping it then leaves no chunk under-replicated.
 */
import type { AdminState, DecommissionReply } from "../../messages/index.js";
import type { NamenodeState } from "./state.js";
import type { DecommissionStatus } from "./registry.js";

/** Most datanodes decommissioning at once (bounds the set carried in the log and snapshots). */
export const DECOMMISSIONING_MAX = 1024;

/** Progress of every decommissioning node (or only `only`), counted now. */
export function decommissionProgress(state: NamenodeState, only?: string): Map<string, DecommissionStatus> {
  const { ns, registry } = state;
  const ids = registry.decommissioningIds().filter((id) => only === undefined || id === only);
  const out = new Map<string, DecommissionStatus>();
  if (ids.length === 0) return out;
  const counts = new Map(ids.map((id) => [id, { chunks: 0, left: 0 }]));
  for (const f of ns.allFiles()) {
    for (const c of f.chunks) {
      if (!c || !registry.heldByDecommissioning(c.id, c.version)) continue;
      const enough = registry.copyCounts(c.id, c.version).good >= f.replication;
      for (const r of registry.replicas(c.id)) {
        if (r.version !== c.version || r.corrupt) continue;
        const p = counts.get(r.node.id);
        if (!p) continue;
        p.chunks++;
        if (!enough) p.left++;
      }
    }
  }
  for (const id of ids) {
    const { chunks, left } = counts.get(id)!;
    const node = registry.node(id);
    const waitingFor = !node
      ? `${id} has not sent a heartbeat to this namenode yet`
      : !node.reported
        ? `${id} has not sent its full report to this namenode yet`
        : state.safeMode
          ? "the namenode is in safe mode (not every replica is reported yet)"
          : undefined;
    out.set(id, { chunks, left, done: left === 0 && waitingFor === undefined, ...(waitingFor ? { waitingFor } : {}) });
  }
  return out;
}

/** The admin state of a node from its decommission status. */
export function adminStateOf(decommissioning: boolean, status: DecommissionStatus | undefined): AdminState {
  if (!decommissioning) return "in-service";
  return status?.done ? "decommissioned" : "decommissioning";
}

/** The `decommission` reply for one node, counted now. */
export function decommissionReply(state: NamenodeState, id: string): DecommissionReply {
  const { registry } = state;
  const node = registry.node(id);
  const decommissioning = registry.isDecommissioning(id);
  const status = decommissioning ? decommissionProgress(state, id).get(id) : undefined;
  return {
    id,
    adminState: adminStateOf(decommissioning, status),
    state: node?.state ?? "unknown",
    zone: node?.zone ?? "",
    chunks: status?.chunks ?? node?.chunkCount ?? 0,
    chunksLeft: status?.left ?? 0,
    ...(status?.waitingFor && status.left === 0 ? { waitingFor: status.waitingFor } : {}),
  };
}
