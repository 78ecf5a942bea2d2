import type { VerbHandler } from "../context.js";
import { writingFileRenewed } from "./writing.js";

/** `allocate {fileId, index, exclude?}`: places a new chunk; remembered in memory only (logged at commit). */
export const allocate: VerbHandler<"allocate"> = (ctx, req) => {
  const f = writingFileRenewed(ctx, req.fileId);
  const { allocations } = ctx.state;
  const chunkBytes = ctx.config.chunkSizeBytes;
  const replicas = ctx.state.placement.choose(ctx.state.registry.allNodes(), f.replication, req.exclude ?? [], (dn) => allocations.openOn(dn) * chunkBytes);
  const chunkId = ctx.newId();
  const version = 1;
  ctx.state.allocations.add({ chunkId, fileId: f.fileId, index: req.index, version, replicas });
  ctx.log.debug({ path: f.path, index: req.index, chunkId, replicas }, `chunk ${req.index} of ${f.path} allocated as ${chunkId} on ${replicas.join(", ")}`);
  return { chunkId, version, replicas };
};
