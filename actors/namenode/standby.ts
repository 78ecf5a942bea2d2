/**
 * A standby namenode (GFS's shadow master, with automatic takeover): it follows the metadata log as
 * the active namenode appends, listens to the datanodes' heartbeats and reports without answering
 * them (so it knows where every replica is), answers read-only verbs on `<prefix>.shadow.<verb>`,
 * and campaigns for the leader lease every `leaderRenewMs`. When it wins, it hands its warm state
 * to the caller, which makes it active (main.ts).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  SHADOW_VERBS,
  decode,
  namenodeRequests,
  WoodsError,
  type LogBatch,
  type NamenodeRequest,
  type ShadowVerb,
  type Subjects,
} from "../../messages/index.js";
import { tailMetaLog, type LeaderLease, type MetaLogTail } from "../../jetstream/index.js";
import { call, serve, validate } from "../rpc.js";
import { senderMismatch } from "./actor.js";
import type { Logger } from "../logger.js";
import type { WoodsConfig } from "../../config/index.js";
import type { NamenodeState } from "./state.js";
import type { NamenodeContext, VerbHandler } from "./context.js";
import { handlers } from "./handlers/index.js";

/** Queue group of the standbys' shadow subscriptions: one standby answers each read. */
const SHADOW_QUEUE = "woods-shadow";
/** What datanodes say about themselves that a standby keeps up with (the append verbs are the active's alone). */
const LISTENED_VERBS = ["heartbeat", "report"] as const;
/** How long a datanode may take to answer "send me a full report". */
const FULL_REPORT_ASK_TIMEOUT_MS = 2000;

export interface StandbyDeps {
  nc: NatsConnection;
  subj: Subjects;
  config: WoodsConfig;
  log: Logger;
  clock: () => number;
  state: NamenodeState;
  lease: LeaderLease;
  /** Log sequence the state covers. */
  lastSeq: number;
}

export interface StandbyPhase {
  /** Log sequence applied so far. */
  readonly lastSeq: number;
  /**
   * Resolves when this standby won the lease (tail stopped, shadow verbs unsubscribed: the state is
   * the caller's now), or rejects when the standby cannot go on (its tail broke): start over.
   */
  readonly won: Promise<{ lastSeq: number }>;
  stop(): Promise<void>;
}

/** Starts following the log and campaigning. */
export async function startStandby(d: StandbyDeps): Promise<StandbyPhase> {
  const { nc, subj, config, log, state } = d;
  const id = config.namenode.id;
  let resolveWon!: (v: { lastSeq: number }) => void;
  let rejectWon!: (e: Error) => void;
  const won = new Promise<{ lastSeq: number }>((res, rej) => {
    resolveWon = res;
    rejectWon = rej;
  });
  // Callers that only stop() a standby never await it.
  won.catch(() => undefined);
  let ended = false;

  const applyBatch = (batch: LogBatch): void => {
    for (const e of batch.entries) state.apply(e, false);
  };
  const tail: MetaLogTail = await tailMetaLog(nc, subj, d.lastSeq, applyBatch, (err) => {
    log.error({ err }, `standby ${id} lost the metadata log: ${err.message}; starting over`);
    void end().then(() => rejectWon(err));
  });

  // Read-only context: handlers that would log a mutation are refused (they are not served anyway).
  const ctx: NamenodeContext = {
    config,
    log,
    clock: d.clock,
    state,
    epoch: () => state.ns.epoch,
    logSeq: () => tail.lastSeq,
    newId: () => {
      throw new WoodsError("UNAVAILABLE", `namenode ${id} is a standby: read-only`);
    },
    logAndApply: () => Promise.reject(new WoodsError("UNAVAILABLE", `namenode ${id} is a standby: read-only`)),
    sync: () => Promise.resolve(),
    event: () => undefined,
  };

  const subs: Subscription[] = [
    ...SHADOW_VERBS.map((verb) => serveShadow(nc, subj, ctx, verb)),
    ...LISTENED_VERBS.map((verb) => listenToDatanodes(nc, subj, ctx, verb, (dn) => askFullReport(dn))),
  ];
  await nc.flush();

  // Datanodes this standby asked for a full report (once per node while it stays known).
  const asked = new Set<string>();
  const askFullReport = (dn: string): void => {
    if (asked.has(dn) || ended) return;
    asked.add(dn);
    call(nc, subj.datanode(dn, "fullReport"), {}, FULL_REPORT_ASK_TIMEOUT_MS).catch((err: Error) => {
      asked.delete(dn);
      log.debug({ err, dn }, `could not ask ${dn} for a full report: ${err.message}`);
    });
  };

  let campaigning = false;
  const campaign = async (): Promise<void> => {
    if (campaigning || ended) return;
    campaigning = true;
    try {
      state.registry.tick(state.classify);
      if (!(await d.lease.tryAcquire()) || ended) return;
      log.info({ logSeq: tail.lastSeq }, `standby ${id} won the leader lease; taking over`);
      const lastSeq = tail.lastSeq;
      await end();
      resolveWon({ lastSeq });
    } catch (err) {
      log.warn({ err }, `campaign for the leader lease failed: ${(err as Error).message}`);
    } finally {
      campaigning = false;
    }
  };
  const timer = setInterval(() => void campaign(), config.namenode.leaderRenewMs);
  log.info({ logSeq: d.lastSeq }, `namenode ${id} is a standby: following the log from seq ${d.lastSeq + 1}, read-only on ${subj.shadow("ping").replace(/ping$/, "*")}`);

  async function end(): Promise<void> {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    for (const s of subs) s.unsubscribe();
    await tail.stop();
  }

  return {
    get lastSeq() {
      return tail.lastSeq;
    },
    won,
    async stop() {
      await end();
      rejectWon(new WoodsError("UNAVAILABLE", "standby stopped"));
    },
  };
}

/** Serves one read-only verb on the shadow subject (queue group: one standby answers). */
function serveShadow(nc: NatsConnection, subj: Subjects, ctx: NamenodeContext, verb: ShadowVerb): Subscription {
  const handler = handlers[verb] as VerbHandler<typeof verb>;
  const run = (req: unknown): unknown => (verb === "ping" ? { ...(handlers.ping(ctx, {}) as object), standby: true } : handler(ctx, req as never));
  return serve(nc, subj.shadow(verb), namenodeRequests[verb], run as never, { log: ctx.log, queue: SHADOW_QUEUE, verb: `shadow_${verb}` });
}

/**
 * Hears what datanodes tell the active namenode, without answering: heartbeats keep the registry
 * (liveness, space, load) warm and reports tell where replicas are. A datanode this standby does
 * not know yet is asked for a full report.
 */
function listenToDatanodes(
  nc: NatsConnection,
  subj: Subjects,
  ctx: NamenodeContext,
  verb: (typeof LISTENED_VERBS)[number],
  onUnknown: (dn: string) => void,
): Subscription {
  const schema = namenodeRequests[verb];
  return nc.subscribe(subj.fromDatanodeAll(verb), {
    callback: (err, msg) => {
      if (err) return;
      try {
        const subjectId = subj.datanodeOfSubject(msg.subject);
        const req = validate(schema, decode(msg.data, msg.headers).value);
        // What the active refuses, the standby ignores.
        if (senderMismatch(ctx, verb, req, subjectId)) return;
        if (verb === "heartbeat") {
          const r = ctx.state.registry.heartbeat(req as NamenodeRequest<"heartbeat">);
          if (r.fullReport) onUnknown(subjectId);
        } else {
          void handlers.report(ctx, req as NamenodeRequest<"report">);
        }
      } catch (e) {
        ctx.log.debug({ err: e, subject: msg.subject }, `standby ignored a ${verb}: ${(e as Error).message}`);
      }
    },
  });
}
