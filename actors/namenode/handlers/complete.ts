import type { VerbHandler } from "../context.js";
import { WoodsError } from "../../../messages/index.js";

/** `complete {fileId, sizeBytes, chunkCount}`: checks every chunk is committed, logs, makes the file visible. */
export const complete: VerbHandler<"complete"> = async (ctx, req) => {
  const { state } = ctx;
  if (!state.ns.fileById(req.fileId) && state.leases.wasExpired(req.fileId)) {
    throw new WoodsError("LEASE_EXPIRED", `the lease of file ${req.fileId} expired and the file was abandoned`);
  }
  const entry = state.ns.checkComplete({ ...req, atMs: ctx.clock() });
  const f = state.ns.fileById(req.fileId)!;
  if (entry !== null) {
    await ctx.logAndApply(entry);
    ctx.log.info({ path: f.path, fileId: f.fileId, sizeBytes: req.sizeBytes }, `${f.path} is complete with ${req.sizeBytes} bytes in ${req.chunkCount} chunks`);
    ctx.event("file.created", { path: f.path, fileId: f.fileId, size: req.sizeBytes, chunks: req.chunkCount });
  } else {
    // A retried complete: answer once the original is durable.
    await ctx.sync();
  }
  return { path: f.path, size: f.sizeBytes };
};
