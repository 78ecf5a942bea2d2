/**
 * Validation of append requests against the namespace (docs/append.md): each
 * function returns the log entry to append, or what a retry is to be answered
 * with, or throws a typed WoodsError. PURE, like `Namespace.check*`: times come
 * in the request, and what the namespace does not know (allocations, which
 * replicas are live) is passed in by the caller.
 */
import { WoodsError, type LogEntry, type NamenodeRequest } from "../../messages/index.js";
import type { AppendedKey, ChunkRecord, FileRecord, Namespace } from "./namespace.js";

type LeaseEntry = Extract<LogEntry, { op: "lease" }>;
type AppendEntry = Extract<LogEntry, { op: "append" }>;
type AppendChunksEntry = Extract<LogEntry, { op: "appendChunks" }>;
type ChunkVersionEntry = Extract<LogEntry, { op: "chunkVersion" }>;

/** NOT_PRIMARY: retryable; the primary forgets its lease state, its clients locate again. */
function notPrimary(message: string): WoodsError {
  return new WoodsError("NOT_PRIMARY", message);
}

/** The primary's view of the chunk is out of date (version or size moved on): retryable after re-reading the lease. */
function staleView(message: string): WoodsError {
  return new WoodsError("STALE", message, { retryable: true });
}

/** Validates granting the next lease on the last chunk of a complete file to `primary`. */
export function checkLease(ns: Namespace, req: { fileId: string; chunkId: string; primary: string; atMs: number }): LeaseEntry {
  const f = ns.fileById(req.fileId);
  if (!f || f.state !== "complete") throw new WoodsError("NOT_FOUND", `file ${req.fileId} is not a complete file`);
  const c = ns.lastChunk(f);
  if (!c || c.id !== req.chunkId) throw new WoodsError("BAD_REQUEST", `chunk ${req.chunkId} is not the last chunk of ${f.path}`);
  return { op: "lease", fileId: f.fileId, chunkId: c.id, epoch: ns.leaseEpoch + 1, primary: req.primary, atMs: req.atMs };
}

/**
 * The chunk a primary's request is about, with its file, while that chunk is
 * the last of a complete file and `epoch` is the lease the namespace names for
 * it (live, or run out but not superseded: no other primary can have written
 * since). NOT_PRIMARY otherwise.
 */
export function leasedChunk(ns: Namespace, chunkId: string, epoch: number): { f: FileRecord; c: ChunkRecord } {
  const c = ns.chunk(chunkId);
  if (!c) throw notPrimary(`chunk ${chunkId} is not in the namespace (its file was deleted?)`);
  const f = c.file;
  const lease = ns.chunkLease(chunkId);
  if (!lease) {
    const sealed = ns.lastChunk(f) !== c;
    throw notPrimary(
      sealed ? `chunk ${chunkId} is sealed: new chunks were attached to ${f.path} after it` : `chunk ${chunkId} of ${f.path} has no append lease`,
    );
  }
  if (lease.epoch !== epoch) throw notPrimary(`lease epoch ${epoch} on chunk ${chunkId} was superseded by epoch ${lease.epoch}`);
  return { f, c };
}

/** How a commit of `records` is answered without logging anything (a retry), if it is one. */
export type CommitRetry =
  /** Every record was committed by this very batch before (its reply was lost): the same answer. */
  | { kind: "applied"; offsets: number[]; fileSizeBytes: number }
  /** Some records were appended before: nothing of this batch is logged. */
  | { kind: "duplicates"; duplicates: ({ key: string } & Pick<AppendedKey, "offset" | "sizeBytes">)[] };

/**
 * Looks the records' keys up. Undefined when none was appended before. When all
 * were, back to back in this order with these sizes, starting at byte `fromBytes`
 * of chunk `c`, it is a retry of this very batch, already applied: answered as
 * applied, with the original offsets.
 */
export function commitRetry(c: ChunkRecord, fromBytes: number, records: readonly { key: string; sizeBytes: number }[], ns: Namespace): CommitRetry | undefined {
  const found = records.map((r) => ns.appendedKey(r.key));
  const dups = found.filter((k): k is AppendedKey => k !== undefined);
  if (dups.length === 0) return undefined;
  if (dups.length === records.length) {
    let at = chunkStartOffset(c) + fromBytes;
    let exact = true;
    for (let i = 0; i < records.length && exact; i++) {
      const k = found[i]!;
      exact = k.fileId === c.file.fileId && k.sizeBytes === records[i].sizeBytes && k.offset === at;
      at += k.sizeBytes;
    }
    if (exact) {
      const last = found[records.length - 1]!;
      return { kind: "applied", offsets: found.map((k) => k!.offset), fileSizeBytes: last.offset + last.sizeBytes };
    }
  }
  return { kind: "duplicates", duplicates: dups.map((k) => ({ key: k.key, offset: k.offset, sizeBytes: k.sizeBytes })) };
}

/** File offset of a chunk's first byte. O(1) for the last chunk, O(index) otherwise. */
export function chunkStartOffset(c: ChunkRecord): number {
  const f = c.file;
  if (f.chunks[f.chunks.length - 1] === c) return f.sizeBytes - c.size;
  let at = 0;
  for (let i = 0; i < c.index; i++) at += f.chunks[i]?.size ?? 0;
  return at;
}

/**
 * Validates a primary's commit of bytes [fromBytes, toBytes) of the last chunk
 * (call `commitRetry` first). Returns the `append` entry with each record's file offset.
 */
export function checkAppendCommit(ns: Namespace, req: NamenodeRequest<"appendCommit"> & { atMs: number }, chunkSizeBytes: number): AppendEntry {
  const { f, c } = leasedChunk(ns, req.chunkId, req.epoch);
  if (ns.lastChunk(f) !== c) throw notPrimary(`chunk ${c.id} is sealed: new chunks were attached to ${f.path} after it`);
  if (req.version !== c.version) throw staleView(`chunk ${c.id} is at version ${c.version}, not ${req.version}`);
  if (req.fromBytes !== c.size) throw staleView(`chunk ${c.id} has ${c.size} committed bytes; a commit from byte ${req.fromBytes} does not follow them`);
  if (req.toBytes > chunkSizeBytes) throw new WoodsError("BAD_REQUEST", `a commit up to byte ${req.toBytes} exceeds the chunk size ${chunkSizeBytes}`);
  const keys = new Set<string>();
  let sum = 0;
  for (const r of req.records) {
    if (keys.has(r.key)) throw new WoodsError("BAD_REQUEST", `append key ${r.key} appears twice in one commit`);
    keys.add(r.key);
    sum += r.sizeBytes;
  }
  if (req.fromBytes + sum !== req.toBytes) {
    throw new WoodsError("BAD_REQUEST", `records add up to ${sum} bytes, but the commit covers bytes ${req.fromBytes}..${req.toBytes}`);
  }
  // The chunk is the file's last, so its committed end is the file's end.
  let offset = f.sizeBytes;
  const records: AppendEntry["records"] = [];
  for (const r of req.records) {
    records.push({ key: r.key, offset, sizeBytes: r.sizeBytes });
    offset += r.sizeBytes;
  }
  return {
    op: "append",
    fileId: f.fileId,
    chunkId: c.id,
    epoch: req.epoch,
    version: c.version,
    sizeBytes: req.toBytes,
    checksum: req.checksum,
    records,
    atMs: req.atMs,
  };
}

/** What `checkAppendChunks` needs to know about a chunk's allocation (`appendAllocate`). */
export interface AppendChunkAllocation {
  fileId: string;
  version: number;
  replicas: readonly string[];
}

/**
 * Validates attaching written chunks to the end of complete file `f` under `key`
 * (call `ns.appendedKey(key)` first: a key seen before is answered with its result).
 * `allocationOf` returns a chunk's allocation, `"unknown"` when one made before this
 * namenode started may be accepted, or undefined. Returns the entry and, per chunk,
 * the replicas that confirmed it and were allocated for it.
 */
export function checkAppendChunks(
  ns: Namespace,
  f: FileRecord,
  req: { key: string; chunks: NamenodeRequest<"appendChunks">["chunks"]; atMs: number },
  allocationOf: (chunkId: string) => AppendChunkAllocation | "unknown" | undefined,
  chunkSizeBytes: number,
): { entry: AppendChunksEntry; confirmed: string[][] } {
  const seen = new Set<string>();
  const confirmed: string[][] = [];
  for (const ch of req.chunks) {
    if (seen.has(ch.chunkId)) throw new WoodsError("BAD_REQUEST", `chunk ${ch.chunkId} appears twice`);
    seen.add(ch.chunkId);
    if (ns.chunk(ch.chunkId)) throw new WoodsError("EXISTS", `chunk ${ch.chunkId} is already part of a file`);
    if (ch.sizeBytes > chunkSizeBytes) throw new WoodsError("BAD_REQUEST", `chunk ${ch.chunkId} of ${ch.sizeBytes} bytes exceeds the chunk size ${chunkSizeBytes}`);
    const a = allocationOf(ch.chunkId);
    if (a === undefined) throw new WoodsError("NOT_FOUND", `chunk ${ch.chunkId} was not allocated for an append (or its allocation expired)`);
    if (a === "unknown") {
      confirmed.push([...ch.replicas]);
      continue;
    }
    if (a.fileId !== f.fileId) throw new WoodsError("BAD_REQUEST", `chunk ${ch.chunkId} was allocated for another file`);
    if (a.version !== ch.version) throw new WoodsError("STALE", `chunk ${ch.chunkId} has version ${a.version}, not ${ch.version}`);
    const ok = ch.replicas.filter((dn) => a.replicas.includes(dn));
    if (ok.length === 0) throw new WoodsError("BAD_REQUEST", `none of the replicas ${ch.replicas.join(", ")} was allocated for chunk ${ch.chunkId}`);
    confirmed.push(ok);
  }
  return {
    entry: {
      op: "appendChunks",
      fileId: f.fileId,
      key: req.key,
      offset: f.sizeBytes,
      chunks: req.chunks.map((ch) => ({ chunkId: ch.chunkId, version: ch.version, sizeBytes: ch.sizeBytes, checksum: ch.checksum })),
      atMs: req.atMs,
    },
    confirmed,
  };
}

/**
 * Validates dropping failed replicas of the leased last chunk: the `chunkVersion`
 * entry (version + 1). Returns `retry` when the version was bumped from
 * `req.version` already and none of `failed` holds the new one (`holdsVersion`):
 * a retry after a lost reply, answered without logging.
 */
export function checkDropReplica(
  ns: Namespace,
  req: NamenodeRequest<"appendDropReplica"> & { atMs: number },
  holdsVersion: (dn: string, version: number) => boolean,
): { entry: ChunkVersionEntry } | { retry: { version: number } } {
  const { f, c } = leasedChunk(ns, req.chunkId, req.epoch);
  if (ns.lastChunk(f) !== c) throw notPrimary(`chunk ${c.id} is sealed: new chunks were attached to ${f.path} after it`);
  if (c.version === req.version + 1 && req.failed.every((dn) => !holdsVersion(dn, c.version))) return { retry: { version: c.version } };
  if (req.version !== c.version) throw staleView(`chunk ${c.id} is at version ${c.version}, not ${req.version}`);
  return { entry: { op: "chunkVersion", chunkId: c.id, version: c.version + 1, atMs: req.atMs } };
}
