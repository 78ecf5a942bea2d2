/**
 * The replication watchdog's decisions, as pure functions from (context, event)
 * to the next context. Every function returns a new context whose `outbox`
 * holds the effects of that step; nothing here does I/O or reads a clock.
 *
 * Memory is kept per chunk only while a chunk needs attention (under- or
 * over-replicated, corrupt copy, repair running or failed): a healthy chunk
 * has no entry.
 *
 * Zones: a repair's targets go to zones the chunk lacks first (then the least crowded), surplus
 * copies are trimmed from the most crowded zone first, and a chunk whose copies all sit in one
 * zone while another zone has a usable node is mis-placed: it gets one copy in another zone (at
 * a lower priority than repairs, within half of `repairInflightMax`), after which the surplus
 * trim drops one from the crowded zone. More generally a chunk is mis-placed when its copies cover
 * fewer zones than they could (min(replication, zones)): a repair made while the only usable node
 * of a zone was busy puts the copy in a crowded zone rather than wait, and is re-spread later.
 * Copies on nodes being decommissioned (`retiring`) serve as sources but never count, and such
 * nodes are never targets.
 */
import { zoneOf } from "./placement.js";
import type {
  ChunkView,
  ClusterView,
  NodeView,
  Repair,
  WatchdogEffect,
  WatchdogEvent,
  WatchdogLimits,
  WatchdogStats,
} from "./watchdog-types.js";

/** Most sources/targets remembered as tried per chunk (bounds memory; older ones are forgotten). */
export const TRIED_REMEMBERED_MAX = 16;

/** True when a chunk must be in the watchdog's view: not exactly `replication` good copies, or a corrupt one. */
export function needsAttention(c: Pick<ChunkView, "good" | "corrupt" | "replication">): boolean {
  return c.good.length !== c.replication || c.corrupt.length > 0;
}

/**
 * The usable zones a chunk lacks when it is mis-placed: its `haveZones` (zones of its counted
 * copies) are fewer than they could be, min(replication, every zone it has or could have), for a
 * chunk of replication ≥ 2. `usableZones`: zones with a node that can take a copy. Undefined when
 * the chunk is as spread as it can be (with 2 zones and replication 3: 2 + 1 is spread).
 */
export function lackingZones(haveZones: Iterable<string>, replication: number, usableZones: Iterable<string>): string[] | undefined {
  if (replication < 2) return undefined;
  const have = new Set(haveZones);
  if (have.size === 0) return undefined;
  const lacking: string[] = [];
  for (const z of usableZones) if (!have.has(z) && !lacking.includes(z)) lacking.push(z);
  return have.size < Math.min(replication, have.size + lacking.length) ? lacking : undefined;
}

/** What the watchdog remembers about one chunk that needs attention. */
export interface ChunkTrack {
  /** Failed repair attempts since the chunk was last healthy (or unparked). */
  attempts: number;
  /** Sources and targets of failed attempts: tried last next time. */
  triedSources: string[];
  triedTargets: string[];
  /** After `repairAttemptsMax` failures the chunk waits until then, and is tried afresh. */
  parkedUntilMs: number | null;
  /** `chunk.underreplicated` was announced for this episode. */
  announced: boolean;
  /** dn → when and why its copy was ordered deleted; such copies no longer count as good. */
  ordered: Record<string, { atMs: number; reason: "surplus" | "corrupt" }>;
}

export interface WatchdogInput {
  limits: WatchdogLimits;
  /** When the namenode started (safe mode's `safeModeMaxMs` counts from it). */
  startedAtMs: number;
  /** Makes repair ids unique across namenode runs (e.g. `e<epoch>`); [A-Za-z0-9_-]. */
  repairIdPrefix: string;
}

export interface WatchdogContext {
  readonly limits: WatchdogLimits;
  readonly startedAtMs: number;
  readonly repairIdPrefix: string;
  nextRepairSeq: number;
  /** When the reported fraction was first reached in safe mode (null: not yet). */
  reportedSinceMs: number | null;
  repairs: Map<string, Repair>;
  chunks: Map<string, ChunkTrack>;
  /** Effects of the last event only; the wiring executes them after each step. */
  outbox: WatchdogEffect[];
  stats: WatchdogStats;
}

/** The context a watchdog starts with. */
export function initialContext(input: WatchdogInput): WatchdogContext {
  return {
    limits: input.limits,
    startedAtMs: input.startedAtMs,
    repairIdPrefix: input.repairIdPrefix,
    nextRepairSeq: 1,
    reportedSinceMs: null,
    repairs: new Map(),
    chunks: new Map(),
    outbox: [],
    stats: { underReplicated: 0, missing: 0, overReplicated: 0, corrupt: 0 },
  };
}

/** A copy whose maps and tracks may be changed without touching `ctx`, with an empty outbox. */
function fork(ctx: WatchdogContext): WatchdogContext {
  const chunks = new Map<string, ChunkTrack>();
  for (const [id, t] of ctx.chunks) {
    const ordered: ChunkTrack["ordered"] = {};
    for (const [dn, o] of Object.entries(t.ordered)) ordered[dn] = { ...o };
    chunks.set(id, { ...t, triedSources: [...t.triedSources], triedTargets: [...t.triedTargets], ordered });
  }
  return { ...ctx, repairs: new Map(ctx.repairs), chunks, outbox: [], stats: { ...ctx.stats } };
}

function newTrack(): ChunkTrack {
  return { attempts: 0, triedSources: [], triedTargets: [], parkedUntilMs: null, announced: false, ordered: {} };
}

function remember(list: string[], ids: readonly string[]): void {
  for (const id of ids) if (!list.includes(id)) list.push(id);
  if (list.length > TRIED_REMEMBERED_MAX) list.splice(0, list.length - TRIED_REMEMBERED_MAX);
}

// ---- safe mode ----

/** Whether safe mode is over on this tick, and why. */
export function safeModeDecision(ctx: WatchdogContext, view: ClusterView): { leave: boolean; reason: string; reportedSinceMs: number | null } {
  const { limits } = ctx;
  const now = view.nowMs;
  if (view.committedChunks === 0) return { leave: true, reason: "the namespace has no committed chunk", reportedSinceMs: now };
  const fraction = view.reportedChunks / view.committedChunks;
  let since = ctx.reportedSinceMs;
  if (since === null && fraction >= limits.safeModeReportedFraction) since = now;
  if (since !== null && now - since >= limits.safeModeExtensionMs) {
    return { leave: true, reason: `${view.reportedChunks} of ${view.committedChunks} chunks have a reported replica`, reportedSinceMs: since };
  }
  if (now - ctx.startedAtMs >= limits.safeModeMaxMs) {
    return {
      leave: true,
      reason: `safeModeMaxMs (${limits.safeModeMaxMs} ms) passed with ${view.reportedChunks} of ${view.committedChunks} chunks reported`,
      reportedSinceMs: since,
    };
  }
  return { leave: false, reason: "", reportedSinceMs: since };
}

/** A tick while in safe mode: only note progress towards leaving it. */
export function safeModeTick(ctx: WatchdogContext, view: ClusterView): WatchdogContext {
  const next = fork(ctx);
  next.reportedSinceMs = safeModeDecision(ctx, view).reportedSinceMs;
  next.stats = countStats(view);
  return next;
}

/** Leaves safe mode: emits `safemode-left`. The same tick then plans normally. */
export function leaveSafeMode(ctx: WatchdogContext, view: ClusterView): WatchdogContext {
  const d = safeModeDecision(ctx, view);
  const next = fork(ctx);
  next.reportedSinceMs = d.reportedSinceMs;
  next.outbox.push({
    type: "safemode-left",
    reason: d.reason,
    afterMs: view.nowMs - ctx.startedAtMs,
    reportedChunks: view.reportedChunks,
    committedChunks: view.committedChunks,
  });
  return next;
}

function countStats(view: ClusterView): WatchdogStats {
  const s: WatchdogStats = { underReplicated: 0, missing: 0, overReplicated: 0, corrupt: 0 };
  for (const c of view.chunks) {
    if (c.good.length === 0 && (c.retiring?.length ?? 0) === 0) s.missing++;
    else if (c.good.length < c.replication) s.underReplicated++;
    else if (c.good.length > c.replication) s.overReplicated++;
    if (c.corrupt.length > 0) s.corrupt++;
  }
  return s;
}

// ---- repair outcomes ----

/** Applies the outcome of a repair. Outcomes of repairs no longer tracked (timed out already) are ignored. */
export function onRepairOutcome(ctx: WatchdogContext, event: Exclude<WatchdogEvent, { type: "TICK" } | { type: "LIMITS" }>): WatchdogContext {
  const r = ctx.repairs.get(event.repairId);
  if (!r) return { ...ctx, outbox: [] };
  const next = fork(ctx);
  next.repairs.delete(r.repairId);
  const ms = Math.max(0, event.nowMs - r.startedAtMs);
  if (event.type === "REPAIR_SUCCEEDED") {
    const failed = event.failed.filter((f) => r.targets.includes(f.dn));
    const confirmed = event.confirmed.filter((dn) => r.targets.includes(dn));
    if (confirmed.length > 0) {
      next.outbox.push({ type: "repaired", repairId: r.repairId, chunkId: r.chunkId, version: r.version, source: r.source, targets: confirmed, failed, ms, bytes: r.sizeBytes * confirmed.length });
    }
    if (failed.length > 0 || confirmed.length === 0) {
      const code = failed[0]?.code ?? "UNAVAILABLE";
      const why = failed.length > 0 ? failed.map((f) => `${f.dn}: ${f.message}`).join("; ") : "no target confirmed";
      recordFailure(next, r, [], failed.length > 0 ? failed.map((f) => f.dn) : r.targets, code, why, event.nowMs, ms);
    }
    return next;
  }
  if (event.type === "REPAIR_FAILED") {
    recordFailure(next, r, [r.source], [], event.code, event.message, event.nowMs, ms);
  } else {
    // No answer: either end may be the culprit.
    recordFailure(next, r, [r.source], r.targets, "TIMEOUT", `no answer from ${r.source} within ${ctx.limits.repairTimeoutMs} ms`, event.nowMs, ms);
  }
  return next;
}

function recordFailure(
  ctx: WatchdogContext,
  r: Repair,
  badSources: string[],
  badTargets: string[],
  code: string,
  reason: string,
  nowMs: number,
  ms: number,
): void {
  let track = ctx.chunks.get(r.chunkId);
  if (!track) ctx.chunks.set(r.chunkId, (track = newTrack()));
  track.attempts++;
  remember(track.triedSources, badSources);
  remember(track.triedTargets, badTargets);
  const parked = track.attempts >= ctx.limits.repairAttemptsMax;
  if (parked) track.parkedUntilMs = nowMs + ctx.limits.repairTimeoutMs;
  ctx.outbox.push({
    type: "repair-failed",
    repairId: r.repairId,
    chunkId: r.chunkId,
    version: r.version,
    source: r.source,
    targets: r.targets,
    attempt: r.attempt,
    code,
    reason,
    parked,
    ms,
  });
}

// ---- planning ----

/** Repairs each node takes part in, and bytes headed to each node. */
export interface Busy {
  repairs: Map<string, number>;
  incomingBytes: Map<string, number>;
  total: number;
}

export function busyOf(repairs: ReadonlyMap<string, Repair>): Busy {
  const b: Busy = { repairs: new Map(), incomingBytes: new Map(), total: repairs.size };
  for (const r of repairs.values()) addBusy(b, r);
  return b;
}

function addBusy(b: Busy, r: Repair): void {
  for (const dn of [r.source, ...r.targets]) b.repairs.set(dn, (b.repairs.get(dn) ?? 0) + 1);
  for (const dn of r.targets) b.incomingBytes.set(dn, (b.incomingBytes.get(dn) ?? 0) + r.sizeBytes);
}

const cmpId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Priority of under-replicated chunks, like HDFS's queues: fewest good copies
 * first (1 left before 2 left), then the most copies missing, then by id so
 * the order is repeatable.
 */
export function repairPriority(a: ChunkView, b: ChunkView): number {
  return a.good.length - b.good.length || b.replication - b.good.length - (a.replication - a.good.length) || cmpId(a.chunkId, b.chunkId);
}

/** One tick out of safe mode: time out repairs, then order repairs and trims. */
export function planTick(ctx: WatchdogContext, view: ClusterView): WatchdogContext {
  const next = fork(ctx);
  // Keep what leaveSafeMode may have put in the outbox on the same event.
  next.outbox = [...ctx.outbox];
  const { limits } = ctx;
  const now = view.nowMs;

  for (const r of [...next.repairs.values()]) {
    if (now - r.startedAtMs < limits.repairTimeoutMs) continue;
    next.repairs.delete(r.repairId);
    recordFailure(next, r, [r.source], r.targets, "TIMEOUT", `no answer from ${r.source} within ${limits.repairTimeoutMs} ms`, now, now - r.startedAtMs);
  }

  const nodes = new Map<string, NodeView>(view.nodes.map((n) => [n.id, n]));
  const zoneOfNode = (id: string): string => zoneOf(nodes.get(id) ?? {});
  // A node may take new copies: alive (not full, not dead) and not being decommissioned.
  const takesCopies = (n: NodeView): boolean => n.state === "alive" && !n.decommissioning;
  const usableZones = new Set(view.nodes.filter(takesCopies).map(zoneOf));
  const busy = busyOf(next.repairs);
  const running = new Set([...next.repairs.values()].map((r) => r.chunkId));
  const inView = new Set<string>();
  next.stats = countStats(view);

  const chunks = [...view.chunks].sort(repairPriority);
  for (const c of chunks) {
    inView.add(c.chunkId);
    let track = next.chunks.get(c.chunkId);
    if (track) reviewOrders(next, track, c, now);
    const ordered = new Set(Object.keys(track?.ordered ?? {}));
    const good = c.good.filter((dn) => !ordered.has(dn));
    const corrupt = c.corrupt.filter((dn) => !ordered.has(dn));
    // Copies on nodes being decommissioned: sources for repairs, never counted.
    const retiring = (c.retiring ?? []).filter((dn) => !ordered.has(dn));
    const sources = [...good, ...retiring];
    const healthy = good.length === c.replication && corrupt.length === 0 && ordered.size === 0;
    const misplaced = healthy ? lackingZones(good.map(zoneOfNode), c.replication, usableZones) : undefined;
    if (healthy && misplaced === undefined && !running.has(c.chunkId)) {
      next.chunks.delete(c.chunkId);
      continue;
    }
    if (!track) next.chunks.set(c.chunkId, (track = newTrack()));
    const excluded = new Set([...c.holders, ...c.good, ...c.corrupt, ...retiring, ...ordered]);
    const possible = [...nodes.values()].filter((n) => takesCopies(n) && !excluded.has(n.id));
    // Zones of the counted copies: new copies go to zones with the fewest.
    const zoneCounts = new Map<string, number>();
    for (const dn of good) zoneCounts.set(zoneOfNode(dn), (zoneCounts.get(zoneOfNode(dn)) ?? 0) + 1);
    const unparked = (t: ChunkTrack): boolean => {
      if (t.parkedUntilMs === null) return true;
      if (now < t.parkedUntilMs) return false;
      t.parkedUntilMs = null;
      t.attempts = 0;
      t.triedSources = [];
      t.triedTargets = [];
      return true;
    };
    /** Orders a copy from a source to up to `need` targets picked out of `candidates` (nothing when none fits). */
    const order = (t: ChunkTrack, need: number, candidates: NodeView[], reason: "underreplicated" | "misplaced"): void => {
      const source = pickSource(sources, nodes, busy, t, limits);
      if (!source) return;
      const targets = pickTargets(need, candidates, busy, t, limits, c.sizeBytes, source, zoneCounts, zoneOfNode);
      if (targets.length === 0) return;
      const repair: Repair = {
        repairId: `${ctx.repairIdPrefix}-${next.nextRepairSeq++}`,
        chunkId: c.chunkId,
        version: c.version,
        sizeBytes: c.sizeBytes,
        source,
        targets,
        startedAtMs: now,
        attempt: t.attempts + 1,
      };
      next.repairs.set(repair.repairId, repair);
      addBusy(busy, repair);
      busy.total++;
      running.add(c.chunkId);
      next.outbox.push({
        type: "replicate",
        repairId: repair.repairId,
        chunkId: c.chunkId,
        version: c.version,
        sizeBytes: c.sizeBytes,
        checksum: c.checksum,
        source,
        targets,
        attempt: repair.attempt,
        live: good.length,
        replication: c.replication,
        ...(reason === "misplaced" ? { reason } : {}),
      });
    };

    if (good.length < c.replication) {
      if (!track.announced) {
        track.announced = true;
        next.outbox.push({
          type: "underreplicated",
          chunkId: c.chunkId,
          version: c.version,
          live: good.length,
          replication: c.replication,
          ...(retiring.length > 0 ? { retiring: retiring.length } : {}),
        });
      }
      // No good copy left anywhere readable: nothing to repair from (counted as missing).
      if (sources.length === 0 || running.has(c.chunkId)) continue;
      if (!unparked(track)) continue;
      const need = c.replication - good.length;
      if (possible.length < need) {
        // Small cluster: a node holding a corrupt copy is the only place left for a good one.
        // Its copy is useless (never served), so it goes first; the node is a target once it is gone.
        for (const dn of corrupt) {
          if (nodes.get(dn)?.state !== "alive") continue;
          track.ordered[dn] = { atMs: now, reason: "corrupt" };
          next.outbox.push({ type: "delete", dn, chunkId: c.chunkId, version: c.version, reason: "corrupt" });
        }
      }
      if (busy.total >= limits.repairInflightMax) continue;
      order(track, need, possible, "underreplicated");
      continue;
    }

    // Enough good copies. Never trim while a repair of the chunk runs: its outcome changes the count.
    if (running.has(c.chunkId)) continue;
    track.announced = false;
    for (const dn of corrupt) {
      track.ordered[dn] = { atMs: now, reason: "corrupt" };
      next.outbox.push({ type: "delete", dn, chunkId: c.chunkId, version: c.version, reason: "corrupt" });
    }
    const surplus = good.length - c.replication;
    if (surplus > 0) {
      for (const dn of pickSurplus(good, surplus, nodes, zoneOfNode)) {
        track.ordered[dn] = { atMs: now, reason: "surplus" };
        next.outbox.push({ type: "delete", dn, chunkId: c.chunkId, version: c.version, reason: "surplus" });
      }
    } else if (misplaced !== undefined && busy.total < Math.max(1, Math.floor(limits.repairInflightMax / 2)) && unparked(track)) {
      // One copy into another zone; the next rounds trim the surplus from the crowded one. Half the
      // repair slots at most: a chunk short of copies must not wait behind a re-spread.
      order(track, 1, possible.filter((n) => misplaced.includes(zoneOf(n))), "misplaced");
    }
  }

  // Forget chunks that are healthy again (or gone), unless a repair of theirs is still running.
  for (const id of [...next.chunks.keys()]) if (!inView.has(id) && !running.has(id)) next.chunks.delete(id);
  return next;
}

/**
 * Follows up the delete orders of a chunk. A carried-out order is forgotten. A
 * surplus order is taken back when its node is dead (the order may wait for it
 * and strike after it returns, when its copy counts again) or when the chunk no
 * longer has copies to spare (another holder died or lost its copy). An order
 * without effect after `repairTimeoutMs` is sent again, to the same node only,
 * so a re-decision can never pick a second victim.
 */
function reviewOrders(ctx: WatchdogContext, track: ChunkTrack, c: ChunkView, now: number): void {
  const cancel = (dn: string) => {
    delete track.ordered[dn];
    ctx.outbox.push({ type: "cancel-delete", dn, chunkId: c.chunkId, version: c.version });
  };
  for (const [dn, o] of Object.entries(track.ordered)) {
    if (!c.holders.includes(dn)) delete track.ordered[dn];
    else if (o.reason === "surplus" && !c.good.includes(dn) && !c.corrupt.includes(dn)) cancel(dn);
  }
  const surplusOrders = Object.keys(track.ordered).filter((dn) => track.ordered[dn].reason === "surplus" && c.good.includes(dn));
  if (c.good.length - surplusOrders.length < c.replication) for (const dn of surplusOrders) cancel(dn);
  for (const [dn, o] of Object.entries(track.ordered)) {
    if (now - o.atMs < ctx.limits.repairTimeoutMs) continue;
    o.atMs = now;
    ctx.outbox.push({ type: "delete", dn, chunkId: c.chunkId, version: c.version, reason: o.reason });
  }
}

function pickSource(good: string[], nodes: Map<string, NodeView>, busy: Busy, track: ChunkTrack, limits: WatchdogLimits): string | undefined {
  const candidates = good.filter((dn) => {
    const n = nodes.get(dn);
    return n !== undefined && n.state !== "dead" && (busy.repairs.get(dn) ?? 0) < limits.repairInflightPerNodeMax;
  });
  const tried = (dn: string) => (track.triedSources.includes(dn) ? 1 : 0);
  candidates.sort((a, b) => {
    const na = nodes.get(a)!;
    const nb = nodes.get(b)!;
    return (
      tried(a) - tried(b) ||
      (busy.repairs.get(a) ?? 0) - (busy.repairs.get(b) ?? 0) ||
      na.load - nb.load ||
      na.activeWrites - nb.activeWrites ||
      cmpId(a, b)
    );
  });
  return candidates[0];
}

/**
 * Repair targets: nodes not tried before first, then in zones holding the fewest counted copies
 * (`zoneCounts`, updated as targets are picked: a zone the chunk lacks comes first), then the most
 * room, least busy, least loaded. A target that failed before still goes last even in a missing
 * zone, so a broken node in a lone zone cannot hold up a repair; the chunk is re-spread later.
 */
export function pickTargets(
  need: number,
  possible: NodeView[],
  busy: Busy,
  track: Pick<ChunkTrack, "triedTargets">,
  limits: Pick<WatchdogLimits, "repairInflightPerNodeMax">,
  sizeBytes: number,
  source: string,
  zoneCounts: ReadonlyMap<string, number> = new Map(),
  zoneOfNode: (id: string) => string = () => "",
): string[] {
  const room = (n: NodeView) => n.availableBytes - (busy.incomingBytes.get(n.id) ?? 0);
  const tried = (id: string) => (track.triedTargets.includes(id) ? 1 : 0);
  const base = possible
    .filter((n) => n.id !== source && (busy.repairs.get(n.id) ?? 0) < limits.repairInflightPerNodeMax && room(n) >= sizeBytes)
    .sort((a, b) => tried(a.id) - tried(b.id) || room(b) - room(a) || (busy.repairs.get(a.id) ?? 0) - (busy.repairs.get(b.id) ?? 0) || a.load - b.load || cmpId(a.id, b.id));
  const counts = new Map(zoneCounts);
  const out: string[] = [];
  while (out.length < need) {
    let best: NodeView | undefined;
    for (const n of base) {
      if (out.includes(n.id)) continue;
      if (!best) {
        best = n;
        continue;
      }
      const d = tried(n.id) - tried(best.id) || (counts.get(zoneOfNode(n.id)) ?? 0) - (counts.get(zoneOfNode(best.id)) ?? 0);
      if (d < 0) best = n;
    }
    if (!best) break;
    out.push(best.id);
    const z = zoneOfNode(best.id);
    counts.set(z, (counts.get(z) ?? 0) + 1);
  }
  return out;
}

/**
 * Which `surplus` of `good` to drop: one at a time from the zone with the most copies left, and
 * within it the fullest, then busiest node. Without zones: the fullest, then busiest nodes.
 */
export function pickSurplus(good: readonly string[], surplus: number, nodes: ReadonlyMap<string, NodeView>, zoneOfNode: (id: string) => string): string[] {
  const kept = [...good];
  const victims: string[] = [];
  const worse = (a: string, b: string): number => {
    const na = nodes.get(a);
    const nb = nodes.get(b);
    return (na?.availableBytes ?? 0) - (nb?.availableBytes ?? 0) || (nb?.load ?? 0) - (na?.load ?? 0) || cmpId(a, b);
  };
  while (victims.length < surplus && kept.length > 0) {
    const counts = new Map<string, number>();
    for (const dn of kept) counts.set(zoneOfNode(dn), (counts.get(zoneOfNode(dn)) ?? 0) + 1);
    const most = Math.max(...counts.values());
    const victim = kept.filter((dn) => counts.get(zoneOfNode(dn)) === most).sort(worse)[0];
    victims.push(victim);
    kept.splice(kept.indexOf(victim), 1);
  }
  return victims;
}
