/** `append`: a client's record for the chunk this node is the primary of (append-primary.ts). */
import type { DatanodeRequest, DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";

export function handleAppend(ctx: DatanodeContext, req: DatanodeRequest<"append">): Promise<DatanodeReplies["append"]> {
  return ctx.primary.append(req);
}
