/** `read`: a verified slice of a committed chunk. */
import type { DatanodeRequest, DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";

export async function handleRead(ctx: DatanodeContext, req: DatanodeRequest<"read">): Promise<DatanodeReplies["read"]> {
  const { data, sizeBytes } = await ctx.store.read(req.chunkId, req.version, req.offset, req.length);
  return { data, sizeBytes };
}
