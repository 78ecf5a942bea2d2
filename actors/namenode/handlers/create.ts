import { normalizePath } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";

/** `create {path, replication?}`: logs the file in state `writing` and starts its lease. */
export const create: VerbHandler<"create"> = async (ctx, req) => {
  const path = normalizePath(req.path);
  const replication = req.replication ?? ctx.config.replication;
  const retried = ctx.state.ns.retriedCreate(path, req.clientId);
  if (retried && (req.replication === undefined || req.replication === retried.replication)) {
    // The same writer asks again (its answer was lost): the same file, once the original is durable.
    await ctx.sync();
    ctx.state.leases.renew(retried.fileId, ctx.clock());
    ctx.log.info({ path, fileId: retried.fileId, clientId: req.clientId }, `${path} create retried by its writer: answered with file ${retried.fileId} again`);
    return {
      fileId: retried.fileId,
      path,
      replication: retried.replication,
      chunkSizeBytes: ctx.config.chunkSizeBytes,
      frameSizeBytes: ctx.config.frameSizeBytes,
      leaseMs: ctx.config.namenode.leaseMs,
    };
  }
  const fileId = ctx.newId();
  const entry = ctx.state.ns.checkCreate({ path, replication, fileId, atMs: ctx.clock(), clientId: req.clientId });
  await ctx.logAndApply(entry);
  ctx.log.info({ path, fileId, replication }, `${path} is being written as file ${fileId} with replication ${replication}`);
  return {
    fileId,
    path,
    replication,
    chunkSizeBytes: ctx.config.chunkSizeBytes,
    frameSizeBytes: ctx.config.frameSizeBytes,
    leaseMs: ctx.config.namenode.leaseMs,
  };
};
