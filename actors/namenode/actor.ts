/**
 * NATS wiring of the namenode: every `<prefix>.namenode.<verb>` subject is
 * served by its handler, and a periodic tick expires leases and marks dead
 * datanodes. The decisions live in the pure modules; this file only connects them.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { NAMENODE_VERBS, namenodeRequests, type LogEntry, type NamenodeVerb, type Subjects } from "../../messages/index.js";
import { serve } from "../rpc.js";
import type { NamenodeContext, VerbHandler } from "./context.js";
import { handlers, removeFile, announceNodeTransition } from "./handlers/index.js";
import { isMutationVerb, type CrashPoint, type CrashTrigger } from "./crash-points.js";

/** Crash points armed for fault tests (see crash-points.ts). */
export interface CrashHooks {
  trigger: CrashTrigger;
  /** Dies at once (SIGKILL in production). */
  crash(point: CrashPoint, verb: string): void;
}

/** Subscribes every namenode verb. Call only after replay: a request must never see a half-built state. */
export function serveNamenode(nc: NatsConnection, subj: Subjects, ctx: NamenodeContext, crash?: CrashHooks): Subscription[] {
  return NAMENODE_VERBS.map((verb) => serveVerb(nc, subj, ctx, verb, crash));
}

function serveVerb<V extends NamenodeVerb>(nc: NatsConnection, subj: Subjects, ctx: NamenodeContext, verb: V, crash?: CrashHooks): Subscription {
  const handler = handlers[verb] as VerbHandler<V>;
  const run =
    crash && isMutationVerb(verb)
      ? (req: unknown) => withCrashPoints(nc, ctx, verb, crash, (c) => handler(c, req as never))
      : (req: unknown) => handler(ctx, req as never);
  return serve(nc, subj.namenode(verb), namenodeRequests[verb], run, { log: ctx.log, verb });
}

/**
 * Runs one mutating request with the crash points armed: the request's
 * `logAndApply` counts the mutation and, when it is the armed one, dies before
 * the append, after the PubAck, or right after the reply has left.
 */
async function withCrashPoints<R>(
  nc: NatsConnection,
  ctx: NamenodeContext,
  verb: string,
  crash: CrashHooks,
  run: (ctx: NamenodeContext) => Promise<R> | R,
): Promise<R> {
  let afterReply = false;
  const rctx: NamenodeContext = Object.create(ctx, {
    logAndApply: {
      value: async (entry: LogEntry, hooks?: { beforeAppend?: () => void }): Promise<number> => {
        const point = crash.trigger.hit(verb);
        if (point === "before-append") return ctx.logAndApply(entry, { ...hooks, beforeAppend: () => crash.crash(point, verb) });
        const seq = await ctx.logAndApply(entry, hooks);
        if (point === "after-puback") crash.crash(point, verb);
        if (point === "after-reply") afterReply = true;
        return seq;
      },
    },
  });
  const result = await run(rctx);
  if (afterReply) {
    // serve() sends the reply in the continuation of this promise, before any macrotask:
    // by setImmediate it has been written; flush makes sure the server has it.
    setImmediate(() => {
      void nc
        .flush()
        .catch(() => undefined)
        .finally(() => crash.crash("after-reply", verb));
    });
  }
  return result;
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
