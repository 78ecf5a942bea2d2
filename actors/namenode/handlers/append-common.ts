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

/**
 * Nodes holding the chunk's current version that cannot take part in appends:
 * dead, or their copy is corrupt. A primary writes without them, so before it
 * does the version must move on (`bumpPast`): their copies miss the appends that
 * follow and must never be served as current again.
 */
export function holdersBehind(ctx: NamenodeContext, c: ChunkRecord): string[] {
  return ctx.state.registry
    .replicas(c.id)
    .filter((r) => r.version === c.version && (r.node.state === "dead" || r.corrupt))
    .map((r) => r.node.id);
}

/**
 * Logs `chunkVersion` (version + 1) for a leased chunk whose `behind` holders are
 * left out, moving the `live` ones to the new version (they rename their copies with
 * the primary's next batch). The lease must be in the table first: it defers the
 * stale verdicts of survivors that report their old version before renaming.
 * Applies at once; the promise resolves once the entry is durable.
 */
export function bumpPast(ctx: NamenodeContext, c: ChunkRecord, live: readonly string[], behind: readonly string[]): Promise<number> {
  const version = c.version + 1;
  ctx.state.registry.moveReplicas(c.id, live, version);
  const done = ctx.logAndApply({ op: "chunkVersion", chunkId: c.id, version, atMs: ctx.clock() });
  ctx.log.warn(
    { chunkId: c.id, path: c.file.path, version, behind, replicas: live },
    `${chunkName(c)} moved to version ${version}: appends continue on ${live.join(", ")} without ${behind.join(", ")} (dead or corrupt; their copies are stale)`,
  );
  ctx.event("chunk.version.bumped", { chunkId: c.id, path: c.file.path, version, failed: [...behind], replicas: [...live] });
  return done;
}
