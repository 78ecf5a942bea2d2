/** `abort`: drop a write in progress and its temp file; answering ok when there is none. */
import type { DatanodeRequest, DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";

export async function handleAbort(ctx: DatanodeContext, req: DatanodeRequest<"abort">): Promise<DatanodeReplies["abort"]> {
  const w = ctx.writes.get(req.chunkId);
  if (w) {
    await ctx.writes.abort(w);
    ctx.log.debug({ chunkId: req.chunkId }, `write of chunk ${req.chunkId} aborted by the client`);
  }
  return {};
}
