/** What follows a change of the chunks held: an event for watchers and a delta for the namenode. */
import { publishEvent } from "../events.js";
import type { DatanodeContext } from "./context.js";

/** A chunk was committed on this node (or an ingest found it already here): the namenode learns the location from the delta. */
export function announceStored(ctx: DatanodeContext, c: { chunkId: string; version: number; sizeBytes: number; checksum: string }): void {
  publishEvent(ctx.nc, ctx.subj, "chunk.stored", ctx.id, { dn: ctx.id, ...c });
  void ctx.reporter.delta([{ id: c.chunkId, version: c.version, sizeBytes: c.sizeBytes }], []);
}

/** Chunks left this node (deleted on order). */
export function announceRemoved(ctx: DatanodeContext, removed: { chunkId: string; version: number }[], reason: string): void {
  for (const r of removed) publishEvent(ctx.nc, ctx.subj, "chunk.deleted", ctx.id, { dn: ctx.id, ...r, reason });
  void ctx.reporter.delta([], removed.map((r) => ({ id: r.chunkId, version: r.version })));
}

/**
 * A replica failed verification (read, scrub, replicate): kept aside as corrupt until ordered
 * deleted. It goes in the delta's `corrupt` list only, not in `removed`: the namenode keeps one
 * record per node and chunk, a `corrupt` entry marks it (no longer a good copy), and a `removed`
 * entry would drop the record and with it the need to order the corrupt copy deleted.
 */
export function announceCorrupt(ctx: DatanodeContext, c: { chunkId: string; version: number }, reason: string): void {
  publishEvent(ctx.nc, ctx.subj, "chunk.corrupt", ctx.id, { dn: ctx.id, chunkId: c.chunkId, version: c.version, reason });
  void ctx.reporter.delta([], [], [{ id: c.chunkId, version: c.version, reason: reason.slice(0, 500) }]);
}

/** A data dir failed: its replicas are gone from this node, so the namenode re-replicates them. */
export function announceDirFailed(ctx: DatanodeContext, dir: string, reason: string, lost: { chunkId: string; version: number }[]): void {
  publishEvent(ctx.nc, ctx.subj, "datanode.dir.failed", ctx.id, { dn: ctx.id, dir, reason, chunks: lost.length });
  void ctx.reporter.delta([], lost.map((r) => ({ id: r.chunkId, version: r.version })));
}
