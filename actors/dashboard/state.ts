/**
 * The dashboard's model of the cluster: a pure reducer (no I/O, no clock of its own). The wiring
 * feeds it events from `<prefix>.events.>` and the namenode's `nodes`, `fsck` and `ls` replies,
 * each with the time it happened; `viewOf` turns it into the JSON the page renders.
 * Everything it keeps is capped, so a busy cluster cannot grow the dashboard's memory.
 */
import type { FsckReply, LsEntry, NodeInfo } from "../../messages/index.js";

/** Limits of what the dashboard keeps. */
export interface DashboardLimits {
  /** Events kept for the page (newest last); older ones are dropped. */
  eventsMax: number;
  /** Seconds of throughput history (one bucket per second). */
  throughputWindowS: number;
  /** Files listed at most (the walk stops there and says the list is truncated). */
  filesMax: number;
  /** A datanode whose last heartbeat is older than this is shown as silent (before the namenode calls it dead). */
  silentAfterMs: number;
}

export const DEFAULT_LIMITS: DashboardLimits = { eventsMax: 200, throughputWindowS: 120, filesMax: 200, silentAfterMs: 3000 };

/** JSON-safe value (events are msgpack and may carry BigInt or bytes). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface EventView {
  /** Dashboard-local sequence, increasing by one per event received (lets the page ask for "after N"). */
  seq: number;
  kind: string;
  /** When the event was published (publisher's clock), ms since the epoch. */
  atMs: number;
  source: string;
  /** One line for people, e.g. "dn2 is dead after 3012 ms without a heartbeat". */
  summary: string;
  /** Warn-level events (dead nodes, corruption, failed repairs) are highlighted. */
  level: "info" | "warn";
  fields: Record<string, JsonValue>;
}

export interface NodeView extends NodeInfo {
  /** Heartbeat older than `silentAfterMs` while the namenode still says alive: likely dying. */
  silent: boolean;
}

interface NodeEntry {
  info: NodeInfo;
  /** When an event last set this node's state; a poll sent before that does not override it. */
  eventStateAtMs: number;
}

interface Bucket {
  /** Second since the epoch. */
  s: number;
  /** Bytes of files created or appended (what clients wrote). */
  files: number;
  /** Bytes that landed on datanodes (replicas, repairs, appends), from the growth of their used bytes. */
  stored: number;
}

export interface DashboardState {
  readonly limits: DashboardLimits;
  readonly prefix: string;
  readonly startedAtMs: number;
  namenode: { reachable: boolean; error: string | null; lastOkAtMs: number | null };
  nodes: Map<string, NodeEntry>;
  nodesAtMs: number | null;
  /** Used bytes per node at the previous poll (for the stored-bytes rate) and when that poll was. */
  usedBefore: Map<string, number>;
  usedBeforeAtMs: number | null;
  fsck: FsckReply | null;
  fsckAtMs: number | null;
  files: { entries: LsEntry[]; truncated: boolean; atMs: number | null; error: string | null };
  /** A file event arrived since the last walk: the file list is worth refreshing. */
  filesDirty: boolean;
  events: EventView[];
  nextSeq: number;
  buckets: Bucket[];
  /** Bumped on every change: the server pushes only when it moved. */
  version: number;
}

export function createState(prefix: string, startedAtMs: number, limits: Partial<DashboardLimits> = {}): DashboardState {
  return {
    limits: { ...DEFAULT_LIMITS, ...limits },
    prefix,
    startedAtMs,
    namenode: { reachable: false, error: null, lastOkAtMs: null },
    nodes: new Map(),
    nodesAtMs: null,
    usedBefore: new Map(),
    usedBeforeAtMs: null,
    fsck: null,
    fsckAtMs: null,
    files: { entries: [], truncated: false, atMs: null, error: null },
    filesDirty: true,
    events: [],
    nextSeq: 1,
    buckets: [],
    version: 0,
  };
}

// ---- JSON safety ----

const STRING_MAX = 512;
const ARRAY_MAX = 16;
const KEYS_MAX = 32;

/** A bounded, JSON-safe copy of a decoded event value. */
export function toJsonSafe(v: unknown, depth = 0): JsonValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v.length > STRING_MAX ? `${v.slice(0, STRING_MAX)}…` : v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "boolean") return v;
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (depth >= 3) return "…";
  if (Array.isArray(v)) {
    const out = v.slice(0, ARRAY_MAX).map((x) => toJsonSafe(x, depth + 1));
    if (v.length > ARRAY_MAX) out.push(`… ${v.length - ARRAY_MAX} more`);
    return out;
  }
  if (typeof v === "object") {
    const out: Record<string, JsonValue> = {};
    let n = 0;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (n++ >= KEYS_MAX) break;
      out[k] = toJsonSafe(x, depth + 1);
    }
    return out;
  }
  return String(v);
}

// ---- events ----

function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : "?";
}

function num(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function shortId(v: unknown): string {
  const s = str(v);
  return s.length > 12 ? `${s.slice(0, 8)}…` : s;
}

/** Bytes as people read them: 1.5 MiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

/** Bytes an append event says were appended (the event's field name is not settled yet; take what is there). */
export function appendedBytes(e: Record<string, unknown>): number {
  return num(e.sizeBytes) ?? num(e.size) ?? num(e.bytes) ?? 0;
}

const WARN_KINDS = new Set([
  "datanode.dead",
  "datanode.full",
  "datanode.dir.failed",
  "chunk.corrupt",
  "chunk.underreplicated",
  "chunk.repair.failed",
  "chunk.stale",
  "namenode.safemode.entered",
]);

/** One line describing an event. */
export function summarize(kind: string, e: Record<string, unknown>): string {
  const where = e.path !== undefined ? ` of ${str(e.path)}` : "";
  switch (kind) {
    case "namenode.started":
      return `namenode ${str(e.id)} started (epoch ${str(e.epoch)}, ${str(e.files)} files)`;
    case "namenode.safemode.entered":
      return `namenode entered safe mode (${str(e.committedChunks)} committed chunks)`;
    case "namenode.safemode.left":
      return `namenode left safe mode after ${str(e.afterMs)} ms (${str(e.reason)})`;
    case "file.created":
      return `${str(e.path)} created (${formatBytes(num(e.size) ?? 0)}, ${str(e.chunks)} chunks)`;
    case "file.deleted":
      return `${str(e.path)} deleted${e.reason ? ` (${str(e.reason)})` : ""}`;
    case "file.renamed":
      return `${str(e.src)} renamed to ${str(e.dst)}`;
    case "file.appended":
      return `${formatBytes(appendedBytes(e))} appended to ${str(e.path)}`;
    case "chunk.committed":
      return `chunk ${str(e.index)}${where} committed on ${Array.isArray(e.replicas) ? e.replicas.map(str).join(", ") : "?"}`;
    case "chunk.stored":
      return `chunk ${shortId(e.chunkId)} v${str(e.version)} stored on ${str(e.dn)} (${formatBytes(num(e.sizeBytes) ?? 0)})`;
    case "chunk.deleted":
      return `chunk ${shortId(e.chunkId)} v${str(e.version)} deleted on ${str(e.dn)} (${str(e.reason)})`;
    case "chunk.corrupt":
      return `chunk ${shortId(e.chunkId)}${where} corrupt on ${str(e.dn)}: ${str(e.reason)}`;
    case "chunk.stale":
      return `stale copy of chunk ${shortId(e.chunkId)}${where} on ${str(e.dn)} (v${str(e.version)}, current v${str(e.currentVersion)})`;
    case "chunk.underreplicated":
      return `chunk ${shortId(e.chunkId)}${where} has ${str(e.live)} of ${str(e.replication)} replicas${e.missing ? " (missing)" : ""}`;
    case "chunk.repaired":
      return `chunk ${shortId(e.chunkId)}${where} copied from ${str(e.source)} to ${Array.isArray(e.targets) ? e.targets.map(str).join(", ") : "?"}`;
    case "chunk.repair.failed":
      return `repair of chunk ${shortId(e.chunkId)} from ${str(e.source)} failed: ${str(e.code)} ${str(e.reason)}`;
    case "chunk.trimmed":
      return `surplus copy of chunk ${shortId(e.chunkId)}${where} trimmed from ${str(e.dn)} (${str(e.reason)})`;
    case "chunk.lease.granted":
      return `append lease on chunk ${shortId(e.chunkId)} granted${e.primary ? ` to ${str(e.primary)}` : ""}`;
    case "chunk.lease.ended":
      return `append lease on chunk ${shortId(e.chunkId)} ended`;
    case "chunk.version.bumped":
      return `chunk ${shortId(e.chunkId)} now at v${str(e.version)}`;
    case "datanode.joined":
      return `${str(e.id)} joined`;
    case "datanode.alive":
      return `${str(e.id)} is alive again (was ${str(e.previous)})`;
    case "datanode.dead":
      return `${str(e.id)} is dead after ${str(e.silentMs)} ms without a heartbeat`;
    case "datanode.full":
      return `${str(e.id)} is full (${formatBytes(num(e.availableBytes) ?? 0)} available)`;
    case "datanode.dir.failed":
      return `${str(e.dn)}: data dir ${str(e.dir)} failed (${str(e.reason)}), ${str(e.chunks)} chunks lost`;
    default:
      return kind;
  }
}

/** The event kind from `<prefix>.events.<kind>`, or the body's `kind`. */
export function kindOf(prefix: string, subject: string, body: Record<string, unknown>): string {
  const head = `${prefix}.events.`;
  if (subject.startsWith(head)) return subject.slice(head.length);
  return typeof body.kind === "string" ? body.kind : "unknown";
}

function secondOf(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Adds `bytes` of one series to the bucket of second `s`, dropping buckets that fell out of the window. */
function addBytes(state: DashboardState, s: number, series: "files" | "stored", bytes: number): void {
  if (!(bytes > 0)) return;
  const oldest = s - state.limits.throughputWindowS + 1;
  let b = state.buckets.find((x) => x.s === s);
  if (!b) {
    b = { s, files: 0, stored: 0 };
    state.buckets.push(b);
    state.buckets.sort((a, c) => a.s - c.s);
  }
  b[series] += bytes;
  while (state.buckets.length > 0 && state.buckets[0].s < oldest) state.buckets.shift();
}

/** A node's state set by an event (ahead of the next poll). */
function setNodeState(state: DashboardState, id: string, nodeState: NodeInfo["state"], nowMs: number): void {
  const entry = state.nodes.get(id);
  if (entry) {
    entry.info = { ...entry.info, state: nodeState };
    entry.eventStateAtMs = nowMs;
    return;
  }
  const info: NodeInfo = { id, state: nodeState, capacityBytes: 0, usedBytes: 0, availableBytes: 0, chunks: 0, load: 0, activeWrites: 0, lastHeartbeatMsAgo: 0 };
  state.nodes.set(id, { info, eventStateAtMs: nowMs });
}

/** Applies one event received at `nowMs`. */
export function applyEvent(state: DashboardState, subject: string, raw: unknown, nowMs: number): EventView {
  const body = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : { value: raw };
  const kind = kindOf(state.prefix, subject, body);
  const { kind: _k, atMs: _a, source: _s, ...rest } = body;
  const fields = toJsonSafe(rest) as Record<string, JsonValue>;
  const ev: EventView = {
    seq: state.nextSeq++,
    kind,
    atMs: num(body.atMs) ?? nowMs,
    source: str(body.source),
    summary: summarize(kind, body),
    level: WARN_KINDS.has(kind) ? "warn" : "info",
    fields,
  };
  state.events.push(ev);
  if (state.events.length > state.limits.eventsMax) state.events.splice(0, state.events.length - state.limits.eventsMax);

  const id = typeof body.id === "string" ? body.id : undefined;
  switch (kind) {
    case "datanode.dead":
      if (id) setNodeState(state, id, "dead", nowMs);
      break;
    case "datanode.joined":
    case "datanode.alive":
      if (id) setNodeState(state, id, "alive", nowMs);
      break;
    case "datanode.full":
      if (id) setNodeState(state, id, "full", nowMs);
      break;
    case "file.created":
      addBytes(state, secondOf(nowMs), "files", num(body.size) ?? 0);
      state.filesDirty = true;
      break;
    case "file.appended":
      addBytes(state, secondOf(nowMs), "files", appendedBytes(body));
      state.filesDirty = true;
      break;
    case "file.deleted":
    case "file.renamed":
      state.filesDirty = true;
      break;
  }
  state.version++;
  return ev;
}

/**
 * Applies a `nodes` reply for a request sent at `requestedAtMs` and answered at `nowMs`. A node state
 * set by an event after the request was sent wins over the reply (the reply is older news). Growth of
 * each live node's used bytes since the previous poll counts as stored bytes, spread over the seconds between.
 */
export function applyNodes(state: DashboardState, nodes: NodeInfo[], requestedAtMs: number, nowMs: number): void {
  const seen = new Set<string>();
  let storedBytes = 0;
  for (const n of nodes) {
    seen.add(n.id);
    const entry = state.nodes.get(n.id);
    const keepState = entry && entry.eventStateAtMs > requestedAtMs ? entry.info.state : undefined;
    state.nodes.set(n.id, { info: { ...n, state: keepState ?? n.state }, eventStateAtMs: entry?.eventStateAtMs ?? 0 });
    const before = state.usedBefore.get(n.id);
    if (before !== undefined && n.state !== "dead" && n.usedBytes > before) storedBytes += n.usedBytes - before;
  }
  // A node the namenode no longer lists (it restarted and has not heard from it yet) keeps its last row.
  state.usedBefore = new Map(nodes.filter((n) => n.state !== "dead").map((n) => [n.id, n.usedBytes]));
  if (state.usedBeforeAtMs !== null && storedBytes > 0) {
    const to = secondOf(nowMs);
    // The seconds after the previous poll up to this one (at least this one, at most the window).
    const from = Math.max(Math.min(secondOf(state.usedBeforeAtMs) + 1, to), to - state.limits.throughputWindowS + 1);
    const seconds = to - from + 1;
    for (let s = from; s <= to; s++) addBytes(state, s, "stored", storedBytes / seconds);
  }
  state.usedBeforeAtMs = nowMs;
  state.nodesAtMs = nowMs;
  markReachable(state, nowMs);
}

export function applyFsck(state: DashboardState, fsck: FsckReply, nowMs: number): void {
  state.fsck = fsck;
  state.fsckAtMs = nowMs;
  markReachable(state, nowMs);
}

/** A fresh file list (a breadth-first walk cut at `filesMax`). */
export function applyFiles(state: DashboardState, entries: LsEntry[], truncated: boolean, nowMs: number): void {
  state.files = { entries: entries.slice(0, state.limits.filesMax), truncated: truncated || entries.length > state.limits.filesMax, atMs: nowMs, error: null };
  state.filesDirty = false;
  state.version++;
}

/** The file walk failed (e.g. a directory too large for one reply): the last list stays, with the reason. */
export function applyFilesError(state: DashboardState, message: string): void {
  state.files = { ...state.files, error: message };
  state.version++;
}

function markReachable(state: DashboardState, nowMs: number): void {
  state.namenode = { reachable: true, error: null, lastOkAtMs: nowMs };
  state.version++;
}

/** A poll failed (namenode down, timeout): the page says so and shows the last known state as stale. */
export function applyPollError(state: DashboardState, message: string): void {
  state.namenode = { ...state.namenode, reachable: false, error: message };
  // Bumped on every failed poll too: the page's "last answer N s ago" must keep counting.
  state.version++;
}

// ---- the view ----

export interface ThroughputPoint {
  /** Second since the epoch. */
  s: number;
  files: number;
  stored: number;
}

export interface DashboardView {
  prefix: string;
  nowMs: number;
  startedAtMs: number;
  namenode: { reachable: boolean; error: string | null; lastOkAgoMs: number | null };
  nodes: NodeView[];
  nodesAgeMs: number | null;
  fsck: FsckReply | null;
  fsckAgeMs: number | null;
  files: { entries: LsEntry[]; truncated: boolean; ageMs: number | null; error: string | null };
  throughput: {
    windowS: number;
    /** One point per second of the window, oldest first, zeros included. */
    points: ThroughputPoint[];
    /** Average bytes per second over the last `rateWindowS` complete seconds. */
    filesRate: number;
    storedRate: number;
    rateWindowS: number;
    filesTotal: number;
    storedTotal: number;
  };
  lastSeq: number;
  limits: DashboardLimits;
}

const RATE_WINDOW_S = 5;

/** What the page renders, at `nowMs`. */
export function viewOf(state: DashboardState, nowMs: number): DashboardView {
  const now = secondOf(nowMs);
  const windowS = state.limits.throughputWindowS;
  const bySecond = new Map(state.buckets.map((b) => [b.s, b]));
  const points: ThroughputPoint[] = [];
  for (let s = now - windowS + 1; s <= now; s++) {
    const b = bySecond.get(s);
    points.push({ s, files: b?.files ?? 0, stored: b?.stored ?? 0 });
  }
  // The current second is still filling: rates use the complete seconds before it.
  const recent = points.slice(-RATE_WINDOW_S - 1, -1);
  const avg = (k: "files" | "stored") => recent.reduce((a, p) => a + p[k], 0) / Math.max(1, recent.length);
  const ids = [...state.nodes.keys()].sort();
  return {
    prefix: state.prefix,
    nowMs,
    startedAtMs: state.startedAtMs,
    namenode: {
      reachable: state.namenode.reachable,
      error: state.namenode.error,
      lastOkAgoMs: state.namenode.lastOkAtMs === null ? null : nowMs - state.namenode.lastOkAtMs,
    },
    nodes: ids.map((id) => {
      const info = state.nodes.get(id)!.info;
      return { ...info, silent: info.state !== "dead" && info.lastHeartbeatMsAgo > state.limits.silentAfterMs };
    }),
    nodesAgeMs: state.nodesAtMs === null ? null : nowMs - state.nodesAtMs,
    fsck: state.fsck,
    fsckAgeMs: state.fsckAtMs === null ? null : nowMs - state.fsckAtMs,
    files: {
      entries: state.files.entries,
      truncated: state.files.truncated,
      ageMs: state.files.atMs === null ? null : nowMs - state.files.atMs,
      error: state.files.error,
    },
    throughput: {
      windowS,
      points,
      filesRate: avg("files"),
      storedRate: avg("stored"),
      rateWindowS: RATE_WINDOW_S,
      filesTotal: points.reduce((a, p) => a + p.files, 0),
      storedTotal: points.reduce((a, p) => a + p.stored, 0),
    },
    lastSeq: state.nextSeq - 1,
    limits: state.limits,
  };
}

/** Events with `seq` greater than `afterSeq` (at most `max`, the newest). */
export function eventsAfter(state: DashboardState, afterSeq: number, max = state.limits.eventsMax): EventView[] {
  const out = state.events.filter((e) => e.seq > afterSeq);
  return out.length > max ? out.slice(out.length - max) : out;
}
