/** Shared pieces of the append handlers (docs/append.md). */
import type { NamenodeContext } from "../context.js";
import type { ChunkRecord } from "../namespace.js";
import type { Replica } from "../registry.js";

/**
 * Live good replicas of a chunk at one of `versions`: nodes that are not full
 * first (a full node fails the next write), then least loaded, fewest writes.
 */
export function appendReplicas(ctx: NamenodeContext, chunkId: string, versions: readonly number[]): string[] {
  const nodes = new Map<string, Replica["node"]>();
  for (const r of ctx.state.registry.replicas(chunkId)) {
    if (versions.includes(r.version) && !r.corrupt && r.node.state !== "dead") nodes.set(r.node.id, r.node);
  }
  const full = (n: Replica["node"]): number => (n.state === "full" ? 1 : 0);
  return [...nodes.values()]
    .sort((a, b) => full(a) - full(b) || a.load - b.load || a.activeWrites - b.activeWrites || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((n) => n.id);
}

/** "chunk c of /path #index" for log lines. */
export function chunkName(c: ChunkRecord): string {
  return `chunk ${c.id} (${c.file.path} #${c.index})`;
}

/** Milliseconds the lease on a chunk still runs now. */
export function leaseLeftMs(ctx: NamenodeContext, chunkId: string): number {
  return ctx.state.appendLeases.expiresInMs(chunkId, ctx.clock());
}
