/**
 * The heartbeat loop: every `datanode.heartbeatIntervalMs` tell the namenode how this node is,
 * run the orders in its reply, and send a full report when one is due. The namenode may be
 * down for a long time: keep trying, log the transition once, never crash.
 */
import type { DatanodeCommand, NamenodeReplies, NamenodeRequest } from "../../messages/index.js";
import { datanodeCommandSchema, toWoodsError } from "../../messages/index.js";
import { call } from "../rpc.js";
import type { DatanodeContext } from "./context.js";
import type { LoadSampler } from "./load-sampler.js";
import { announceRemoved } from "./announce.js";

export class Heartbeat {
  private readonly ctx: DatanodeContext;
  private readonly load: LoadSampler;
  private readonly startedAtMs: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;

  constructor(ctx: DatanodeContext, load: LoadSampler, startedAtMs: number) {
    this.ctx = ctx;
    this.load = load;
    this.startedAtMs = startedAtMs;
  }

  start(): void {
    this.load.refresh();
    this.schedule(0);
  }

  /** Stops scheduling beats. A beat in flight is not awaited: it may wait a full request timeout on a hung namenode. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const began = Date.now();
      void this.beat().finally(() => {
        // Interval measured from the start of a beat, so a slow namenode does not stretch it.
        this.schedule(Math.max(0, this.ctx.config.datanode.heartbeatIntervalMs - (Date.now() - began)));
      });
    }, delayMs);
  }

  /** One heartbeat; never throws. */
  async beat(): Promise<void> {
    const { ctx } = this;
    this.load.refresh();
    let reply: NamenodeReplies["heartbeat"];
    try {
      const usage = await ctx.store.usage();
      const body: NamenodeRequest<"heartbeat"> = {
        id: ctx.id,
        startedAtMs: this.startedAtMs,
        capacityBytes: usage.capacityBytes,
        usedBytes: usage.usedBytes,
        availableBytes: usage.availableBytes,
        load: Math.min(this.load.current, 1e6),
        activeWrites: ctx.writes.size,
        chunkCount: ctx.store.chunkCount,
        dirs: usage.dirs.slice(0, 64),
        // The zone travels in every beat (placement spreads replicas over zones); none: no field.
        ...(ctx.config.datanode.zone ? { zone: ctx.config.datanode.zone } : {}),
      };
      reply = await call<NamenodeReplies["heartbeat"]>(ctx.nc, ctx.subj.fromDatanode(ctx.id, "heartbeat"), body, ctx.config.client.requestTimeoutMs);
    } catch (e) {
      if (this.stopped) return;
      this.failures++;
      const err = toWoodsError(e);
      if (this.failures === 1) ctx.log.warn({ code: err.code }, `${ctx.id} cannot reach the namenode (${err.message}); will keep trying`);
      else ctx.log.debug({ code: err.code, failures: this.failures }, `heartbeat failed: ${err.message}`);
      // Whatever changed while we could not talk may be unknown to the namenode.
      ctx.reporter.invalidate();
      return;
    }
    if (this.failures > 0) ctx.log.info(`${ctx.id} reached the namenode again after ${this.failures} failed heartbeats`);
    this.failures = 0;
    // Fencing: a reply from an older namenode epoch than one seen (a stale namenode still
    // answering after a takeover) carries no order we may follow. Replies without an epoch come
    // from a namenode predating fencing and are taken as before.
    const epoch = typeof reply.epoch === "number" && Number.isSafeInteger(reply.epoch) && reply.epoch >= 0 ? reply.epoch : undefined;
    try {
      await ctx.fence.admit(epoch);
    } catch (e) {
      const commands = Array.isArray(reply.commands) ? reply.commands.length : 0;
      ctx.log.warn({ epoch, highestEpoch: ctx.fence.highest, commands }, `${ctx.id} ignored a heartbeat reply (${commands} order(s)): ${(e as Error).message}`);
      return;
    }
    if (reply.fullReport === true || ctx.reporter.fullReportNeeded) {
      ctx.reporter.invalidate();
      await ctx.reporter.full();
    }
    await this.runCommands(Array.isArray(reply.commands) ? reply.commands : [], epoch);
  }

  /**
   * Carries out delete orders. `reason: "corrupt"` removes only the copy kept aside in
   * `corrupt/` (a good copy at the same version, e.g. re-replicated here since, stays); any other
   * reason removes the good copy and a corrupt one of that version too. Each order is reported
   * as `removed` even when nothing was held, so the namenode stops asking.
   */
  private async runCommands(commands: unknown[], replyEpoch: number | undefined): Promise<void> {
    const { ctx } = this;
    const removed = new Map<string, { chunkId: string; version: number }[]>();
    const stillHeld: { id: string; version: number; sizeBytes: number }[] = [];
    for (const raw of commands) {
      const parsed = datanodeCommandSchema.safeParse(raw);
      if (!parsed.success) {
        ctx.log.warn({ cmd: raw }, "ignored a malformed or unknown namenode command");
        continue;
      }
      const cmd: DatanodeCommand = parsed.data;
      // An order names the epoch of the namenode that decided it (else the reply's).
      const orderEpoch = cmd.epoch ?? replyEpoch;
      if (ctx.fence.isStale(orderEpoch)) {
        ctx.log.warn(
          { chunkId: cmd.chunkId, version: cmd.version, epoch: orderEpoch, highestEpoch: ctx.fence.highest },
          `${ctx.id} refused to delete chunk ${cmd.chunkId} v${cmd.version}: the order is from namenode epoch ${orderEpoch}, epoch ${ctx.fence.highest} has been seen`,
        );
        continue;
      }
      const reason = typeof cmd.reason === "string" ? cmd.reason.slice(0, 64) : "deleted";
      try {
        const heldGood = reason === "corrupt" ? false : await ctx.store.delete(cmd.chunkId, cmd.version);
        const heldCorrupt = await ctx.store.deleteCorrupt(cmd.chunkId, cmd.version);
        const good = ctx.store.get(cmd.chunkId, cmd.version);
        if (good) {
          // Only the corrupt copy went; say again that the good one is here so the namenode keeps it.
          stillHeld.push({ id: good.chunkId, version: good.version, sizeBytes: good.sizeBytes });
        } else {
          removed.set(reason, [...(removed.get(reason) ?? []), { chunkId: cmd.chunkId, version: cmd.version }]);
        }
        if (heldGood || heldCorrupt) {
          ctx.log.info(
            { chunkId: cmd.chunkId, version: cmd.version, reason, corruptCopy: heldCorrupt },
            `chunk ${cmd.chunkId} v${cmd.version} deleted on namenode order (${reason}${heldCorrupt ? ", corrupt copy" : ""})`,
          );
        }
      } catch (e) {
        ctx.log.warn({ err: e, chunkId: cmd.chunkId }, `could not delete chunk ${cmd.chunkId} v${cmd.version}`);
      }
    }
    for (const [reason, chunks] of removed) announceRemoved(ctx, chunks, reason);
    if (stillHeld.length > 0) void ctx.reporter.delta(stillHeld, []);
  }
}
