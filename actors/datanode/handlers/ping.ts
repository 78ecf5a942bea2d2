import type { DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";

/** `ping`: liveness and identity. */
export function handlePing(ctx: DatanodeContext): DatanodeReplies["ping"] {
  return { role: "datanode", id: ctx.id };
}
