/**
 * Everything the namenode knows, in one place: the namespace (from the log),
 * the registry (from heartbeats and reports), allocations, leases, placement
 * and chunks being deleted. PURE: time and chance are injected; the actor
 * does the I/O around it.
 */
import type { LogEntry } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import { Namespace, type DroppedChunk } from "./namespace.js";
import { Registry, type ChunkVerdict } from "./registry.js";
import { Allocations, type TransitionListener } from "./allocations.js";
import { Leases } from "./leases.js";
import { AppendLeases, type LeaseTimes } from "./append-leases.js";
import { AppendAllocations } from "./append-allocations.js";
import { RecentlyCompleted } from "./recent-creates.js";
import { Placement, type Rng } from "./placement.js";
import { nextChunkState } from "./chunk-machine.js";

/**
 * Most delete orders in one heartbeat reply. Not in the config schema yet
 * (config/ belongs to another part); bounds the reply size to ~250 KB.
 */
export const HEARTBEAT_COMMANDS_MAX = 4096;

export interface StateOptions {
  config: WoodsConfig;
  clock: () => number;
  rng: Rng;
  /** When this namenode started (orphan grace is measured from it). */
  startedAtMs: number;
  onChunkTransition?: TransitionListener;
  /** A namespace loaded from a snapshot (default: empty, built by replaying the whole log). */
  ns?: Namespace;
  /** Kept from a standby's state when it takes over (default: empty, filled by replay). */
  recentlyCompleted?: RecentlyCompleted;
}

export class NamenodeState {
  readonly ns: Namespace;
  readonly registry: Registry;
  readonly allocations: Allocations;
  readonly leases: Leases;
  /** When the append leases of last chunks run out (who holds them is in the namespace). */
  readonly appendLeases: AppendLeases;
  /** Chunks handed out by `appendAllocate`, not attached yet. */
  readonly appendAllocations: AppendAllocations;
  readonly placement: Placement;
  /**
   * Chunks the watchdog is copying right now (set by its wiring). No append may change such a
   * chunk: the copy would fall behind. Appends then go to new chunks instead.
   */
  repairingChunks: ReadonlySet<string> = new Set();
  /** Files completed lately, by their writer's clientId (a retried create is answered, not refused). */
  readonly recentlyCompleted: RecentlyCompleted;
  /** Chunks that left the namespace while we run, in state `deleting`, until no replica is known. */
  readonly deleting = new Map<string, number>();
  /**
   * Safe mode after a start (set by the watchdog wiring): no repairs, no orphan or
   * surplus deletes, and `stat` answers UNAVAILABLE for chunks not reported yet.
   */
  safeMode = true;
  /** Files being written when the log was replayed: their writers may commit chunks allocated before the restart. */
  readonly writingBeforeStart = new Set<string>();
  /** Repairs running, in total and per datanode (as source or target); set by the watchdog wiring. */
  repairsInflight = 0;
  repairsByNode = new Map<string, number>();
  private readonly onChunkTransition: TransitionListener;

  constructor(readonly opts: StateOptions) {
    const nn = opts.config.namenode;
    this.ns = opts.ns ?? new Namespace();
    this.recentlyCompleted = opts.recentlyCompleted ?? new RecentlyCompleted();
    this.registry = new Registry(
      {
        // Read at each use: a config reload (namenode.deadAfterMs, namenode.fullReserveBytes)
        // writes the new values into the config object, and the next tick or heartbeat uses them.
        get deadAfterMs() {
          return nn.deadAfterMs;
        },
        get fullReserveBytes() {
          return nn.fullReserveBytes;
        },
        orphanGraceUntilMs: opts.startedAtMs + nn.orphanGraceMs,
        commandsPerHeartbeatMax: HEARTBEAT_COMMANDS_MAX,
        // Allocations are not logged, so after a restart an unknown replica may be a chunk a writer
        // from before the restart is about to commit (its retried commit is accepted). Such replicas
        // are indistinguishable from orphans until every pre-restart write completed or lost its lease.
        orphanDeletesAllowed: () => !this.safeMode && this.writingBeforeStart.size === 0,
        // Key replica locations by the namespace's own copy of each chunk id: one string per chunk.
        internChunkId: (chunkId) => this.ns.chunk(chunkId)?.id,
        // Datanodes being decommissioned (from the log): their copies are read but not counted.
        decommissioning: this.ns.decommissioning,
      },
      opts.clock,
    );
    this.onChunkTransition = opts.onChunkTransition ?? (() => undefined);
    this.allocations = new Allocations(this.onChunkTransition);
    this.leases = new Leases(nn.leaseMs);
    this.appendLeases = new AppendLeases(nn.appendLeaseMs, this.onChunkTransition);
    this.appendAllocations = new AppendAllocations(nn.leaseMs, this.onChunkTransition);
    this.placement = new Placement(nn.placementPolicy, opts.rng);
  }

  /** What to do with a replica a datanode holds. */
  readonly classify = (chunkId: string, version: number): ChunkVerdict => {
    const c = this.ns.chunk(chunkId);
    if (c) {
      if (version >= c.version) return "keep";
      // An older version missed a mutation: it is never served again (reads ask for the current
      // version). Its delete waits while the chunk is leased: a survivor of a dropped replica reports
      // its old version until the primary's next batch renames it. It also waits while no copy of the
      // current version is known: if the primary died before that rename, the old copies are the ones
      // holding the committed bytes.
      if (this.appendLeases.has(chunkId) || this.registry.liveReplicas(chunkId, c.version).length === 0) return "defer";
      return "stale";
    }
    if (this.deleting.has(chunkId)) return "delete";
    if (this.allocations.get(chunkId) || this.appendAllocations.get(chunkId)) return "keep";
    return "orphan";
  };

  /**
   * Applies a log entry to memory. `live` is false during replay: then no
   * delete orders are issued (nobody has reported yet; leftovers are orphans).
   */
  apply(entry: LogEntry, live: boolean): void {
    // Captured before the namespace forgets it: completed files answer a retried create of their writer.
    if (entry.op === "complete") {
      const completedBy = this.ns.fileById(entry.fileId)?.clientId;
      if (completedBy !== undefined) this.recentlyCompleted.add(completedBy, entry.fileId);
    }
    // The chunk that new chunks seal (its lease ends), read before they are attached.
    const sealed = entry.op === "appendChunks" ? this.lastChunkId(entry.fileId) : undefined;
    const dropped = this.ns.apply(entry);
    const now = this.opts.clock();
    const leasedDropped = new Set<string>();
    switch (entry.op) {
      case "create":
        this.leases.renew(entry.fileId, now);
        break;
      case "chunk":
        this.allocations.committed(entry.chunkId);
        break;
      case "complete":
        this.writingBeforeStart.delete(entry.fileId);
        this.leases.remove(entry.fileId);
        this.allocations.dropFile(entry.fileId);
        break;
      case "delete":
        this.writingBeforeStart.delete(entry.fileId);
        this.leases.remove(entry.fileId);
        this.allocations.dropFile(entry.fileId);
        this.appendAllocations.dropFile(entry.fileId);
        for (const l of this.appendLeases.ofFile(entry.fileId)) {
          this.appendLeases.revoke(l.chunkId, "deleted");
          leasedDropped.add(l.chunkId);
        }
        break;
      case "epoch":
        break;
      case "lease":
        // Replayed leases count from now (the restart): their holder may still be writing.
        this.appendLeases.grant({ chunkId: entry.chunkId, fileId: entry.fileId, epoch: entry.epoch, primary: entry.primary }, now);
        break;
      case "append":
        this.renewAppendLease(entry.chunkId, entry.epoch);
        break;
      case "appendChunks":
        for (const c of entry.chunks) this.appendAllocations.attached(c.chunkId);
        if (sealed !== undefined) this.appendLeases.revoke(sealed, "sealed");
        break;
      case "chunkVersion":
        // Copies left at the old version are stale (their deletes wait for the lease to end).
        if (live) this.registry.judgeChunk(entry.chunkId, this.classify);
        break;
    }
    if (live) for (const d of dropped) this.startDeleting(d, leasedDropped.has(d.id));
  }

  /** The holder of lease `epoch` on a chunk acted (commit, dropped replica): its lease runs `appendLeaseMs` from now. */
  renewAppendLease(chunkId: string, epoch: number): void {
    const l = this.ns.chunkLease(chunkId);
    if (l && l.epoch === epoch) this.appendLeases.renew(l, this.opts.clock());
  }

  /** Append leases run out by now: they end (`leased` → `committed`); their stale copies may go. */
  expireAppendLeases(): LeaseTimes[] {
    return this.appendLeases.takeExpired(this.opts.clock());
  }

  private lastChunkId(fileId: string): string | undefined {
    const f = this.ns.fileById(fileId);
    return f ? this.ns.lastChunk(f)?.id : undefined;
  }

  /** After replay: every file still being written gets a fresh lease (its writer may come back). */
  leasesAfterReplay(): void {
    const now = this.opts.clock();
    for (const f of this.ns.writingFiles()) {
      this.leases.renew(f.fileId, now);
      this.writingBeforeStart.add(f.fileId);
    }
    // Append leases from a snapshot that no replayed entry touched also count from now.
    for (const l of this.ns.leases()) if (!this.appendLeases.has(l.chunkId)) this.appendLeases.grant(l, now);
  }

  /** Chunks being deleted whose last known replica is gone become `gone`. */
  purgeDeleted(chunkIds?: Iterable<string>): number {
    let purged = 0;
    for (const id of chunkIds ?? [...this.deleting.keys()]) {
      if (!this.deleting.has(id) || this.registry.replicas(id).length > 0) continue;
      this.deleting.delete(id);
      this.onChunkTransition(id, "deleting", nextChunkState("deleting", { type: "PURGED" }), "PURGED");
      purged++;
    }
    return purged;
  }

  private startDeleting(d: DroppedChunk, wasLeased = false): void {
    // A leased chunk made its DELETE step when its lease was revoked.
    if (!wasLeased) this.onChunkTransition(d.id, "committed", nextChunkState("committed", { type: "DELETE" }), "DELETE");
    const ordered = this.registry.orderDelete(d.id, d.version);
    if (ordered.length === 0) {
      this.onChunkTransition(d.id, "deleting", nextChunkState("deleting", { type: "PURGED" }), "PURGED");
      return;
    }
    this.deleting.set(d.id, d.version);
  }
}
