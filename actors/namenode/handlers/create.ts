import { normalizePath, type NamenodeReplies } from "../../../messages/index.js";
import type { NamenodeContext, VerbHandler } from "../context.js";

/**
 * `create {path, replication?, empty?}`: logs the file in state `writing` and starts its lease; with
 * `empty`, also completes it at once (both entries in one log batch: one round trip for an empty file).
 */
export const create: VerbHandler<"create"> = async (ctx, req) => {
  const path = normalizePath(req.path);
  const replication = req.replication ?? ctx.config.replication;
  if (req.empty === true) return createEmpty(ctx, path, replication, req.clientId);
  const retried = ctx.state.ns.retriedCreate(path, req.clientId);
  if (retried && (req.replication === undefined || req.replication === retried.replication)) {
    // The same writer asks again (its answer was lost): the same file, once the original is durable.
    await ctx.sync();
    ctx.state.leases.renew(retried.fileId, ctx.clock());
    ctx.log.info({ path, fileId: retried.fileId, clientId: req.clientId }, `${path} create retried by its writer: answered with file ${retried.fileId} again`);
    return createReply(ctx, retried.fileId, path, retried.replication);
  }
  const fileId = ctx.newId();
  const entry = ctx.state.ns.checkCreate({ path, replication, fileId, atMs: ctx.clock(), clientId: req.clientId });
  await ctx.logAndApply(entry);
  ctx.log.info({ path, fileId, replication }, `${path} is being written as file ${fileId} with replication ${replication}`);
  return createReply(ctx, fileId, path, replication);
};

/** What a create answers: the file and how to write it. */
function createReply(ctx: NamenodeContext, fileId: string, path: string, replication: number): NamenodeReplies["create"] {
  return {
    fileId,
    path,
    replication,
    chunkSizeBytes: ctx.config.chunkSizeBytes,
    frameSizeBytes: ctx.config.frameSizeBytes,
    leaseMs: ctx.config.namenode.leaseMs,
  };
}

/** An empty file in one request: `create` then `complete`, appended together. */
async function createEmpty(ctx: NamenodeContext, path: string, replication: number, clientId: string | undefined): Promise<NamenodeReplies["create"]> {
  const { ns } = ctx.state;
  // A retry whose first attempt landed (its answer was lost): the same file, once durable.
  const doneId = ctx.state.recentlyCompleted.fileOf(clientId);
  const done = doneId !== undefined ? ns.fileById(doneId) : undefined;
  if (done && done.path === path && done.state === "complete") {
    await ctx.sync();
    return createReply(ctx, done.fileId, path, done.replication);
  }
  const fileId = ctx.newId();
  const atMs = ctx.clock();
  const created = ctx.logAndApply(ns.checkCreate({ path, replication, fileId, atMs, clientId }));
  // Applied in memory already: the complete is checked against the file just created.
  let completeEntry;
  try {
    completeEntry = ns.checkComplete({ fileId, sizeBytes: 0, chunkCount: 0, atMs });
  } catch (e) {
    // The create was refused before it was applied (the log is lost): that is the error to report.
    await created;
    throw e;
  }
  const completed = completeEntry ? ctx.logAndApply(completeEntry) : Promise.resolve(0);
  await Promise.all([created, completed]);
  ctx.log.info({ path, fileId, replication }, `${path} was created empty as file ${fileId}`);
  ctx.event("file.created", { path, fileId, size: 0, chunks: 0 });
  return createReply(ctx, fileId, path, replication);
}
