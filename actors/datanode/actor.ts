/** NATS wiring of a datanode: one subscription per verb, each answered by its handler. */
import type { Subscription } from "@nats-io/transport-node";
import { datanodeRequests } from "../../messages/index.js";
import { serve } from "../rpc.js";
import type { DatanodeContext } from "./context.js";
import { handlePing } from "./handlers/ping.js";
import { handleOpen } from "./handlers/open.js";
import { handleClose } from "./handlers/close.js";
import { handleAbort } from "./handlers/abort.js";
import { handleRead } from "./handlers/read.js";
import { handleIngest } from "./handlers/ingest.js";
import { handleReplicate } from "./handlers/replicate.js";
import { handleAppend } from "./handlers/append.js";
import { handleAppendApply } from "./handlers/append-apply.js";
import { handleFullReport } from "./handlers/full-report.js";

/** Subscribes every datanode verb; returns the subscriptions so stop() can drop them. */
export function serveDatanode(ctx: DatanodeContext): Subscription[] {
  const s = (verb: Parameters<DatanodeContext["subj"]["datanode"]>[1]) => ctx.subj.datanode(ctx.id, verb);
  const o = (verb: string) => ({ log: ctx.log, verb });
  return [
    serve(ctx.nc, s("ping"), datanodeRequests.ping, () => handlePing(ctx), o("ping")),
    serve(ctx.nc, s("open"), datanodeRequests.open, (req) => handleOpen(ctx, req), o("open")),
    serve(ctx.nc, s("close"), datanodeRequests.close, (req) => handleClose(ctx, req), o("close")),
    serve(ctx.nc, s("abort"), datanodeRequests.abort, (req) => handleAbort(ctx, req), o("abort")),
    serve(ctx.nc, s("read"), datanodeRequests.read, (req) => handleRead(ctx, req), o("read")),
    serve(ctx.nc, s("ingest"), datanodeRequests.ingest, (req) => handleIngest(ctx, req), o("ingest")),
    serve(ctx.nc, s("replicate"), datanodeRequests.replicate, (req) => handleReplicate(ctx, req), o("replicate")),
    serve(ctx.nc, s("append"), datanodeRequests.append, (req) => handleAppend(ctx, req), o("append")),
    serve(ctx.nc, s("appendApply"), datanodeRequests.appendApply, (req) => handleAppendApply(ctx, req), o("appendApply")),
    serve(ctx.nc, s("fullReport"), datanodeRequests.fullReport, () => handleFullReport(ctx), o("fullReport")),
  ];
}
