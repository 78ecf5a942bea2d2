/**
 * NATS wiring of the namenode: every `<prefix>.namenode.<verb>` subject is
 * served by its handler, and a periodic tick expires leases and marks dead
 * datanodes. The decisions live in the pure modules; this file only connects them.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { NAMENODE_VERBS, namenodeRequests, type NamenodeVerb, type Subjects } from "../../messages/index.js";
import { serve } from "../rpc.js";
import type { NamenodeContext, VerbHandler } from "./context.js";
import { handlers, removeFile, announceNodeTransition } from "./handlers/index.js";

/** Subscribes every namenode verb. Call only after replay: a request must never see a half-built state. */
export function serveNamenode(nc: NatsConnection, subj: Subjects, ctx: NamenodeContext): Subscription[] {
  return NAMENODE_VERBS.map((verb) => serveVerb(nc, subj, ctx, verb));
}

function serveVerb<V extends NamenodeVerb>(nc: NatsConnection, subj: Subjects, ctx: NamenodeContext, verb: V): Subscription {
  const handler = handlers[verb] as VerbHandler<V>;
  return serve(nc, subj.namenode(verb), namenodeRequests[verb], (req) => handler(ctx, req as never), { log: ctx.log, verb });
}

/** One tick: abandon files whose writer went silent, mark silent datanodes dead, purge deleted chunks. */
export async function tick(ctx: NamenodeContext): Promise<void> {
  const { state } = ctx;
  const now = ctx.clock();
  const abandons: Promise<void>[] = [];
  for (const fileId of state.leases.takeExpired(now)) {
    const f = state.ns.fileById(fileId);
    if (!f || f.state !== "writing") continue;
    const reason = `lease expired after ${ctx.config.namenode.leaseMs} ms without a request from its writer`;
    abandons.push(
      removeFile(ctx, f.path, reason).catch((err) => ctx.log.error({ err, path: f.path }, `could not abandon ${f.path}: ${err.message}`)),
    );
  }
  for (const t of state.registry.tick(state.classify)) announceNodeTransition(ctx, t);
  state.purgeDeleted();
  await Promise.all(abandons);
}
