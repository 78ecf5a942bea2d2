/**
 * NATS wiring of the namenode: every `<prefix>.namenode.<verb>` subject is
 * served by its handler, and a periodic tick expires leases and marks dead
 * datanodes. The decisions live in the pure modules; this file only connects them.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  NAMENODE_VERBS,
  DATANODE_SELF_VERBS,
  namenodeRequests,
  WoodsError,
  type DatanodeSelfVerb,
  type LogEntry,
  type NamenodeRequest,
  type NamenodeVerb,
  type Subjects,
} from "../../messages/index.js";
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
  return [...NAMENODE_VERBS.map((verb) => serveVerb(nc, subj, ctx, verb, crash)), ...DATANODE_SELF_VERBS.map((verb) => serveFromDatanode(nc, subj, ctx, verb, crash))];
}

/**
 * Serves `<prefix>.namenode.dn.<id>.<verb>`: the server's permissions let a datanode user publish only
 * under its own id, and a permission cannot see the payload, so the body must speak for the subject's
 * id (`senderMismatch`). The plain `<prefix>.namenode.<verb>` stays served for trusted tools (only the
 * namenode and admin users may publish it); datanodes never use it.
 */
function serveFromDatanode(nc: NatsConnection, subj: Subjects, ctx: NamenodeContext, verb: DatanodeSelfVerb, crash?: CrashHooks): Subscription {
  const handler = handlers[verb] as VerbHandler<typeof verb>;
  const run =
    crash && isMutationVerb(verb)
      ? (req: unknown) => withCrashPoints(nc, ctx, verb, crash, (c) => handler(c, req as never))
      : (req: unknown) => handler(ctx, req as never);
  return serve(
    nc,
    subj.fromDatanodeAll(verb),
    namenodeRequests[verb],
    (req, { msg }) => {
      const subjectId = subj.datanodeOfSubject(msg.subject);
      const mismatch = senderMismatch(ctx, verb, req as NamenodeRequest<DatanodeSelfVerb>, subjectId);
      if (mismatch) {
        ctx.log.warn({ subject: msg.subject, dn: subjectId }, `refused a ${verb} on ${msg.subject}: ${mismatch}`);
        throw new WoodsError("BAD_REQUEST", `${verb} on ${msg.subject} comes from datanode ${subjectId}, but ${mismatch}`);
      }
      return run(req);
    },
    { log: ctx.log, verb: `dn_${verb}` },
  );
}

/**
 * Why a request that datanode `dn` sent on its own subject does not speak for `dn`, or undefined.
 * heartbeat/report name their sender (`id`), appendLease the primary asking (`dn`). appendCommit
 * and appendDropReplica name lease `epoch`, which only its primary may use: refused when the
 * namespace's lease on the chunk is that epoch and held by another node. Any other epoch is no live
 * lease, and the handler refuses it (NOT_PRIMARY) but for a commit's retry of a batch applied
 * before, which is answered without changing anything.
 */
export function senderMismatch(ctx: NamenodeContext, verb: DatanodeSelfVerb, req: NamenodeRequest<DatanodeSelfVerb>, dn: string): string | undefined {
  switch (verb) {
    case "heartbeat":
    case "report": {
      const id = (req as NamenodeRequest<"heartbeat" | "report">).id;
      return id === dn ? undefined : `the body says id ${JSON.stringify(id)}`;
    }
    case "appendLease": {
      const claimed = (req as NamenodeRequest<"appendLease">).dn;
      return claimed === dn ? undefined : `the body asks for ${JSON.stringify(claimed)}'s lease`;
    }
    case "appendCommit":
    case "appendDropReplica": {
      const { chunkId, epoch } = req as NamenodeRequest<"appendCommit" | "appendDropReplica">;
      const lease = ctx.state.ns.chunkLease(chunkId);
      return lease && lease.epoch === epoch && lease.primary !== dn ? `lease epoch ${epoch} on chunk ${chunkId} is held by ${lease.primary}` : undefined;
    }
  }
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
  appendTick(ctx, now);
  state.purgeDeleted();
  await Promise.all(abandons);
}

/** The append part of a tick: leases run out, old idempotency keys and unattached allocations go, deferred stale copies are judged. */
function appendTick(ctx: NamenodeContext, now: number): void {
  const { state } = ctx;
  for (const l of state.expireAppendLeases()) {
    const c = state.ns.chunk(l.chunkId);
    const where = c ? ` (${c.file.path} #${c.index})` : "";
    ctx.log.info(
      { chunkId: l.chunkId, fileId: l.fileId, epoch: l.epoch, primary: l.primary },
      `lease epoch ${l.epoch} of ${l.primary} on chunk ${l.chunkId}${where} ran out after ${ctx.config.namenode.appendLeaseMs} ms without a commit`,
    );
    ctx.event("chunk.lease.ended", { chunkId: l.chunkId, fileId: l.fileId, path: c?.file.path, epoch: l.epoch, primary: l.primary, reason: "expired" });
  }
  const pruned = state.ns.pruneAppendKeys(now - ctx.config.namenode.appendKeyTtlMs);
  if (pruned > 0) ctx.log.debug({ pruned, kept: state.ns.appendKeyCount }, `forgot ${pruned} append key(s) older than ${ctx.config.namenode.appendKeyTtlMs} ms`);
  const dropped = state.appendAllocations.takeExpired(now);
  if (dropped.length > 0) {
    ctx.log.info({ chunks: dropped.length }, `dropped ${dropped.length} append chunk allocation(s) never attached; their replicas become orphans`);
  }
  for (const s of state.registry.rejudgeDeferred(state.classify)) {
    const c = state.ns.chunk(s.chunkId);
    ctx.log.warn(
      { dn: s.nodeId, chunkId: s.chunkId, version: s.version, current: c?.version },
      `${s.nodeId} holds chunk ${s.chunkId} at version ${s.version}, older than the current ${c?.version}: stale, ordered deleted`,
    );
    ctx.event("chunk.stale", { dn: s.nodeId, chunkId: s.chunkId, version: s.version, currentVersion: c?.version, path: c?.file.path });
  }
}
