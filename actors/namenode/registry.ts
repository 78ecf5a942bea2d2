/**
 * The datanode registry: liveness from heartbeats, replica locations from
 * reports, and the delete orders waiting for each node's next heartbeat.
 * PURE: time comes from an injected clock; what a chunk is worth (keep it,
 * delete it, or maybe an orphan) comes from a classifier the caller passes in.
 */
import type { DatanodeCommand, NamenodeRequest } from "../../messages/index.js";
import { COUNT_CORRUPT, ReplicaTable } from "./replica-table.js";

export type NodeState = "alive" | "dead" | "full";

export interface NodeRecord {
  readonly id: string;
  state: NodeState;
  startedAtMs: number;
  capacityBytes: number;
  usedBytes: number;
  availableBytes: number;
  load: number;
  activeWrites: number;
  chunkCount: number;
  lastHeartbeatMs: number;
  /** True once a full report has been received since this registry learnt of the node (or it came back from dead). */
  reported: boolean;
  /** Data dirs the node reports as failed. */
  failedDirs: number;
  /** The zone the node says it is in ("" = none: all such nodes count as one zone). */
  zone: string;
  /**
   * Being decommissioned (the namespace's set, read live): no new chunks, and its copies are read
   * but not counted toward replication.
   */
  readonly decommissioning: boolean;
}

/** How far the decommissioning of one node has come, as of the last watchdog round (decommission.ts). */
export interface DecommissionStatus {
  /** Good copies of committed chunks the node holds. */
  chunks: number;
  /** Of those, chunks without `replication` counted copies on other nodes. */
  left: number;
  /** Every chunk it holds has enough copies elsewhere, and what it holds is known (full report, out of safe mode). */
  done: boolean;
  /** Why it is not done although nothing is left (no full report yet, safe mode, unknown node). */
  waitingFor?: string;
}

/** A replica location: which node holds which version (a snapshot of it: the registry keeps them packed). */
export interface Replica {
  readonly node: NodeRecord;
  readonly version: number;
  /** The node found this copy corrupt (read, scrub, scan): never served, never counted as a good copy. */
  readonly corrupt: boolean;
}

/**
 * What the namenode thinks of a replica a node holds: keep it; delete it (its
 * file was deleted); stale (an older version than the namespace's); or an
 * orphan (unknown: deleted after the grace period, and never in safe mode).
 * `defer`: stale, but its delete must wait (the chunk is leased for appends, or no
 * copy of the current version is known yet); re-judged by `rejudgeDeferred`.
 */
export type ChunkVerdict = "keep" | "delete" | "stale" | "orphan" | "defer";

/** Why a replica is ordered deleted (sent to the datanode in the command). */
export type DeleteReason = "deleted" | "orphan" | "stale" | "surplus" | "corrupt";

/** What a report changed that is worth an event. */
export interface ReportOutcome {
  known: boolean;
  /** Replicas reported with a version older than the namespace's (ordered deleted). */
  stale: { chunkId: string; version: number }[];
  /** Replicas newly known to be corrupt. */
  corrupt: { chunkId: string; version: number; reason: string }[];
}
export type ChunkClassifier = (chunkId: string, version: number) => ChunkVerdict;

export interface RegistryOptions {
  deadAfterMs: number;
  fullReserveBytes: number;
  /** Until this time unknown chunks are not deleted: writes in flight at a namenode restart may still commit them. */
  orphanGraceUntilMs: number;
  /** Most commands in one heartbeat reply (the rest wait for the next). */
  commandsPerHeartbeatMax: number;
  /** False while orphans must be kept (safe mode); default always allowed. */
  orphanDeletesAllowed?: () => boolean;
  /**
   * The string to key a newly located chunk by: the namespace's copy of its id, so each id is
   * held once (undefined for a chunk the namespace does not know: the registry copies it).
   */
  internChunkId?: (chunkId: string) => string | undefined;
  /**
   * Ids of datanodes being decommissioned (the namespace's live set): their copies do not count
   * toward replication. Default: none.
   */
  decommissioning?: ReadonlySet<string>;
}

/** A state change worth logging and publishing. */
export type NodeTransition =
  | { kind: "joined"; node: NodeRecord; previous: NodeState | "unknown" }
  | { kind: "dead"; node: NodeRecord; silentMs: number }
  | { kind: "full"; node: NodeRecord }
  | { kind: "not-full"; node: NodeRecord }
  | { kind: "dirs-failed"; node: NodeRecord; failedDirs: number; previous: number };

export type Heartbeat = NamenodeRequest<"heartbeat">;
export type Report = NamenodeRequest<"report">;

export class Registry {
  private readonly nodes = new Map<string, NodeRecord>();
  /** Nodes by their index in `locations` (interned: a replica names its node by a small integer). */
  private readonly nodeList: NodeRecord[] = [];
  private readonly nodeIndex = new Map<string, number>();
  private readonly locations: ReplicaTable;
  /** nodeId → chunkId → version to delete and why. */
  private readonly pending = new Map<string, Map<string, { version: number; reason: DeleteReason }>>();
  /** nodeId → unknown chunks seen during the grace period, re-judged after it. */
  private readonly suspects = new Map<string, Map<string, number>>();
  /** nodeId → stale copies whose delete waits (verdict `defer`), re-judged on each tick. */
  private readonly deferred = new Map<string, Map<string, number>>();
  /** nodeId → the full report being received; the copies it listed so far are marked seen in `locations`. */
  private readonly fullReports = new Map<string, { reportId: string }>();
  /** Decommission progress per decommissioning node, set by the watchdog wiring each round. */
  private decommissionStatus = new Map<string, DecommissionStatus>();
  private readonly retiring: ReadonlySet<string>;
  /** Scratch of `countedZones` (one array and predicate for every call: the watchdog calls it for every chunk). */
  private readonly zoneScan: string[] = [];

  constructor(
    private readonly opts: RegistryOptions,
    private readonly clock: () => number,
  ) {
    this.locations = new ReplicaTable(opts.internChunkId);
    this.retiring = opts.decommissioning ?? new Set();
  }

  node(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  allNodes(): NodeRecord[] {
    return [...this.nodes.values()];
  }

  /** Replica locations of a chunk (any version, any node state), oldest first; a fresh array. */
  replicas(chunkId: string): readonly Replica[] {
    const out: Replica[] = [];
    for (const e of this.locations.list(chunkId)) out.push({ node: this.nodeList[e.node], version: e.version, corrupt: e.corrupt });
    return out;
  }

  /** True when some node is known to hold some copy of the chunk. */
  isLocated(chunkId: string): boolean {
    return this.locations.has(chunkId);
  }

  /**
   * Copies of `version` of a chunk, counted without building replica lists (the watchdog scans
   * every chunk each tick): `good`/`corrupt` on nodes that count (not dead, not being
   * decommissioned), and whether any node, dead or not, reported a good one.
   */
  copyCounts(chunkId: string, version: number): { good: number; corrupt: number; reported: boolean } {
    const live = this.locations.countCopies(chunkId, version, this.counted);
    const any = live % COUNT_CORRUPT > 0 ? live : this.locations.countCopies(chunkId, version);
    return { good: live % COUNT_CORRUPT, corrupt: Math.floor(live / COUNT_CORRUPT), reported: any % COUNT_CORRUPT > 0 };
  }

  /** A copy on this node counts toward replication: not dead, not being decommissioned. */
  private readonly counted = (node: number): boolean => {
    const n = this.nodeList[node];
    return n.state !== "dead" && (this.retiring.size === 0 || !this.retiring.has(n.id));
  };

  private readonly zoneOfCounted = (node: number): boolean => {
    if (!this.counted(node)) return false;
    const z = this.nodeList[node].zone;
    if (!this.zoneScan.includes(z)) this.zoneScan.push(z);
    return true;
  };

  private readonly onRetiring = (node: number): boolean => this.retiring.has(this.nodeList[node].id);

  /** True when `nodeId` is being decommissioned (whether or not this registry knows the node). */
  isDecommissioning(nodeId: string): boolean {
    return this.retiring.has(nodeId);
  }

  /** Ids of the nodes being decommissioned. */
  decommissioningIds(): string[] {
    return [...this.retiring];
  }

  /**
   * The distinct zones of the counted good copies of `version` of a chunk, without building replica
   * lists. The array is reused by the next call: read it, do not keep it.
   */
  countedZones(chunkId: string, version: number): readonly string[] {
    this.zoneScan.length = 0;
    this.locations.countCopies(chunkId, version, this.zoneOfCounted);
    return this.zoneScan;
  }

  /** Whether a node being decommissioned holds any copy of `version` of the chunk (cheap: no lists). */
  heldByDecommissioning(chunkId: string, version: number): boolean {
    return this.retiring.size > 0 && this.locations.countCopies(chunkId, version, this.onRetiring) > 0;
  }

  /** Sets the decommission progress of every decommissioning node (the watchdog wiring, each round). */
  setDecommissionStatus(status: Map<string, DecommissionStatus>): void {
    this.decommissionStatus = status;
  }

  /** The decommission progress of a node as of the last round (undefined: not counted yet, or in service). */
  decommissionOf(nodeId: string): DecommissionStatus | undefined {
    return this.retiring.has(nodeId) ? this.decommissionStatus.get(nodeId) : undefined;
  }

  /** Nodes that are not dead and hold a good (not corrupt) copy of `version` of the chunk. */
  liveReplicas(chunkId: string, version: number): Replica[] {
    return this.replicas(chunkId).filter((r) => r.version === version && !r.corrupt && r.node.state !== "dead");
  }

  /** Number of chunks with at least one known location. */
  get locatedChunkCount(): number {
    return this.locations.size;
  }

  /**
   * Records a heartbeat. Returns the node's state changes, whether a full report
   * is wanted (the node is new to this registry) and the commands to deliver.
   */
  heartbeat(hb: Heartbeat): { transitions: NodeTransition[]; fullReport: boolean; commands: DatanodeCommand[] } {
    const now = this.clock();
    const transitions: NodeTransition[] = [];
    let node = this.nodes.get(hb.id);
    if (!node) {
      const retiring = this.retiring;
      const id = hb.id;
      node = {
        id: hb.id,
        state: "alive",
        startedAtMs: hb.startedAtMs,
        capacityBytes: 0,
        usedBytes: 0,
        availableBytes: 0,
        load: 0,
        activeWrites: 0,
        chunkCount: 0,
        lastHeartbeatMs: now,
        reported: false,
        failedDirs: 0,
        zone: hb.zone ?? "",
        get decommissioning() {
          return retiring.has(id);
        },
      };
      this.nodes.set(hb.id, node);
      this.nodeIndex.set(hb.id, this.nodeList.length);
      this.nodeList.push(node);
      transitions.push({ kind: "joined", node, previous: "unknown" });
    } else if (node.state === "dead") {
      transitions.push({ kind: "joined", node, previous: "dead" });
      node.state = "alive";
      // Its deltas were lost while it was cut off: only a full report tells what it holds now.
      node.reported = false;
    }
    if (node.startedAtMs !== hb.startedAtMs) {
      // The datanode process restarted: what we know of its disk may be stale until it reports again.
      node.startedAtMs = hb.startedAtMs;
      node.reported = false;
    }
    node.capacityBytes = hb.capacityBytes;
    node.usedBytes = hb.usedBytes;
    node.availableBytes = hb.availableBytes;
    node.load = hb.load;
    node.activeWrites = hb.activeWrites;
    node.chunkCount = hb.chunkCount;
    node.lastHeartbeatMs = now;
    // A datanode restarted with another --zone moves: its copies count in the new zone from now on.
    node.zone = hb.zone ?? "";
    const failedDirs = hb.dirs.filter((d) => d.failed).length;
    if (failedDirs !== node.failedDirs) {
      if (failedDirs > node.failedDirs) transitions.push({ kind: "dirs-failed", node, failedDirs, previous: node.failedDirs });
      node.failedDirs = failedDirs;
    }
    const full = hb.availableBytes < this.opts.fullReserveBytes;
    if (full && node.state === "alive") {
      node.state = "full";
      transitions.push({ kind: "full", node });
    } else if (!full && node.state === "full") {
      node.state = "alive";
      transitions.push({ kind: "not-full", node });
    }
    return { transitions, fullReport: !node.reported, commands: this.takeCommands(node.id) };
  }

  /**
   * Records a report page. Full reports replace the node's replica set once
   * their last page arrives; deltas add and remove. Unknown nodes are ignored
   * until they heartbeat (the heartbeat reply then asks for a full report).
   */
  report(rep: Report, classify: ChunkClassifier): ReportOutcome {
    const out: ReportOutcome = { known: false, stale: [], corrupt: [] };
    const node = this.nodes.get(rep.id);
    if (!node) return out;
    out.known = true;
    const at = this.indexOf(node);
    if (rep.full) {
      const fr = this.fullReports.get(node.id);
      if (!fr || fr.reportId !== rep.reportId || rep.page === 0) {
        this.fullReports.set(node.id, { reportId: rep.reportId });
        this.locations.clearSeen(at);
      }
    }
    for (const c of rep.chunks) {
      if (this.addReplica(node, c.id, c.version, false, classify, rep.full) === "stale") out.stale.push({ chunkId: c.id, version: c.version });
    }
    for (const c of rep.corrupt ?? []) {
      const wasCorrupt = this.locations.list(c.id).some((r) => r.node === at && r.version === c.version && r.corrupt);
      const verdict = this.addReplica(node, c.id, c.version, true, classify, rep.full);
      if (verdict === "stale") out.stale.push({ chunkId: c.id, version: c.version });
      else if (!wasCorrupt) out.corrupt.push({ chunkId: c.id, version: c.version, reason: c.reason });
    }
    for (const c of rep.removed) this.removeReplica(node, c.id, c.version);
    if (rep.full && rep.last) {
      this.fullReports.delete(node.id);
      // A full report is the whole truth about the node: forget what it did not list. What it still
      // holds after that is exactly what it listed.
      this.locations.dropUnseen(at);
      const susp = this.suspects.get(node.id);
      if (susp) for (const id of [...susp.keys()]) if (!this.locations.holds(id, at)) susp.delete(id);
      const later = this.deferred.get(node.id);
      if (later) for (const id of [...later.keys()]) if (!this.locations.holds(id, at)) later.delete(id);
      node.reported = true;
    }
    return out;
  }

  /** Adds a location the namenode learnt from a commit (the writer saw the replica confirm). */
  addConfirmedReplica(nodeId: string, chunkId: string, version: number): void {
    const node = this.nodes.get(nodeId);
    if (node) this.upsert(node, chunkId, version, false);
  }

  /**
   * Moves the given holders' copies to `version` (the namenode bumped the chunk's version
   * while they took part in an append: they rename their copies to it). Unknown nodes are skipped.
   */
  moveReplicas(chunkId: string, nodeIds: readonly string[], version: number): void {
    for (const id of nodeIds) this.addConfirmedReplica(id, chunkId, version);
  }

  /** Judges every known copy of one chunk now (its version moved on): orders stale ones deleted or defers them. */
  judgeChunk(chunkId: string, classify: ChunkClassifier): { nodeId: string; chunkId: string; version: number }[] {
    const out: { nodeId: string; chunkId: string; version: number }[] = [];
    for (const r of this.replicas(chunkId)) {
      const verdict = classify(chunkId, r.version);
      if (verdict === "defer") this.defer(r.node.id, chunkId, r.version);
      else if (verdict === "stale") {
        this.enqueue(r.node.id, chunkId, r.version, "stale");
        out.push({ nodeId: r.node.id, chunkId, version: r.version });
      }
    }
    return out;
  }

  /**
   * Judges again the stale copies whose delete was deferred; orders those now
   * `stale` deleted and forgets those no longer stale. Returns the copies ordered.
   */
  rejudgeDeferred(classify: ChunkClassifier): { nodeId: string; chunkId: string; version: number }[] {
    const out: { nodeId: string; chunkId: string; version: number }[] = [];
    for (const [nodeId, later] of this.deferred) {
      for (const [chunkId, version] of [...later]) {
        if (!this.holds(nodeId, chunkId, version)) {
          later.delete(chunkId);
          continue;
        }
        const verdict = classify(chunkId, version);
        if (verdict === "defer") continue;
        later.delete(chunkId);
        if (verdict === "keep") continue;
        this.enqueue(nodeId, chunkId, version, reasonOf(verdict));
        if (verdict === "stale") out.push({ nodeId, chunkId, version });
      }
      if (later.size === 0) this.deferred.delete(nodeId);
    }
    return out;
  }

  /** Orders every known holder of `chunkId` (its file was deleted) to delete it. Returns the nodes ordered. */
  orderDelete(chunkId: string, version: number): string[] {
    const out: string[] = [];
    for (const r of this.replicas(chunkId)) {
      if (r.version > version) continue;
      this.enqueue(r.node.id, chunkId, r.version, "deleted");
      out.push(r.node.id);
    }
    return out;
  }

  /** Orders one node to delete its copy of a chunk (watchdog: surplus or corrupt). False when it holds no such copy. */
  orderDeleteOn(nodeId: string, chunkId: string, version: number, reason: DeleteReason): boolean {
    if (!this.holds(nodeId, chunkId, version)) return false;
    this.enqueue(nodeId, chunkId, version, reason);
    return true;
  }

  /** Takes back a delete order not delivered yet. True when there was one. */
  cancelDelete(nodeId: string, chunkId: string, version: number): boolean {
    const p = this.pending.get(nodeId);
    const o = p?.get(chunkId);
    if (!p || !o || o.version !== version) return false;
    p.delete(chunkId);
    return true;
  }

  /**
   * Marks nodes silent for `deadAfterMs` dead and, once the orphan grace period
   * is over, turns suspects still unknown into delete orders.
   */
  tick(classify: ChunkClassifier): NodeTransition[] {
    const now = this.clock();
    const transitions: NodeTransition[] = [];
    for (const node of this.nodes.values()) {
      const silentMs = now - node.lastHeartbeatMs;
      if (node.state !== "dead" && silentMs >= this.opts.deadAfterMs) {
        node.state = "dead";
        transitions.push({ kind: "dead", node, silentMs });
        // A surplus order waiting for a dead node would strike after it returns, when its copy
        // counts again and another copy may have been trimmed meanwhile: take such orders back.
        const p = this.pending.get(node.id);
        if (p) for (const [chunkId, o] of [...p]) if (o.reason === "surplus") p.delete(chunkId);
      }
    }
    if (this.orphansDeletable(now)) {
      for (const [nodeId, susp] of this.suspects) {
        for (const [chunkId, version] of susp) {
          const verdict = classify(chunkId, version);
          if (verdict === "keep" || !this.holds(nodeId, chunkId, version)) continue;
          if (verdict === "defer") this.defer(nodeId, chunkId, version);
          else this.enqueue(nodeId, chunkId, version, reasonOf(verdict));
        }
      }
      this.suspects.clear();
    }
    return transitions;
  }

  /** Commands waiting for a node (not removed). */
  pendingFor(nodeId: string): DatanodeCommand[] {
    return [...(this.pending.get(nodeId) ?? [])].map(([chunkId, p]) => ({ type: "delete", chunkId, version: p.version, reason: p.reason }));
  }

  // ---- internals ----

  private orphansDeletable(now: number): boolean {
    return now >= this.opts.orphanGraceUntilMs && (this.opts.orphanDeletesAllowed?.() ?? true);
  }

  private addReplica(node: NodeRecord, chunkId: string, version: number, corrupt: boolean, classify: ChunkClassifier, listedInFull = false): ChunkVerdict {
    this.locations.upsert(chunkId, this.indexOf(node), version, corrupt, listedInFull);
    const verdict = classify(chunkId, version);
    if (verdict === "delete" || verdict === "stale") this.enqueue(node.id, chunkId, version, reasonOf(verdict));
    else if (verdict === "defer") this.defer(node.id, chunkId, version);
    else if (verdict === "orphan") {
      if (this.orphansDeletable(this.clock())) this.enqueue(node.id, chunkId, version, "orphan");
      else {
        let susp = this.suspects.get(node.id);
        if (!susp) this.suspects.set(node.id, (susp = new Map()));
        susp.set(chunkId, version);
      }
    }
    return verdict;
  }

  private defer(nodeId: string, chunkId: string, version: number): void {
    let later = this.deferred.get(nodeId);
    if (!later) this.deferred.set(nodeId, (later = new Map()));
    later.set(chunkId, version);
  }

  /** The node's index in `locations`. */
  private indexOf(node: NodeRecord): number {
    const i = this.nodeIndex.get(node.id);
    if (i === undefined) throw new Error(`invariant broken: node ${node.id} is not interned`);
    return i;
  }

  private upsert(node: NodeRecord, chunkId: string, version: number, corrupt: boolean): void {
    // The latest word of the node wins: a copy it lists as good again (re-replicated onto it) is good.
    this.locations.upsert(chunkId, this.indexOf(node), version, corrupt);
  }

  private removeReplica(node: NodeRecord, chunkId: string, version: number): void {
    this.locations.remove(chunkId, this.indexOf(node), version);
    this.pending.get(node.id)?.delete(chunkId);
    this.suspects.get(node.id)?.delete(chunkId);
    this.deferred.get(node.id)?.delete(chunkId);
  }

  private holds(nodeId: string, chunkId: string, version: number): boolean {
    const i = this.nodeIndex.get(nodeId);
    return i !== undefined && this.locations.holds(chunkId, i, version);
  }

  private enqueue(nodeId: string, chunkId: string, version: number, reason: DeleteReason): void {
    let p = this.pending.get(nodeId);
    if (!p) this.pending.set(nodeId, (p = new Map()));
    p.set(chunkId, { version, reason });
  }

  private takeCommands(nodeId: string): DatanodeCommand[] {
    const p = this.pending.get(nodeId);
    if (!p || p.size === 0) return [];
    const out: DatanodeCommand[] = [];
    for (const [chunkId, { version, reason }] of p) {
      if (out.length >= this.opts.commandsPerHeartbeatMax) break;
      out.push({ type: "delete", chunkId, version, reason });
      // Delivered once; if the order is lost the next full report re-judges the chunk.
      p.delete(chunkId);
    }
    return out;
  }
}

function reasonOf(verdict: ChunkVerdict): DeleteReason {
  return verdict === "stale" ? "stale" : verdict === "orphan" ? "orphan" : "deleted";
}
