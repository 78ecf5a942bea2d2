/** `abandon` and `rm`: both log a `delete`; the replicas then get delete orders via heartbeats. */
import { normalizePath, WoodsError } from "../../../messages/index.js";
import type { NamenodeContext, VerbHandler } from "../context.js";

/** Logs the deletion of the file at `path` and publishes `file.deleted`. */
export async function removeFile(ctx: NamenodeContext, path: string, reason: string): Promise<void> {
  const entry = ctx.state.ns.checkRemove(path, ctx.clock(), reason);
  await ctx.logAndApply(entry);
  const fileId = entry.op === "delete" ? entry.fileId : "";
  ctx.log.info({ path, fileId, reason }, `${path} was deleted (${reason})`);
  ctx.event("file.deleted", { path, fileId, reason });
}

/** `abandon {fileId}`: the writer gives up; unknown files are fine (retries, or already expired). */
export const abandon: VerbHandler<"abandon"> = async (ctx, req) => {
  const f = ctx.state.ns.fileById(req.fileId);
  if (!f) return {};
  if (f.state !== "writing") throw new WoodsError("STALE", `file ${f.path} is complete; use rm to delete it`);
  await removeFile(ctx, f.path, "abandoned by its writer");
  return {};
};

/** `rm {path}`: deletes a file (complete or being written). */
export const rm: VerbHandler<"rm"> = async (ctx, req) => {
  const path = normalizePath(req.path, { allowRoot: true });
  if (path === "/") throw new WoodsError("IS_DIRECTORY", "/ is a directory");
  await removeFile(ctx, path, "rm");
  return { path };
};
