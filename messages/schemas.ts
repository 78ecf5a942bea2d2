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

export const namenodeRequests = {
  ping: z.object({ ...envelope }),
  create: z.object({
    ...envelope,
    path,
    replication: z.number().int().min(1).max(16).optional(),
    clientId: z.string().max(128).optional(),
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
};

export interface NamenodeReplies {
  ping: { role: "namenode"; id: string; epoch: number; logSeq: number };
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
  heartbeat: { commands: DatanodeCommand[]; fullReport: boolean };
  report: Record<string, never>;
}

export interface DatanodeReplies {
  ping: { role: "datanode"; id: string };
  open: Record<string, never>;
  close: { sizeBytes: number; checksum: string };
  abort: Record<string, never>;
  read: { data: Uint8Array; sizeBytes: number };
  ingest: { sizeBytes: number; checksum: string };
  replicate: { confirmed: string[]; failed: { dn: string; code: string; message: string }[] };
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
