/** What follows a change of the chunks held: an event for watchers and a delta for the namenode. */
import { publishEvent } from "../events.js";
import type { DatanodeContext } from "./context.js";

/** A chunk was committed on this node. */
export function announceStored(ctx: DatanodeContext, c: { chunkId: string; version: number; sizeBytes: number; checksum: string }): void {
  publishEvent(ctx.nc, ctx.subj, "chunk.stored", ctx.id, { dn: ctx.id, ...c });
  void ctx.reporter.delta([{ id: c.chunkId, version: c.version, sizeBytes: c.sizeBytes }], []);
}

/** Chunks left this node (deleted on order, or found corrupt). */
export function announceRemoved(ctx: DatanodeContext, removed: { chunkId: string; version: number }[], reason: string): void {
  for (const r of removed) publishEvent(ctx.nc, ctx.subj, "chunk.deleted", ctx.id, { dn: ctx.id, ...r, reason });
  void ctx.reporter.delta([], removed.map((r) => ({ id: r.chunkId, version: r.version })));
}
