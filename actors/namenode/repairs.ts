/**
 * Wiring of the replication watchdog: on each tick build the cluster view and
 * send the machine a TICK, then carry out what it asks (its outbox): repairs
 * become `replicate` requests to the source datanode, whose outcome is fed
 * back; deletes become heartbeat orders. Every detection and action is logged
 * as a sentence and published as an event.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { DatanodeReplies, DatanodeRequest, Subjects } from "../../messages/index.js";
import { call } from "../rpc.js";
import type { NamenodeContext } from "./context.js";
import { startWatchdog, type WatchdogActor } from "./watchdog-machine.js";
import { buildClusterView } from "./watchdog-view.js";
import { decommissionProgress } from "./decommission.js";
import type { WatchdogEffect, WatchdogEvent, WatchdogLimits } from "./watchdog-types.js";

/** The watchdog's limits from the namenode config. */
export function watchdogLimits(nn: NamenodeContext["config"]["namenode"]): WatchdogLimits {
  return {
    repairInflightMax: nn.repairInflightMax,
    repairInflightPerNodeMax: nn.repairInflightPerNodeMax,
    repairTimeoutMs: nn.repairTimeoutMs,
    repairAttemptsMax: nn.repairAttemptsMax,
    safeModeReportedFraction: nn.safeModeReportedFraction,
    safeModeExtensionMs: nn.safeModeExtensionMs,
    safeModeMaxMs: nn.safeModeMaxMs,
  };
}

export class Repairs {
  private readonly actor: WatchdogActor;
  private stopped = false;
  /** Nodes announced decommissioned (done), so the event goes out once per decommissioning. */
  private readonly decommissioned = new Set<string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subj: Subjects,
    private readonly ctx: NamenodeContext,
  ) {
    const { state } = ctx;
    this.actor = startWatchdog({ limits: watchdogLimits(ctx.config.namenode), startedAtMs: state.opts.startedAtMs, repairIdPrefix: `e${ctx.epoch()}` });
    state.safeMode = true;
    const nn = ctx.config.namenode;
    ctx.log.info(
      { committedChunks: state.ns.chunkCount },
      `entered safe mode: no repairs or orphan deletes until ${nn.safeModeReportedFraction * 100}% of ${state.ns.chunkCount} chunks are reported (+${nn.safeModeExtensionMs} ms), at most ${nn.safeModeMaxMs} ms`,
    );
    ctx.event("namenode.safemode.entered", { committedChunks: state.ns.chunkCount, reportedFraction: nn.safeModeReportedFraction });
  }

  /** In safe mode (also true before the first tick). */
  get safeMode(): boolean {
    return this.actor.getSnapshot().value === "safeMode";
  }

  /** One watchdog round: view → TICK → effects. */
  tick(): void {
    if (this.stopped) return;
    const snap = this.actor.getSnapshot();
    const tracked = new Set<string>(snap.context.chunks.keys());
    for (const r of snap.context.repairs.values()) tracked.add(r.chunkId);
    const view = buildClusterView(this.ctx.state, this.ctx.clock(), tracked, snap.value === "safeMode");
    this.send({ type: "TICK", view });
    this.countDecommissions();
  }

  /** Counts how far each decommissioning node has come; announces those that are done (once). */
  private countDecommissions(): void {
    const { ctx } = this;
    const { registry } = ctx.state;
    const progress = decommissionProgress(ctx.state);
    registry.setDecommissionStatus(progress);
    for (const id of [...this.decommissioned]) if (!progress.get(id)?.done) this.decommissioned.delete(id);
    for (const [id, p] of progress) {
      if (!p.done || this.decommissioned.has(id)) continue;
      this.decommissioned.add(id);
      ctx.log.info(
        { dn: id, chunks: p.chunks },
        `${id} is decommissioned: each of its ${p.chunks} chunk(s) has enough copies on other nodes; it can be stopped without any chunk becoming under-replicated`,
      );
      ctx.event("datanode.decommissioned", { id, chunks: p.chunks });
    }
  }

  /** Takes the repair limits from the config again (after a reload); the next tick plans within them. */
  reconfigure(): void {
    this.send({ type: "LIMITS", limits: watchdogLimits(this.ctx.config.namenode) });
  }

  /** The watchdog's counts for metrics: chunk health of the last tick, chunks waiting for a repair, repairs running. */
  stats(): { underReplicated: number; overReplicated: number; corrupt: number; missing: number; queued: number; inflight: number } {
    const snap = this.actor.getSnapshot();
    const running = new Set<string>();
    for (const r of snap.context.repairs.values()) running.add(r.chunkId);
    let queued = 0;
    for (const id of snap.context.chunks.keys()) if (!running.has(id)) queued++;
    return { ...snap.context.stats, queued, inflight: snap.context.repairs.size };
  }

  /** Stops feeding the machine; outcomes arriving later are ignored. */
  stop(): void {
    this.stopped = true;
    this.actor.stop();
  }

  private send(event: WatchdogEvent): void {
    if (this.stopped) return;
    this.actor.send(event);
    const snap = this.actor.getSnapshot();
    const { state } = this.ctx;
    state.safeMode = snap.value === "safeMode";
    state.repairsInflight = snap.context.repairs.size;
    const byNode = new Map<string, number>();
    for (const r of snap.context.repairs.values()) for (const dn of [r.source, ...r.targets]) byNode.set(dn, (byNode.get(dn) ?? 0) + 1);
    state.repairsByNode = byNode;
    state.repairingChunks = new Set([...snap.context.repairs.values()].map((r) => r.chunkId));
    for (const effect of snap.context.outbox) this.execute(effect);
  }

  private where(chunkId: string): { path?: string; index?: number } {
    const c = this.ctx.state.ns.chunk(chunkId);
    return c ? { path: c.file.path, index: c.index } : {};
  }

  private execute(e: WatchdogEffect): void {
    const { ctx } = this;
    const { log } = ctx;
    switch (e.type) {
      case "underreplicated": {
        const w = this.where(e.chunkId);
        const at = w.path ? ` (${w.path} #${w.index})` : "";
        const retiring = e.retiring ?? 0;
        const missing = e.live === 0 && retiring === 0;
        if (missing) log.error({ chunkId: e.chunkId, ...w }, `chunk ${e.chunkId}${at} has no good copy left on a live node: missing, cannot be repaired`);
        else if (retiring > 0) {
          // Expected while a node is decommissioned: one line per chunk would drown the log.
          log.debug(
            { chunkId: e.chunkId, ...w, live: e.live, replication: e.replication, retiring },
            `chunk ${e.chunkId}${at} has ${e.live} of ${e.replication} counted copies and ${retiring} on decommissioning node(s): copying it elsewhere`,
          );
        } else log.warn({ chunkId: e.chunkId, ...w, live: e.live, replication: e.replication }, `chunk ${e.chunkId}${at} is under-replicated with ${e.live} of ${e.replication} good copies`);
        ctx.event("chunk.underreplicated", { chunkId: e.chunkId, version: e.version, live: e.live, replication: e.replication, missing, ...(retiring > 0 ? { retiring } : {}), ...w });
        return;
      }
      case "replicate":
        log.info(
          { repairId: e.repairId, chunkId: e.chunkId, source: e.source, targets: e.targets, attempt: e.attempt },
          e.reason === "misplaced"
            ? `copying chunk ${e.chunkId} from ${e.source} to ${e.targets.join(", ")} in another zone (all ${e.live} copies are in one zone) as ${e.repairId}, attempt ${e.attempt}`
            : `repairing chunk ${e.chunkId} (${e.live} of ${e.replication} good copies) from ${e.source} to ${e.targets.join(", ")} as ${e.repairId}, attempt ${e.attempt}`,
        );
        void this.replicate(e);
        return;
      case "repaired":
        log.info(
          { repairId: e.repairId, chunkId: e.chunkId, source: e.source, targets: e.targets, ms: e.ms, bytes: e.bytes },
          `chunk ${e.chunkId} was copied from ${e.source} to ${e.targets.join(", ")} in ${e.ms} ms (${e.bytes} bytes)` +
            (e.failed.length > 0 ? `; ${e.failed.map((f) => f.dn).join(", ")} failed` : ""),
        );
        ctx.event("chunk.repaired", {
          repairId: e.repairId,
          chunkId: e.chunkId,
          version: e.version,
          source: e.source,
          targets: e.targets,
          failed: e.failed,
          ms: e.ms,
          bytes: e.bytes,
          ...this.where(e.chunkId),
        });
        return;
      case "repair-failed":
        log.warn(
          { repairId: e.repairId, chunkId: e.chunkId, source: e.source, targets: e.targets, code: e.code, attempt: e.attempt, parked: e.parked },
          `repair ${e.repairId} of chunk ${e.chunkId} from ${e.source} to ${e.targets.join(", ")} failed after ${e.ms} ms (${e.code}: ${e.reason})` +
            (e.parked ? `; ${e.attempt} attempts used, retrying after ${ctx.config.namenode.repairTimeoutMs} ms` : "; retrying elsewhere"),
        );
        ctx.event("chunk.repair.failed", {
          repairId: e.repairId,
          chunkId: e.chunkId,
          version: e.version,
          source: e.source,
          targets: e.targets,
          attempt: e.attempt,
          code: e.code,
          reason: e.reason,
          parked: e.parked,
          ms: e.ms,
        });
        return;
      case "delete": {
        const ordered = ctx.state.registry.orderDeleteOn(e.dn, e.chunkId, e.version, e.reason);
        if (!ordered) return;
        const why = e.reason === "surplus" ? "it has more good copies than its replication factor" : "its copy there is corrupt and enough good copies exist elsewhere";
        log.info({ dn: e.dn, chunkId: e.chunkId, reason: e.reason }, `${e.dn} is ordered to delete chunk ${e.chunkId} (${e.reason}): ${why}`);
        ctx.event("chunk.trimmed", { dn: e.dn, chunkId: e.chunkId, version: e.version, reason: e.reason, ...this.where(e.chunkId) });
        return;
      }
      case "cancel-delete":
        if (ctx.state.registry.cancelDelete(e.dn, e.chunkId, e.version)) {
          log.info({ dn: e.dn, chunkId: e.chunkId }, `took back the order to ${e.dn} to delete chunk ${e.chunkId}: its copy is needed after all`);
        }
        return;
      case "safemode-left":
        ctx.state.safeMode = false;
        log.info({ afterMs: e.afterMs, reported: e.reportedChunks, committed: e.committedChunks }, `left safe mode after ${e.afterMs} ms: ${e.reason}`);
        ctx.event("namenode.safemode.left", { afterMs: e.afterMs, reason: e.reason, reportedChunks: e.reportedChunks, committedChunks: e.committedChunks });
        return;
    }
  }

  private async replicate(e: Extract<WatchdogEffect, { type: "replicate" }>): Promise<void> {
    const { ctx } = this;
    const body: DatanodeRequest<"replicate"> = {
      repairId: e.repairId,
      chunkId: e.chunkId,
      version: e.version,
      sizeBytes: e.sizeBytes,
      checksum: e.checksum,
      targets: e.targets,
      bucket: this.subj.repairBucket(),
      epoch: ctx.epoch(),
    };
    let outcome: WatchdogEvent;
    try {
      const r = await call<DatanodeReplies["replicate"]>(this.nc, this.subj.datanode(e.source, "replicate"), body, ctx.config.namenode.repairTimeoutMs);
      const confirmed = (r.confirmed ?? []).filter((dn) => e.targets.includes(dn));
      // The targets hold the chunk now: count them at once (their delta reports follow). Not if the
      // chunk was deleted meanwhile: their reports then classify the copies as garbage.
      if (ctx.state.ns.chunk(e.chunkId)?.version === e.version) {
        for (const dn of confirmed) ctx.state.registry.addConfirmedReplica(dn, e.chunkId, e.version);
      }
      outcome = { type: "REPAIR_SUCCEEDED", repairId: e.repairId, confirmed, failed: r.failed ?? [], nowMs: ctx.clock() };
    } catch (err) {
      const code = (err as { code?: string }).code ?? "INTERNAL";
      const message = (err as Error).message ?? String(err);
      outcome =
        code === "TIMEOUT"
          ? { type: "REPAIR_TIMED_OUT", repairId: e.repairId, nowMs: ctx.clock() }
          : { type: "REPAIR_FAILED", repairId: e.repairId, code, message, nowMs: ctx.clock() };
    }
    this.send(outcome);
  }
}
