/**
 * `appendApply`: the primary of a chunk asks this replica to write a batch of appends at an
 * offset (docs/append.md, step 4). The primary applies the batch to its own copy through
 * `applyAppend` too, not over NATS.
 */
import { WoodsError, type DatanodeRequest, type DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";

export async function applyAppend(ctx: DatanodeContext, req: DatanodeRequest<"appendApply">): Promise<DatanodeReplies["appendApply"]> {
  if (req.offset + req.data.length > ctx.config.chunkSizeBytes) {
    throw new WoodsError("TOO_LARGE", `an append up to byte ${req.offset + req.data.length} exceeds chunkSizeBytes ${ctx.config.chunkSizeBytes}`);
  }
  const { sizeBytes, crc } = await ctx.appends.appendAt(req);
  return { sizeBytes, crc };
}

export function handleAppendApply(ctx: DatanodeContext, req: DatanodeRequest<"appendApply">): Promise<DatanodeReplies["appendApply"]> {
  return applyAppend(ctx, req);
}
