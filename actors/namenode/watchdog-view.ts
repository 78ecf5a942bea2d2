/**
 * Builds the watchdog's view of the cluster from the namenode's state. PURE
 * (reads memory only). O(committed chunks) per call: the scan fsck does too.
 */
import type { NamenodeState } from "./state.js";
import type { Registry } from "./registry.js";
import type { ChunkView, ClusterView } from "./watchdog-types.js";
import { lackingZones, needsAttention } from "./watchdog-plan.js";

export interface ChunkHealth {
  /** Non-dead nodes, not being decommissioned, with a good copy of the version (the copies that count). */
  good: string[];
  /** Non-dead nodes with a corrupt copy of the version. */
  corrupt: string[];
  /** Every node known to hold any copy (any version, any state). */
  holders: string[];
  /** Non-dead nodes being decommissioned with a good copy of the version: read, copied from, not counted. */
  retiring: string[];
}

/** Where the copies of one chunk version are, and which are good. */
export function chunkHealth(registry: Registry, chunkId: string, version: number): ChunkHealth {
  const h: ChunkHealth = { good: [], corrupt: [], holders: [], retiring: [] };
  for (const r of registry.replicas(chunkId)) {
    h.holders.push(r.node.id);
    if (r.version !== version || r.node.state === "dead") continue;
    if (r.corrupt) h.corrupt.push(r.node.id);
    else if (r.node.decommissioning) h.retiring.push(r.node.id);
    else h.good.push(r.node.id);
  }
  return h;
}

/**
 * The cluster view for one watchdog tick: every node, and the committed chunks
 * of complete files that need attention or that the watchdog still tracks.
 * Files being written are left out (their writer is still placing replicas),
 * and so are deleted chunks (they are no longer in the namespace) and chunks
 * leased for appends (a copy would fall behind the appends; repaired, trimmed
 * or cleaned once the lease ends).
 * With nodes that take copies in two or more zones, a chunk with the right number of copies is
 * also in the view when its copies cover fewer zones than they could (mis-placed, watchdog-plan.ts
 * `lackingZones`): checked without building lists.
 * `countReported` (safe mode only) counts chunks with a reported good copy instead: safe mode needs
 * only that count, and right after a restart nearly every chunk would need a view (a million
 * objects a tick, holding up the reports that end safe mode). The tick that leaves safe mode plans
 * with no chunks; the next one plans with all.
 */
export function buildClusterView(state: NamenodeState, nowMs: number, tracked: ReadonlySet<string>, countReported: boolean): ClusterView {
  const { ns, registry } = state;
  const chunks: ChunkView[] = [];
  const nodes = registry.allNodes();
  const usableZones = new Set(nodes.filter((n) => n.state === "alive" && !n.decommissioning).map((n) => n.zone));
  const zoned = usableZones.size > 1;
  let reported = 0;
  for (const f of ns.allFiles()) {
    for (const c of f.chunks) {
      if (!c) continue;
      // Counted without building replica lists: a tick scans every chunk, and most are healthy.
      const n = registry.copyCounts(c.id, c.version);
      if (countReported) {
        if (n.reported) reported++;
        continue;
      }
      if (f.state !== "complete" || state.appendLeases.has(c.id)) continue;
      if (n.good === f.replication && n.corrupt === 0 && !tracked.has(c.id) && !(zoned && f.replication > 1 && lackingZones(registry.countedZones(c.id, c.version), f.replication, usableZones))) continue;
      const h = chunkHealth(registry, c.id, c.version);
      const view = { ...h, replication: f.replication };
      if (!needsAttention(view) && !tracked.has(c.id) && !zoned) continue;
      chunks.push({ chunkId: c.id, version: c.version, sizeBytes: c.size, checksum: c.checksum, ...view });
    }
  }
  return {
    nowMs,
    nodes: nodes.map((n) => ({
      id: n.id,
      state: n.state,
      availableBytes: n.availableBytes,
      load: n.load,
      activeWrites: n.activeWrites,
      zone: n.zone,
      ...(n.decommissioning ? { decommissioning: true } : {}),
    })),
    chunks,
    committedChunks: ns.chunkCount,
    reportedChunks: countReported ? reported : ns.chunkCount,
  };
}
