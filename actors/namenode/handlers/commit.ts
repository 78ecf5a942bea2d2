import { WoodsError } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";
import { writingFileRenewed } from "./writing.js";

/** `commit {fileId, index, chunkId, ...}`: logs the chunk once its replicas confirmed it to the writer. */
export const commit: VerbHandler<"commit"> = async (ctx, req) => {
  const f = writingFileRenewed(ctx, req.fileId);
  const { state } = ctx;
  // Allocations are not logged: one made by the previous namenode run is unknown here. The writer of a
  // file that was already being written before this run may commit it (its replicas confirmed it).
  const alloc =
    state.allocations.get(req.chunkId) ??
    (state.writingBeforeStart.has(req.fileId) && !state.ns.chunk(req.chunkId)
      ? { fileId: req.fileId, index: req.index, version: req.version, replicas: req.replicas }
      : undefined);
  const entry = state.ns.checkCommit({ ...req, atMs: ctx.clock() }, alloc, ctx.config.chunkSizeBytes);
  if (entry === null) {
    // A retry of a commit already applied: answer once the original is durable.
    await ctx.sync();
    return {};
  }
  const confirmed = req.replicas.filter((dn) => alloc!.replicas.includes(dn));
  if (confirmed.length === 0) {
    throw new WoodsError("BAD_REQUEST", `none of the replicas ${req.replicas.join(", ")} was allocated for chunk ${req.chunkId}`);
  }
  // The writer saw these replicas close the chunk: readable now, even before their reports arrive.
  for (const dn of confirmed) state.registry.addConfirmedReplica(dn, req.chunkId, req.version);
  await ctx.logAndApply(entry);
  ctx.event("chunk.committed", { fileId: f.fileId, path: f.path, index: req.index, chunkId: req.chunkId, version: req.version, replicas: confirmed });
  return {};
};
