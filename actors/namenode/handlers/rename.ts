/** `rename {src, dst}` (`woods mv`): moves a complete file to a new path in one log entry. */
import { normalizePath } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";

/**
 * Logs the move and publishes `file.renamed`. The file keeps its id, chunks, append lease
 * and append keys, so appends and reads in flight carry on. A retried rename that was
 * already applied gets the same answer once the original is durable.
 */
export const rename: VerbHandler<"rename"> = async (ctx, req) => {
  const src = normalizePath(req.src);
  const dst = normalizePath(req.dst);
  const entry = ctx.state.ns.checkRename({ src, dst, atMs: ctx.clock() });
  if (!entry) {
    await ctx.sync();
    return { src, dst };
  }
  await ctx.logAndApply(entry);
  const fileId = entry.op === "rename" ? entry.fileId : "";
  ctx.log.info({ src, dst, fileId }, `${src} was renamed to ${dst}`);
  ctx.event("file.renamed", { src, dst, path: dst, fileId });
  return { src, dst };
};
