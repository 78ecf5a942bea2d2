/**
 * Where new chunks go and in which order replicas are read. PURE: the random
 * policy draws from an injected seeded generator, round-robin keeps its own cursor.
 *
 * Zones (HDFS's rack awareness): a chunk's replicas are spread over as many zones as
 * there are eligible nodes in, as evenly as they go (3 replicas over 2 zones: 2 + 1; over 3: one
 * each), so with two or more zones no chunk has every replica in one zone while another zone has
 * a usable node. Within that constraint the policy decides: its order of the eligible nodes is
 * kept, and a node's place is its rank among the nodes of its own zone (the policy's first node
 * of each zone, then the second of each, ...). Nodes without a zone are one zone ("").
 */
import { WoodsError } from "../../messages/index.js";

export type PlacementPolicy = "free-space" | "random" | "round-robin";

/** What placement needs to know about a datanode. */
export interface PlacementNode {
  id: string;
  state: "alive" | "dead" | "full";
  availableBytes: number;
  load: number;
  activeWrites: number;
  /** The node's zone ("" or absent: no zone; all such nodes are one zone). */
  zone?: string;
  /** Being decommissioned: never chosen for new chunks, read from last. */
  decommissioning?: boolean;
}

/** The zone a node counts in ("" for none). */
export function zoneOf(n: { zone?: string }): string {
  return n.zone ?? "";
}

/**
 * Reorders `ordered` (a policy's preference, best first) so that taking a prefix spreads over
 * zones: stable by each node's rank within its own zone, so every zone's best node comes before
 * any zone's second. `counts` seeds the zones already holding a copy (repairs): a zone with k
 * copies starts at rank k.
 */
export function spreadOverZones<T extends { zone?: string }>(ordered: readonly T[], counts: ReadonlyMap<string, number> = new Map()): T[] {
  const seen = new Map<string, number>(counts);
  const ranked = ordered.map((n, i) => {
    const z = zoneOf(n);
    const rank = seen.get(z) ?? 0;
    seen.set(z, rank + 1);
    return { n, rank, i };
  });
  ranked.sort((a, b) => a.rank - b.rank || a.i - b.i);
  return ranked.map((r) => r.n);
}

/** Bytes promised to chunks allocated on a node and not committed yet (its heartbeats do not show them). */
export type PendingBytes = (id: string) => number;
const NONE_PENDING: PendingBytes = () => 0;

/**
 * Nodes whose free space (less what is promised to open allocations) is within this fraction of
 * the freest node's count as equally free. Ranking by exact bytes sends every chunk allocated
 * between two heartbeats to the same node (the freest stays the freest until its next heartbeat);
 * within the band the node with the fewest bytes promised, then the least loaded, goes first.
 */
export const FREE_SPACE_BAND = 0.05;

/** The free-space policy's order, best first. */
function byFreeSpace<T extends PlacementNode>(eligible: readonly T[], pendingBytes: PendingBytes): T[] {
  const free = new Map(eligible.map((n) => [n.id, n.availableBytes - pendingBytes(n.id)]));
  const best = Math.max(...free.values());
  const width = Math.max(1, Math.abs(best) * FREE_SPACE_BAND);
  const band = (n: T) => Math.floor((best - free.get(n.id)!) / width);
  return [...eligible].sort(
    (a, b) => band(a) - band(b) || pendingBytes(a.id) - pendingBytes(b.id) || a.load - b.load || a.activeWrites - b.activeWrites || cmp(a.id, b.id),
  );
}

/** A random source returning floats in [0, 1). */
export type Rng = () => number;

/** mulberry32: a tiny seeded generator, good enough to spread chunks and repeatable in tests. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Placement {
  private cursor = 0;

  constructor(
    private currentPolicy: PlacementPolicy,
    private rng: Rng,
  ) {}

  get policy(): PlacementPolicy {
    return this.currentPolicy;
  }

  /**
   * Switches policy (a config reload); chunks already placed stay where they are. A new `rng`
   * re-seeds the random policy. Round-robin keeps its cursor, so a switch away and back goes on
   * where it left off.
   */
  reconfigure(policy: PlacementPolicy, rng?: Rng): void {
    this.currentPolicy = policy;
    if (rng) this.rng = rng;
  }

  /**
   * Picks up to `replication` distinct live, non-full nodes not in `exclude`.
   * Fewer eligible nodes than `replication` gives as many as there are, so a
   * small cluster still writes; none gives NOT_ENOUGH_NODES.
   */
  choose(nodes: readonly PlacementNode[], replication: number, exclude: readonly string[] = [], pendingBytes: PendingBytes = NONE_PENDING): string[] {
    const excluded = new Set(exclude);
    // Sort by id first so every policy is independent of the registry's insertion order.
    const eligible = nodes.filter((n) => n.state === "alive" && !n.decommissioning && !excluded.has(n.id)).sort((a, b) => cmp(a.id, b.id));
    if (eligible.length === 0) {
      throw new WoodsError(
        "NOT_ENOUGH_NODES",
        `no live datanode with free space is available (${nodes.length} known, ${excluded.size} excluded)`,
      );
    }
    const n = Math.min(replication, eligible.length);
    const zones = new Set(eligible.map(zoneOf));
    if (zones.size > 1 && n > 1) return spreadOverZones(this.order(eligible, pendingBytes)).slice(0, n).map((x) => x.id);
    switch (this.currentPolicy) {
      case "free-space":
        return byFreeSpace(eligible, pendingBytes)
          .slice(0, n)
          .map((x) => x.id);
      case "random": {
        // Partial Fisher-Yates: the first n slots are a uniform sample.
        const pool = [...eligible];
        for (let i = 0; i < n; i++) {
          const j = i + Math.floor(this.rng() * (pool.length - i));
          [pool[i], pool[j]] = [pool[j], pool[i]];
        }
        return pool.slice(0, n).map((x) => x.id);
      }
      case "round-robin": {
        const start = this.cursor % eligible.length;
        this.cursor = (start + 1) % Number.MAX_SAFE_INTEGER;
        const out: string[] = [];
        for (let i = 0; i < n; i++) out.push(eligible[(start + i) % eligible.length].id);
        return out;
      }
    }
  }

  /**
   * The policy's whole preference order over `eligible` (sorted by id), for zone-aware choices.
   * Without zones `choose` keeps its own shorter paths (a partial shuffle draws fewer numbers), so
   * clusters without zones place exactly as before.
   */
  private order<T extends PlacementNode>(eligible: readonly T[], pendingBytes: PendingBytes): T[] {
    switch (this.currentPolicy) {
      case "free-space":
        return byFreeSpace(eligible, pendingBytes);
      case "random": {
        const pool = [...eligible];
        for (let i = 0; i < pool.length - 1; i++) {
          const j = i + Math.floor(this.rng() * (pool.length - i));
          [pool[i], pool[j]] = [pool[j], pool[i]];
        }
        return pool;
      }
      case "round-robin": {
        const start = this.cursor % eligible.length;
        this.cursor = (start + 1) % Number.MAX_SAFE_INTEGER;
        return eligible.map((_, i) => eligible[(start + i) % eligible.length]);
      }
    }
  }
}

/**
 * Read order of a chunk's replicas: only good copies of the current version on
 * non-dead nodes (never a stale or corrupt one), least loaded first, then fewest active writes.
 * Nodes being decommissioned come last (as in HDFS): still readable, but about to leave.
 */
export function readOrder(
  replicas: readonly { node: PlacementNode; version: number; corrupt?: boolean }[],
  version: number,
): string[] {
  return replicas
    .filter((r) => r.version === version && !r.corrupt && r.node.state !== "dead")
    .map((r) => r.node)
    .sort((a, b) => Number(!!a.decommissioning) - Number(!!b.decommissioning) || a.load - b.load || a.activeWrites - b.activeWrites || cmp(a.id, b.id))
    .map((n) => n.id);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
