/**
 * Wire schemas for every request. Requests are validated on arrival; a broken
 * field is named in the BAD_REQUEST error. Fields are only ever added.
 * `v` (protocol version) is optional on requests and defaults to 1.
 */
import { z } from "zod";
import type { NamenodeVerb, DatanodeVerb } from "./subjects.js";

export const PROTOCOL_VERSION = 1;

const id = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "must match [A-Za-z0-9_-]{1,128}");
const u32 = z.number().int().min(0).max(0xffff_ffff);
const size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const version = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const checksum = z.string().regex(/^crc32:[0-9a-f]{8}$/, "must look like crc32:0123abcd");
const envelope = { v: z.number().int().min(1).max(PROTOCOL_VERSION).optional() };
const path = z.string().min(1).max(4096);
/** A datanode's zone (rack, room, availability zone): placement spreads a chunk's replicas over zones. */
const zone = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must match [A-Za-z0-9_-]{1,64}");
/** Idempotency key of one append, chosen by the client (a uuid); a retry carries the same key. */
const appendKey = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "must match [A-Za-z0-9_-]{1,128}");
/** A lease epoch: namespace-wide, strictly increasing with every lease granted (logged). */
const epoch = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const crc = u32;
/**
 * Bytes: binary in msgpack; in JSON (where binary cannot be written) a base64 string, so
 * `nats req` can send an append too.
 */
const bytes = z.union([
  z.instanceof(Uint8Array),
  z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be binary (msgpack) or base64 (JSON)")
    .transform((b64) => new Uint8Array(Buffer.from(b64, "base64"))),
]);
/** One chunk written for an append (new-chunk mode), as the client confirmed it. */
const appendedChunk = z.object({ chunkId: id, version, sizeBytes: size, checksum, replicas: z.array(id).min(1).max(16) });

export const namenodeRequests = {
  ping: z.object({ ...envelope }),
  create: z.object({
    ...envelope,
    path,
    replication: z.number().int().min(1).max(16).optional(),
    clientId: z.string().max(128).optional(),
    /**
     * The file is empty: create and complete it in this one request (one round trip, one log batch).
     * A retry with the same clientId is answered with the same file.
     */
    empty: z.boolean().optional(),
  }),
  allocate: z.object({
    ...envelope,
    fileId: id,
    index: u32,
    exclude: z.array(id).max(64).optional(),
  }),
  commit: z.object({
    ...envelope,
    fileId: id,
    index: u32,
    chunkId: id,
    version,
    sizeBytes: size,
    checksum,
    replicas: z.array(id).min(1).max(16),
  }),
  complete: z.object({ ...envelope, fileId: id, sizeBytes: size, chunkCount: u32 }),
  abandon: z.object({ ...envelope, fileId: id }),
  stat: z.object({ ...envelope, path }),
  ls: z.object({ ...envelope, prefix: path.optional() }),
  rm: z.object({ ...envelope, path }),
  nodes: z.object({ ...envelope }),
  fsck: z.object({ ...envelope }),
  heartbeat: z.object({
    ...envelope,
    id,
    startedAtMs: size,
    capacityBytes: size,
    usedBytes: size,
    availableBytes: size,
    load: z.number().min(0).max(1e6),
    activeWrites: u32,
    chunkCount: u32,
    dirs: z
      .array(z.object({ path: z.string().max(4096), capacityBytes: size, availableBytes: size, failed: z.boolean() }))
      .max(64),
    /** The node's zone (`datanode.zone`); absent: no zone (all such nodes count as one zone). */
    zone: zone.optional(),
  }),
  report: z.object({
    ...envelope,
    id,
    full: z.boolean(),
    reportId: z.string().max(128),
    page: u32,
    last: z.boolean(),
    chunks: z.array(z.object({ id, version, sizeBytes: size })).max(100_000),
    removed: z.array(z.object({ id, version })).max(100_000),
    /** Replicas found corrupt (read, scrub or startup scan); kept aside until the namenode orders their delete. */
    corrupt: z.array(z.object({ id, version, reason: z.string().max(512) })).max(100_000).optional(),
  }),
  // ---- appends (docs/append.md) ----
  /**
   * Client: where does an append of `sizeBytes` to `path` go? Answers `done` when `key` is already
   * appended (a retry), `tail` (send it to the primary of the last chunk) or `chunks` (write new chunks,
   * then `appendChunks`). `full` = the client was told CHUNK_FULL by that chunk's primary.
   */
  appendLocate: z.object({ ...envelope, path, key: appendKey, sizeBytes: size, full: id.optional() }),
  /** Client, new-chunk mode: a chunk for `path` (not attached to the file until `appendChunks`). */
  appendAllocate: z.object({ ...envelope, path, exclude: z.array(id).max(64).optional() }),
  /** Client, new-chunk mode: attach these written chunks to the end of `path`, atomically, once per key. */
  appendChunks: z.object({ ...envelope, path, key: appendKey, chunks: z.array(appendedChunk).min(1).max(1024) }),
  /** Primary datanode: the state of the lease `epoch` on `chunkId` that a client says `dn` holds. */
  appendLease: z.object({ ...envelope, chunkId: id, epoch, dn: id }),
  /**
   * Primary datanode: every live replica holds bytes [fromBytes, toBytes) of the chunk at `version`;
   * make them visible. `records` are the appends in that range, in order (sizes add up).
   */
  appendCommit: z.object({
    ...envelope,
    chunkId: id,
    epoch,
    version,
    fromBytes: size,
    toBytes: size,
    checksum,
    records: z.array(z.object({ key: appendKey, sizeBytes: size })).min(1).max(100_000),
  }),
  /** Primary datanode: these replicas failed mid-append; continue without them under a bumped version. */
  appendDropReplica: z.object({ ...envelope, chunkId: id, epoch, version, failed: z.array(id).min(1).max(16) }),
  /** Client (`woods mv`): moves the complete file `src` to `dst`, which must not exist. */
  rename: z.object({ ...envelope, src: path, dst: path }),
  /**
   * Admin (`woods decommission`): start decommissioning datanode `id` (no new chunks; its copies are
   * copied elsewhere and stop counting toward replication), or with `cancel` put it back in service.
   * Logged, so it survives a namenode restart or takeover; repeating it changes nothing.
   */
  decommission: z.object({ ...envelope, id, cancel: z.boolean().optional() }),
} satisfies Record<NamenodeVerb, z.ZodType>;

export const datanodeRequests = {
  ping: z.object({ ...envelope }),
  open: z.object({ ...envelope, chunkId: id, version, maxSizeBytes: size }),
  close: z.object({ ...envelope, chunkId: id, version, sizeBytes: size, checksum, frames: u32 }),
  abort: z.object({ ...envelope, chunkId: id }),
  read: z.object({ ...envelope, chunkId: id, version: version.optional(), offset: size, length: size }),
  ingest: z.object({
    ...envelope,
    chunkId: id,
    version,
    bucket: z.string().max(256),
    object: z.string().max(1024),
    sizeBytes: size,
    checksum,
  }),
  /**
   * Repair order from the namenode to a source replica: stage the chunk in the Object Store
   * bucket, have each target ingest it (the same path as a staged write), delete the object.
   */
  replicate: z.object({
    ...envelope,
    repairId: id,
    chunkId: id,
    version,
    sizeBytes: size,
    checksum,
    targets: z.array(id).min(1).max(16),
    bucket: z.string().max(256),
    /** The namenode's epoch; a datanode refuses orders from an older epoch than it has seen. */
    epoch: z.number().int().min(0).optional(),
  }),
  /**
   * Client → primary of the last chunk: append `data` once (`key`). `epoch` is the lease the namenode
   * named in `appendLocate`. Errors: NOT_PRIMARY (locate again), CHUNK_FULL (use new-chunk mode).
   */
  append: z.object({ ...envelope, chunkId: id, epoch, key: appendKey, data: bytes }),
  /**
   * Primary → every replica (itself included): write `data` at `offset` of the chunk, discarding any
   * bytes at or after `offset` (an uncommitted tail), under lease `epoch` and chunk `version` (a replica
   * at an older version renames to it; a newer version or epoch seen refuses with STALE). `crcBefore` is
   * the CRC32 of bytes [0, offset) as the primary knows them; a replica that disagrees refuses (CHECKSUM).
   */
  appendApply: z.object({
    ...envelope,
    chunkId: id,
    version,
    epoch,
    offset: size,
    crcBefore: crc,
    data: bytes,
  }),
  /**
   * A namenode (a standby that just started tailing the log) asks for a full report: the datanode sends
   * it on its usual report subject, which the active and every standby hear. Replies at once.
   */
  fullReport: z.object({ ...envelope }),
} satisfies Record<DatanodeVerb, z.ZodType>;

export type NamenodeRequest<V extends NamenodeVerb> = z.infer<(typeof namenodeRequests)[V]>;
export type DatanodeRequest<V extends DatanodeVerb> = z.infer<(typeof datanodeRequests)[V]>;

// ---- Replies (the `ok: true` body; errors are {ok:false,error}) ----

export interface ChunkInfo {
  id: string;
  version: number;
  size: number;
  checksum: string;
  /** Live replicas holding this version, least loaded first. */
  replicas: string[];
}

export interface StatReply {
  path: string;
  size: number;
  replication: number;
  state: "writing" | "complete";
  ctimeMs: number;
  mtimeMs: number;
  chunks: ChunkInfo[];
}

export interface LsEntry {
  name: string;
  path: string;
  type: "file" | "dir";
  size?: number;
}

/**
 * Where a datanode stands in decommissioning (HDFS's admin state), apart from its liveness (`state`):
 * `decommissioning` — no new chunks, still read from, its copies do not count toward replication and
 * are being copied elsewhere; `decommissioned` — every chunk it holds has enough copies on other nodes,
 * so it can be stopped without any chunk becoming under-replicated.
 */
export type AdminState = "in-service" | "decommissioning" | "decommissioned";

export interface NodeInfo {
  id: string;
  state: "alive" | "dead" | "full";
  capacityBytes: number;
  usedBytes: number;
  availableBytes: number;
  chunks: number;
  load: number;
  activeWrites: number;
  lastHeartbeatMsAgo: number;
  /** Data dirs the datanode reports as failed. */
  failedDirs?: number;
  /** Repairs this node takes part in right now. */
  repairs?: number;
  /** The node's zone ("" = none). */
  zone?: string;
  /** Decommissioning (absent from namenodes that predate it: in service). */
  adminState?: AdminState;
  /**
   * While decommissioning: chunks the node holds that do not have enough copies elsewhere yet (as of
   * the namenode's last watchdog round; absent until one has counted).
   */
  decommissionChunksLeft?: number;
}

/** The answer to `decommission`: the node's state after the request. */
export interface DecommissionReply {
  id: string;
  adminState: AdminState;
  /** Liveness as in NodeInfo, or `unknown` when this namenode has not heard from the node since it started. */
  state: NodeInfo["state"] | "unknown";
  zone: string;
  /** Good copies of committed chunks the node holds. */
  chunks: number;
  /** Of those, chunks without enough copies on other (in-service, live) nodes yet. */
  chunksLeft: number;
  /** Why it is not `decommissioned` yet, when decommissioning (e.g. "dn1 has not sent its full report"). */
  waitingFor?: string;
}

export interface FsckReply {
  healthy: boolean;
  files: number;
  chunks: number;
  underReplicated: number;
  overReplicated: number;
  corrupt: number;
  missing: number;
  liveNodes: number;
  /** Optional detail: present when the namenode has it. */
  repairsInflight?: number;
  safeMode?: boolean;
}

/** An order from the namenode to a datanode, carried in heartbeat replies. */
export type DatanodeCommand = {
  type: "delete";
  chunkId: string;
  version: number;
  /** Why: "deleted" (file removed), "orphan", "stale" (old version), "surplus" (over-replicated), "corrupt". */
  reason?: string;
  /** Epoch of the namenode that gave the order; a datanode refuses orders older than the highest epoch it has seen. */
  epoch?: number;
};

/**
 * Schema of one order in a heartbeat reply, checked by the datanode before acting on it
 * (an order that fails it is ignored and logged, the others still run).
 */
export const datanodeCommandSchema = z.object({
  type: z.literal("delete"),
  chunkId: id,
  version,
  reason: z.string().max(64).optional(),
  epoch: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

/** Where an append goes (`appendLocate`). */
export type AppendLocateReply =
  /** The key was appended already: its place in the file. */
  | { mode: "done"; offset: number; sizeBytes: number }
  /** Send the record to `primary` (datanode `append`) under lease `epoch`. */
  | { mode: "tail"; fileId: string; chunkId: string; version: number; epoch: number; primary: string; replicas: string[] }
  /** Write the bytes as new chunks (`appendAllocate` + the write path), then `appendChunks`. */
  | { mode: "chunks"; fileId: string; replication: number; chunkSizeBytes: number; frameSizeBytes: number };

/** What an append returns: where the record landed in the file. */
export interface AppendResult {
  /** Byte offset of the record's first byte in the file. */
  offset: number;
  sizeBytes: number;
}

export interface AppendLeaseReply {
  fileId: string;
  path: string;
  version: number;
  epoch: number;
  /** Live replicas of the chunk at `version`, the primary included. */
  replicas: string[];
  /** Committed length and whole-chunk checksum: the primary's next batch starts here. */
  sizeBytes: number;
  checksum: string;
  chunkSizeBytes: number;
  /** The lease runs out this long after the namenode answered (the primary subtracts its own margin). */
  expiresInMs: number;
}

export interface NamenodeReplies {
  /** `standby`: true from a standby namenode (on the shadow subject), absent from the active one. */
  ping: { role: "namenode"; id: string; epoch: number; logSeq: number; standby?: true };
  create: { fileId: string; path: string; replication: number; chunkSizeBytes: number; leaseMs: number; frameSizeBytes: number };
  allocate: { chunkId: string; version: number; replicas: string[] };
  commit: Record<string, never>;
  complete: { path: string; size: number };
  abandon: Record<string, never>;
  stat: StatReply;
  ls: { prefix: string; entries: LsEntry[] };
  rm: { path: string };
  nodes: { nodes: NodeInfo[] };
  fsck: FsckReply;
  /** `epoch`: the answering namenode's epoch (fencing: a datanode ignores replies from an older one). */
  heartbeat: { commands: DatanodeCommand[]; fullReport: boolean; epoch?: number };
  report: Record<string, never>;
  appendLocate: AppendLocateReply;
  appendAllocate: { fileId: string; chunkId: string; version: number; replicas: string[] };
  appendChunks: AppendResult & { fileSizeBytes: number };
  appendLease: AppendLeaseReply;
  /**
   * `applied`: the batch is logged; `offsets[i]` is the file offset of `records[i]`.
   * Not applied: `duplicates` were appended before (their results) — nothing of this batch was
   * logged; the primary answers those clients and rewrites the batch without them.
   */
  appendCommit:
    | { applied: true; offsets: number[]; fileSizeBytes: number; expiresInMs: number }
    | { applied: false; duplicates: ({ key: string } & AppendResult)[] };
  appendDropReplica: { version: number; replicas: string[]; expiresInMs: number };
  /** Canonical paths; also the answer to a retried rename that was already applied. */
  rename: { src: string; dst: string };
  decommission: DecommissionReply;
}

export interface DatanodeReplies {
  ping: { role: "datanode"; id: string };
  fullReport: { queued: boolean };
  open: Record<string, never>;
  close: { sizeBytes: number; checksum: string };
  abort: Record<string, never>;
  read: { data: Uint8Array; sizeBytes: number };
  ingest: { sizeBytes: number; checksum: string };
  replicate: { confirmed: string[]; failed: { dn: string; code: string; message: string }[] };
  append: AppendResult & { fileSizeBytes: number };
  /** The replica's chunk after the write: length and CRC32 of all its bytes. */
  appendApply: { sizeBytes: number; crc: number };
}

/** Acknowledgement a datanode sends (to the frame's reply subject) for each write frame. */
export interface FrameAck {
  dn: string;
  seq: number;
  ok: boolean;
  error?: { code: string; message: string; retryable: boolean };
}

/** Event bodies on `<prefix>.events.<kind>`. */
export interface WoodsEvent {
  kind: string;
  atMs: number;
  source: string;
  [key: string]: unknown;
}
