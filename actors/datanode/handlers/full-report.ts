import type { DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";

/**
 * `fullReport`: a standby namenode that starts tailing the log asks for every chunk this node holds.
 * The report goes out on the usual report subject (the active namenode hears it too; a full report
 * it did not ask for only confirms what it knows). Answered before the report is sent.
 */
export function handleFullReport(ctx: DatanodeContext): DatanodeReplies["fullReport"] {
  ctx.reporter.invalidate();
  ctx.reporter.full().catch((err: Error) => ctx.log.warn({ err }, `full report asked by a standby namenode failed: ${err.message}`));
  return { queued: true };
}
