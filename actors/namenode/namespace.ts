/**
 * The namespace: files, their committed chunks and the directories implied by
 * their paths. PURE: no I/O and no clock (times come inside log entries).
 * `check*` functions validate a request against the current state and return
 * the log entry to append (or throw a typed WoodsError); `apply` is the only
 * way state changes, both live and during replay, so a replayed log always
 * reproduces the same state.
 */
import { WoodsError, parentsOf, type LogEntry } from "../../messages/index.js";
import { assert } from "../lifecycle.js";
import { AppendKeys, type AppendedKey } from "./append-keys.js";
import { ownString as own } from "./own-string.js";
import { IndexedTable } from "./key-index.js";

export type { AppendedKey } from "./append-keys.js";

/**
 * A committed chunk. Kept deliberately small (one object, no per-chunk arrays):
 * the namespace must hold millions of them. Its lifecycle state is implicitly
 * `committed`; chunks in other states live in the allocation / deletion tables.
 * Records are immutable: a change replaces the record (snapshot captures share them).
 */
export interface ChunkRecord {
  readonly id: string;
  readonly file: FileRecord;
  readonly index: number;
  readonly version: number;
  readonly size: number;
  readonly checksum: string;
}

export interface FileRecord {
  readonly fileId: string;
  /** Canonical path; changes only by a `rename` entry (so chunk records always name the current path). */
  path: string;
  /**
   * The path this file was last renamed from: a rename retried after its reply was lost
   * (SRC gone, DST this file) is answered as done. Derived from the log; snapshots do not keep it.
   */
  renamedFrom?: string;
  readonly replication: number;
  /** The writer's id from its create (lets a retried create be recognised). */
  readonly clientId?: string;
  state: "writing" | "complete";
  sizeBytes: number;
  readonly ctimeMs: number;
  mtimeMs: number;
  /** Committed chunks by index; holes are chunks not committed yet. */
  chunks: (ChunkRecord | undefined)[];
}

/**
 * A checksum as stored: `crc32:<8 lowercase hex>` (every checksum the wire accepts) packed
 * into its 32 bits as an int32, which V8 keeps inline in the record (a small integer, no
 * allocation); any other string (old logs, tests) is kept as it is. 32+ bytes saved per chunk.
 */
export type PackedChecksum = number | string;

/** Packs a checksum string (see PackedChecksum); a number is taken as the CRC32 bits already. */
export function packChecksum(checksum: string | number): PackedChecksum {
  if (typeof checksum === "number") return checksum | 0;
  if (checksum.length !== 14 || !checksum.startsWith("crc32:")) return checksum;
  let bits = 0;
  for (let i = 6; i < 14; i++) {
    const ch = checksum.charCodeAt(i);
    const digit = ch >= 48 && ch <= 57 ? ch - 48 : ch >= 97 && ch <= 102 ? ch - 87 : -1;
    // Upper-case hex would not format back to the same string: keep such a checksum as it is.
    if (digit < 0) return checksum;
    bits = (bits << 4) | digit;
  }
  return bits | 0;
}

/** The checksum string of a packed checksum. */
export function formatChecksum(packed: PackedChecksum): string {
  return typeof packed === "number" ? "crc32:" + (packed >>> 0).toString(16).padStart(8, "0") : packed;
}

/** The packed checksum of a chunk record (no formatting and parsing for records of this module). */
export function packedChecksumOf(c: ChunkRecord): PackedChecksum {
  return c instanceof StoredChunk ? c.sum : packChecksum(c.checksum);
}

/**
 * A chunk record as stored: six in-object fields (72 bytes), the checksum packed. The id string is
 * the one the chunk map is keyed by (one copy).
 */
class StoredChunk implements ChunkRecord {
  constructor(
    readonly id: string,
    readonly file: FileRecord,
    readonly index: number,
    readonly version: number,
    readonly size: number,
    readonly sum: PackedChecksum,
  ) {}

  get checksum(): string {
    return formatChecksum(this.sum);
  }
}

/** Seconds of a stored time are counted from here, so they stay small integers (±68 years around it). */
const TIME_BASE_S = 1_700_000_000;

/**
 * A file record as stored: every field set in the constructor, so all records share one shape.
 * Times are kept as whole seconds (from TIME_BASE_S) and the milliseconds left over: two small
 * integers V8 stores in the record itself, where a millisecond timestamp (> 2^31) would be a
 * separate 16-byte heap number each, one more object per time for the collector to copy.
 */
class StoredFile implements FileRecord {
  renamedFrom: string | undefined = undefined;
  private ctimeS: number;
  private ctimeRestMs: number;
  private mtimeS: number;
  private mtimeRestMs: number;

  constructor(
    readonly fileId: string,
    public path: string,
    readonly replication: number,
    /** Dropped once the file is complete: only a file being written is recognised by it. */
    public clientId: string | undefined,
    public state: "writing" | "complete",
    public sizeBytes: number,
    ctimeMs: number,
    mtimeMs: number,
    public chunks: (ChunkRecord | undefined)[],
  ) {
    this.ctimeS = Math.floor(ctimeMs / 1000) - TIME_BASE_S;
    // Exact for any integer below 2^53: the sum below gives back exactly `ctimeMs`.
    this.ctimeRestMs = ctimeMs - (this.ctimeS + TIME_BASE_S) * 1000;
    this.mtimeS = Math.floor(mtimeMs / 1000) - TIME_BASE_S;
    this.mtimeRestMs = mtimeMs - (this.mtimeS + TIME_BASE_S) * 1000;
  }

  get ctimeMs(): number {
    return (this.ctimeS + TIME_BASE_S) * 1000 + this.ctimeRestMs;
  }

  get mtimeMs(): number {
    return (this.mtimeS + TIME_BASE_S) * 1000 + this.mtimeRestMs;
  }

  set mtimeMs(ms: number) {
    this.mtimeS = Math.floor(ms / 1000) - TIME_BASE_S;
    this.mtimeRestMs = ms - (this.mtimeS + TIME_BASE_S) * 1000;
  }
}

/** An implied directory: exists while at least one file (in any state) lives under it. */
interface DirRecord {
  readonly path: string;
  /** The directory holding this one (undefined for the root). */
  readonly parent: DirRecord | undefined;
  /** Direct children, files and directories (by identity: adding one hashes no string). */
  children: Set<StoredFile | DirRecord>;
  /** Files anywhere below, in any state (the directory exists while > 0). */
  filesBelow: number;
  /** Complete files anywhere below (the directory is listed while > 0). */
  completeBelow: number;
}

/** A chunk that left the namespace (file deleted, or index re-committed) and whose replicas must go. */
export interface DroppedChunk {
  id: string;
  version: number;
}

/**
 * A file as captured for a snapshot: its mutable fields copied at the capture
 * instant; chunk records are immutable, so they are shared, not copied.
 */
export interface CapturedFile {
  readonly file: FileRecord;
  /** The path at the capture instant (a later rename changes `file.path`). */
  readonly path: string;
  readonly state: FileRecord["state"];
  /** The writer's id at the capture instant (dropped when the file completes). */
  readonly clientId: string | undefined;
  readonly sizeBytes: number;
  readonly mtimeMs: number;
  readonly chunks: readonly (ChunkRecord | undefined)[];
}

/** A file as read back from a snapshot. */
export interface RestoredFile {
  fileId: string;
  path: string;
  replication: number;
  clientId?: string;
  state: FileRecord["state"];
  sizeBytes: number;
  ctimeMs: number;
  mtimeMs: number;
  /** `checksum`: the string, or the CRC32 bits of a `crc32:` checksum (see packChecksum). */
  chunks: ({ id: string; version: number; size: number; checksum: string | number } | undefined)[];
}

/** Namespace-wide values a snapshot carries besides the files. */
export interface NamespaceMeta {
  epoch: number;
  namenodeId: string;
  /** Log entries applied to reach this state. */
  applied: number;
  /** Highest append lease epoch granted (0: none; snapshots before appends carry none). */
  leaseEpoch: number;
  /** Datanodes being decommissioned (`decommission` entries; absent in older snapshots: none). */
  decommissioning?: string[];
}

/**
 * The append lease of a chunk as the log knows it: who holds it, at which epoch.
 * Only the last chunk of a complete file has one; a newer grant replaces it,
 * attaching new chunks (seal) or deleting the file ends it. When it runs out is
 * not logged (append-leases.ts counts that from the injected clock).
 */
export interface ChunkLease {
  readonly chunkId: string;
  readonly fileId: string;
  readonly epoch: number;
  readonly primary: string;
}

export interface LsChild {
  name: string;
  path: string;
  type: "file" | "dir";
  size?: number;
}

export class Namespace {
  /** Files by path (key 0) and by id (key 1); chunks by id. Hash indexes, not Maps: see key-index.ts. */
  private readonly fileTable = new IndexedTable<StoredFile>([(f) => f.path, (f) => f.fileId]);
  private readonly chunkTable = new IndexedTable<StoredChunk>([(c) => c.id]);
  private readonly files = lookup(this.fileTable, 0);
  private readonly byId = lookup(this.fileTable, 1);
  private readonly chunkById = lookup(this.chunkTable, 0);
  private readonly root: DirRecord = newDir("/", undefined);
  private readonly dirs = new Map<string, DirRecord>([["/", this.root]]);
  /** The directory `dirOf` found last: files arrive grouped by directory (snapshots, replays, bulk writes). */
  private lastDir: DirRecord = this.root;
  private epochValue = 0;
  private namenodeIdValue = "";
  private entriesApplied = 0;
  /** Append lease epochs: one namespace-wide counter that only grows (logged with every grant). */
  private leaseEpochValue = 0;
  private readonly leasesByChunk = new Map<string, ChunkLease>();
  private readonly keys = new AppendKeys();
  /**
   * Datanodes being decommissioned, from `decommission` entries (until cancelled). The same Set for
   * the namespace's life: the registry reads it to leave their copies out of replication counts.
   */
  readonly decommissioning = new Set<string>();

  /** Highest epoch seen in the log (0 before the first namenode start). */
  get epoch(): number {
    return this.epochValue;
  }

  /** Highest append lease epoch granted so far (the next grant takes a higher one). */
  get leaseEpoch(): number {
    return this.leaseEpochValue;
  }

  /** Number of log entries applied so far. */
  get appliedCount(): number {
    return this.entriesApplied;
  }

  get fileCount(): number {
    return this.files.size;
  }

  get chunkCount(): number {
    return this.chunkById.size;
  }

  // ---- queries ----

  /** The file at a canonical path, in any state. */
  fileAt(path: string): FileRecord | undefined {
    return this.files.get(path);
  }

  /** The file with this id, in any state. */
  fileById(fileId: string): FileRecord | undefined {
    return this.byId.get(fileId);
  }

  /** The committed chunk with this id. */
  chunk(chunkId: string): ChunkRecord | undefined {
    return this.chunkById.get(chunkId);
  }

  /** The last chunk of a file (undefined for a file without chunks). */
  lastChunk(f: FileRecord): ChunkRecord | undefined {
    return f.chunks.length > 0 ? f.chunks[f.chunks.length - 1] : undefined;
  }

  /** The logged append lease of a chunk (granted and neither superseded, sealed nor deleted). */
  chunkLease(chunkId: string): ChunkLease | undefined {
    return this.leasesByChunk.get(chunkId);
  }

  /** Every logged append lease. */
  leases(): IterableIterator<ChunkLease> {
    return this.leasesByChunk.values();
  }

  /** Where the append with this idempotency key landed, if it was appended (and not pruned). */
  appendedKey(key: string): AppendedKey | undefined {
    return this.keys.get(key);
  }

  get appendKeyCount(): number {
    return this.keys.size;
  }

  /** Forgets append keys logged before `beforeMs` (the actor's tick, with `appendKeyTtlMs`). Returns how many. */
  pruneAppendKeys(beforeMs: number): number {
    return this.keys.prune(beforeMs);
  }

  /**
   * The complete file at canonical `path` that an append may extend; typed errors
   * otherwise: NOT_FOUND (appends never create a file), EXISTS (still being written),
   * IS_DIRECTORY.
   */
  appendTarget(path: string): FileRecord {
    const f = this.files.get(path);
    if (f) {
      if (f.state === "writing") throw new WoodsError("EXISTS", `${path} is being written by another client; append once it is complete`);
      return f;
    }
    if (this.isDirectory(path)) throw new WoodsError("IS_DIRECTORY", `${path} is a directory`);
    throw new WoodsError("NOT_FOUND", `${path} does not exist; appends do not create files: create it first, e.g. \`woods put - ${path} < /dev/null\``);
  }

  /** True when some file (in any state) lives under `path`. */
  isDirectory(path: string): boolean {
    return path === "/" || this.dirs.has(path);
  }

  /** Every file, in insertion order (fsck and tests; O(files)). */
  allFiles(): IterableIterator<FileRecord> {
    return this.files.values();
  }

  /** Files still being written (lease tracking after replay). */
  *writingFiles(): IterableIterator<FileRecord> {
    for (const f of this.files.values()) if (f.state === "writing") yield f;
  }

  /** Stat of a canonical path: the file record, or a typed error. */
  stat(path: string): FileRecord {
    const f = this.files.get(path);
    if (f) return f;
    if (this.isDirectory(path)) throw new WoodsError("IS_DIRECTORY", `${path} is a directory`);
    throw new WoodsError("NOT_FOUND", `${path} does not exist`);
  }

  /**
   * Children of a canonical directory path, sorted by name: complete files, and
   * directories holding at least one complete file. A complete file path lists itself.
   */
  ls(prefix: string): LsChild[] {
    const f = this.files.get(prefix);
    if (f) {
      if (f.state !== "complete") throw new WoodsError("NOT_FOUND", `${prefix} does not exist`);
      return [{ name: baseName(prefix), path: prefix, type: "file", size: f.sizeBytes }];
    }
    const dir = this.dirs.get(prefix);
    if (!dir) throw new WoodsError("NOT_FOUND", `${prefix} does not exist`);
    const nameAt = prefix === "/" ? 1 : prefix.length + 1;
    const out: LsChild[] = [];
    for (const child of dir.children) {
      const path = child.path;
      const name = path.slice(nameAt);
      if (child instanceof StoredFile) {
        if (child.state === "complete") out.push({ name, path, type: "file", size: child.sizeBytes });
      } else if (child.completeBelow > 0) out.push({ name, path, type: "dir" });
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out;
  }

  // ---- snapshots ----

  /**
   * Copies what a snapshot needs, synchronously (O(files), no encoding), so the
   * caller can capture at a log sequence boundary and encode later.
   */
  capture(): { meta: NamespaceMeta; files: CapturedFile[]; leases: ChunkLease[]; keys: AppendedKey[] } {
    const files: CapturedFile[] = [];
    for (const f of this.files.values()) files.push({ file: f, path: f.path, state: f.state, clientId: f.clientId, sizeBytes: f.sizeBytes, mtimeMs: f.mtimeMs, chunks: f.chunks.slice() });
    // Lease and key records are immutable (replaced, never changed): sharing them is a copy.
    return {
      meta: {
        epoch: this.epochValue,
        namenodeId: this.namenodeIdValue,
        applied: this.entriesApplied,
        leaseEpoch: this.leaseEpochValue,
        decommissioning: [...this.decommissioning],
      },
      files,
      leases: [...this.leasesByChunk.values()],
      keys: [...this.keys.values()],
    };
  }

  /** Sets the namespace-wide values from a snapshot (only on an empty namespace). */
  restoreMeta(meta: NamespaceMeta): void {
    assert(this.entriesApplied === 0 && this.files.size === 0, "snapshot meta restored into a used namespace");
    this.epochValue = meta.epoch;
    this.namenodeIdValue = meta.namenodeId;
    this.entriesApplied = meta.applied;
    this.leaseEpochValue = meta.leaseEpoch;
    for (const id of meta.decommissioning ?? []) this.decommissioning.add(own(id));
  }

  /** Makes room for this many files and chunks (a snapshot's counts) before restoring them. */
  reserve(files: number, chunks: number): void {
    this.fileTable.reserve(files);
    this.chunkTable.reserve(chunks);
  }

  /** Ends the files of a snapshot: throws INTERNAL if a file's path is also a directory (a file restored after a file below it). */
  restoreFilesDone(): void {
    for (const path of this.dirs.keys()) if (this.files.has(path)) throw new WoodsError("INTERNAL", `snapshot file ${path}: path is a directory`);
  }

  /** Adds an append lease from a snapshot (after its files). Throws INTERNAL when it does not fit them. */
  restoreLease(l: ChunkLease): void {
    const f = this.byId.get(l.fileId);
    const c = this.chunkById.get(l.chunkId);
    if (!f || f.state !== "complete" || !c || c.file !== f || this.lastChunk(f) !== c) {
      throw new WoodsError("INTERNAL", `snapshot lease on chunk ${l.chunkId}: not the last chunk of complete file ${l.fileId}`);
    }
    if (l.epoch > this.leaseEpochValue) throw new WoodsError("INTERNAL", `snapshot lease epoch ${l.epoch} exceeds the lease epoch ${this.leaseEpochValue}`);
    if (this.leasesByChunk.has(l.chunkId)) throw new WoodsError("INTERNAL", `snapshot has two leases on chunk ${l.chunkId}`);
    this.leasesByChunk.set(l.chunkId, { chunkId: l.chunkId, fileId: l.fileId, epoch: l.epoch, primary: l.primary });
  }

  /** Adds an append key from a snapshot (after its files, oldest first). Throws INTERNAL for a key of an unknown file. */
  restoreKey(k: AppendedKey): void {
    if (!this.byId.has(k.fileId)) throw new WoodsError("INTERNAL", `snapshot append key ${k.key} names unknown file ${k.fileId}`);
    if (this.keys.get(k.key)) throw new WoodsError("INTERNAL", `snapshot has append key ${k.key} twice`);
    this.keys.add({ key: k.key, fileId: k.fileId, offset: k.offset, sizeBytes: k.sizeBytes, atMs: k.atMs });
  }

  /**
   * Adds a file from a snapshot. Throws INTERNAL (not an assert: the snapshot
   * is input, and a bad one falls back to an older snapshot) on a duplicate
   * path, id or chunk, or a path under another file.
   */
  restoreFile(r: RestoredFile): void {
    const bad = (why: string): never => {
      throw new WoodsError("INTERNAL", `snapshot file ${r.path}: ${why}`);
    };
    const n = r.chunks.length;
    const chunks = exactArray(n);
    const f = new StoredFile(r.fileId, r.path, r.replication, r.state === "writing" ? r.clientId : undefined, r.state, r.sizeBytes, r.ctimeMs, r.mtimeMs, chunks);
    const taken = this.fileTable.add(f);
    if (taken === 0) bad("duplicate path");
    if (taken === 1) bad(`duplicate file id ${r.fileId}`);
    // A path that is also a directory is found by restoreFilesDone (a check per directory, not per file).
    for (let i = 0; i < n; i++) {
      const c = r.chunks[i];
      if (!c) continue;
      const rec = new StoredChunk(c.id, f, i, c.version, c.size, packChecksum(c.checksum));
      chunks[i] = rec;
      if (this.chunkTable.add(rec) >= 0) bad(`duplicate chunk ${c.id}`);
    }
    if (chunks.length < n) chunks.length = n;
    // A parent that is a file is found by linkPath, when it would create that directory.
    try {
      this.linkPath(f, f.state === "complete" ? 1 : 0);
    } catch (e) {
      throw new WoodsError("INTERNAL", `snapshot file ${r.path}: ${(e as Error).message}`);
    }
  }

  // ---- validation: request → entry to log ----

  /**
   * The file a retried create refers to: `path` is being written by the same
   * `clientId` (its first create was applied, but the answer was lost, e.g. in
   * a namenode crash). Undefined otherwise (then `checkCreate` decides).
   */
  retriedCreate(path: string, clientId: string | undefined): FileRecord | undefined {
    if (clientId === undefined || clientId === "") return undefined;
    const f = this.files.get(path);
    return f && f.state === "writing" && f.clientId === clientId ? f : undefined;
  }

  /** Validates a create of canonical `path`; returns the `create` entry. */
  checkCreate(req: { path: string; replication: number; fileId: string; atMs: number; clientId?: string }): LogEntry {
    const { path } = req;
    if (this.files.has(path)) {
      const f = this.files.get(path)!;
      throw new WoodsError("EXISTS", f.state === "writing" ? `${path} is being written by another client` : `${path} already exists`);
    }
    if (this.isDirectory(path)) throw new WoodsError("IS_DIRECTORY", `${path} is a directory`);
    for (const parent of parentsOf(path)) {
      if (this.files.has(parent)) throw new WoodsError("NOT_A_FILE", `${parent} is a file, so ${path} cannot be created under it`);
    }
    if (this.byId.has(req.fileId)) throw new WoodsError("INTERNAL", `file id ${req.fileId} is already in use`);
    const entry: LogEntry = { op: "create", fileId: req.fileId, path, replication: req.replication, atMs: req.atMs };
    if (req.clientId !== undefined) entry.clientId = req.clientId;
    return entry;
  }

  /** The file being written with this id; NOT_FOUND / STALE otherwise. */
  writingFile(fileId: string): FileRecord {
    const f = this.byId.get(fileId);
    if (!f) throw new WoodsError("NOT_FOUND", `file ${fileId} does not exist (abandoned or deleted?)`);
    if (f.state !== "writing") throw new WoodsError("STALE", `file ${f.path} is already complete`);
    return f;
  }

  /**
   * Validates a chunk commit against the file and the chunk's allocation.
   * Returns the `chunk` entry, or null when this exact chunk is already committed
   * (a retried commit after a lost reply).
   */
  checkCommit(
    req: { fileId: string; index: number; chunkId: string; version: number; sizeBytes: number; checksum: string; atMs: number },
    allocation: { fileId: string; index: number; version: number } | undefined,
    maxChunkSizeBytes: number,
  ): LogEntry | null {
    const f = this.writingFile(req.fileId);
    const existing = f.chunks[req.index];
    if (existing && existing.id === req.chunkId && existing.version === req.version) return null;
    if (!allocation) throw new WoodsError("NOT_FOUND", `chunk ${req.chunkId} was not allocated (or its allocation was dropped)`);
    if (allocation.fileId !== req.fileId) throw new WoodsError("BAD_REQUEST", `chunk ${req.chunkId} belongs to another file`);
    if (allocation.index !== req.index) {
      throw new WoodsError("BAD_REQUEST", `chunk ${req.chunkId} was allocated for index ${allocation.index}, not ${req.index}`);
    }
    if (allocation.version !== req.version) {
      throw new WoodsError("STALE", `chunk ${req.chunkId} has version ${allocation.version}, not ${req.version}`);
    }
    if (req.sizeBytes > maxChunkSizeBytes) {
      throw new WoodsError("BAD_REQUEST", `chunk of ${req.sizeBytes} bytes exceeds the chunk size ${maxChunkSizeBytes}`);
    }
    if (this.chunkById.has(req.chunkId)) throw new WoodsError("EXISTS", `chunk ${req.chunkId} is already committed elsewhere`);
    return {
      op: "chunk",
      fileId: req.fileId,
      index: req.index,
      chunkId: req.chunkId,
      version: req.version,
      sizeBytes: req.sizeBytes,
      checksum: req.checksum,
      atMs: req.atMs,
    };
  }

  /**
   * Validates completing a file: indices 0..chunkCount-1 all committed, none
   * beyond, sizes adding up. Returns null when the file is already complete
   * with that size (a retried complete).
   */
  checkComplete(req: { fileId: string; sizeBytes: number; chunkCount: number; atMs: number }): LogEntry | null {
    const f = this.byId.get(req.fileId);
    if (!f) throw new WoodsError("NOT_FOUND", `file ${req.fileId} does not exist (abandoned or deleted?)`);
    if (f.state === "complete") {
      if (f.sizeBytes === req.sizeBytes && f.chunks.length === req.chunkCount) return null;
      throw new WoodsError("STALE", `file ${f.path} is already complete with ${f.sizeBytes} bytes`);
    }
    if (f.chunks.length > req.chunkCount) {
      throw new WoodsError("BAD_REQUEST", `file ${f.path} has ${f.chunks.length} chunks committed, more than chunkCount ${req.chunkCount}`);
    }
    let total = 0;
    for (let i = 0; i < req.chunkCount; i++) {
      const c = f.chunks[i];
      if (!c) throw new WoodsError("BAD_REQUEST", `chunk ${i} of ${f.path} is not committed`);
      total += c.size;
    }
    if (total !== req.sizeBytes) {
      throw new WoodsError("BAD_REQUEST", `chunks of ${f.path} add up to ${total} bytes, not ${req.sizeBytes}`);
    }
    return { op: "complete", fileId: req.fileId, sizeBytes: req.sizeBytes, atMs: req.atMs };
  }

  /**
   * Validates moving the complete file at canonical `src` to canonical `dst`; returns the
   * `rename` entry, or null when there is nothing to log: `src === dst`, or a retry of a rename
   * that was applied (`src` is gone and the file at `dst` was renamed from it). Directories are
   * not moved (IS_DIRECTORY): one entry per file keeps every rename atomic and O(1).
   */
  checkRename(req: { src: string; dst: string; atMs: number }): LogEntry | null {
    const { src, dst } = req;
    const f = this.files.get(src);
    if (!f) {
      if (this.isDirectory(src)) throw new WoodsError("IS_DIRECTORY", `${src} is a directory; mv moves one file at a time`);
      const moved = this.files.get(dst);
      if (moved && moved.state === "complete" && moved.renamedFrom === src) return null;
      throw new WoodsError("NOT_FOUND", `${src} does not exist`);
    }
    if (f.state !== "complete") throw new WoodsError("NOT_FOUND", `${src} is still being written; it can be moved once complete`);
    if (src === dst) return null;
    const there = this.files.get(dst);
    if (there) throw new WoodsError("EXISTS", there.state === "writing" ? `${dst} is being written by another client` : `${dst} already exists`);
    if (this.isDirectory(dst)) {
      throw new WoodsError("IS_DIRECTORY", `${dst} is a directory; name the new path in full, e.g. ${dst}/${baseName(src)}`);
    }
    for (const parent of parentsOf(dst)) {
      if (this.files.has(parent)) throw new WoodsError("NOT_A_FILE", `${parent} is a file, so ${dst} cannot be created under it`);
    }
    return { op: "rename", fileId: f.fileId, src, dst, atMs: req.atMs };
  }

  /** Validates removing canonical `path`; returns the `delete` entry. */
  checkRemove(path: string, atMs: number, reason?: string): LogEntry {
    const f = this.stat(path);
    const entry: LogEntry = { op: "delete", fileId: f.fileId, path, atMs };
    if (reason !== undefined) entry.reason = reason;
    return entry;
  }

  // ---- state changes ----

  /**
   * Applies one log entry. Returns chunks that left the namespace (their
   * replicas are to be deleted). Entries were validated before logging, so a
   * mismatch here means the log and the code disagree: an invariant breach.
   */
  apply(entry: LogEntry): DroppedChunk[] {
    this.entriesApplied++;
    switch (entry.op) {
      case "epoch":
        assert(entry.epoch > this.epochValue, `epoch ${entry.epoch} does not follow ${this.epochValue}`);
        this.epochValue = entry.epoch;
        this.namenodeIdValue = entry.namenodeId;
        return [];
      case "create": {
        const f = new StoredFile(own(entry.fileId), own(entry.path), entry.replication, entry.clientId, "writing", 0, entry.atMs, entry.atMs, []);
        const taken = this.fileTable.add(f);
        assert(taken < 0, `create of existing ${taken === 0 ? `path ${entry.path}` : `file id ${entry.fileId}`}`);
        this.linkPath(f);
        return [];
      }
      case "chunk": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.state === "writing", `chunk for file ${entry.fileId} that is not being written`);
        const dropped: DroppedChunk[] = [];
        const old = f.chunks[entry.index];
        if (old) {
          // A re-committed index (the writer retried after a lost reply): the old chunk is garbage.
          this.chunkTable.delete(0, old.id);
          dropped.push({ id: old.id, version: old.version });
        }
        const c = new StoredChunk(own(entry.chunkId), f, entry.index, entry.version, entry.sizeBytes, packChecksum(entry.checksum));
        assert(this.chunkTable.add(c) < 0, `chunk ${entry.chunkId} committed twice`);
        f.chunks[entry.index] = c;
        f.mtimeMs = entry.atMs;
        return dropped;
      }
      case "complete": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.state === "writing", `complete of file ${entry.fileId} that is not being written`);
        f.state = "complete";
        f.sizeBytes = entry.sizeBytes;
        f.mtimeMs = entry.atMs;
        f.clientId = undefined;
        // The chunk array grew one index at a time (17 slots for the first): keep exactly what it holds.
        f.chunks = f.chunks.slice();
        this.countComplete(f.path, 1);
        return [];
      }
      case "delete": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.path === entry.path, `delete of unknown file ${entry.fileId} at ${entry.path}`);
        const dropped: DroppedChunk[] = [];
        for (const c of f.chunks) {
          if (!c) continue;
          this.chunkTable.delete(0, c.id);
          dropped.push({ id: c.id, version: c.version });
        }
        if (f.state === "complete") this.countComplete(f.path, -1);
        const last = this.lastChunk(f);
        if (last) this.leasesByChunk.delete(last.id);
        this.keys.dropFile(f.fileId);
        this.fileTable.delete(1, f.fileId);
        this.unlinkPath(f);
        return dropped;
      }
      case "lease": {
        const { c } = this.lastChunkOf(entry.fileId, entry.chunkId, "lease");
        assert(entry.epoch > this.leaseEpochValue, `lease epoch ${entry.epoch} does not follow ${this.leaseEpochValue}`);
        this.leaseEpochValue = entry.epoch;
        this.leasesByChunk.set(c.id, { chunkId: c.id, fileId: entry.fileId, epoch: entry.epoch, primary: entry.primary });
        return [];
      }
      case "append": {
        const { f, c } = this.lastChunkOf(entry.fileId, entry.chunkId, "append");
        assert(c.version === entry.version, `append to chunk ${c.id} at version ${entry.version}, not its ${c.version}`);
        const grown = entry.sizeBytes - c.size;
        let at = f.sizeBytes;
        for (const r of entry.records) {
          assert(r.offset === at, `append record ${r.key} at offset ${r.offset} of ${f.path}, not ${at}`);
          at += r.sizeBytes;
        }
        assert(at - f.sizeBytes === grown, `append records add up to ${at - f.sizeBytes} bytes, the chunk grew by ${grown}`);
        this.replaceChunk(c, { version: c.version, size: entry.sizeBytes, checksum: entry.checksum });
        f.sizeBytes += grown;
        f.mtimeMs = entry.atMs;
        for (const r of entry.records) this.keys.add({ key: r.key, fileId: f.fileId, offset: r.offset, sizeBytes: r.sizeBytes, atMs: entry.atMs });
        return [];
      }
      case "appendChunks": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.state === "complete", `appendChunks to file ${entry.fileId} that is not complete`);
        assert(entry.offset === f.sizeBytes, `appendChunks at offset ${entry.offset} of ${f.path}, which has ${f.sizeBytes} bytes`);
        // Sealed: no tail commit may land behind the new chunks.
        const last = this.lastChunk(f);
        if (last) this.leasesByChunk.delete(last.id);
        let total = 0;
        for (const ch of entry.chunks) {
          const c = new StoredChunk(own(ch.chunkId), f, f.chunks.length, ch.version, ch.sizeBytes, packChecksum(ch.checksum));
          assert(this.chunkTable.add(c) < 0, `appendChunks of chunk ${ch.chunkId} that is already in the namespace`);
          f.chunks.push(c);
          total += ch.sizeBytes;
        }
        f.chunks = f.chunks.slice();
        f.sizeBytes += total;
        f.mtimeMs = entry.atMs;
        this.keys.add({ key: entry.key, fileId: f.fileId, offset: entry.offset, sizeBytes: total, atMs: entry.atMs });
        return [];
      }
      case "rename": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.path === entry.src && f.state === "complete", `rename of ${entry.src}, which is not complete file ${entry.fileId}`);
        assert(!this.files.has(entry.dst) && !this.dirs.has(entry.dst), `rename of ${entry.src} onto existing ${entry.dst}`);
        for (const parent of parentsOf(entry.dst)) assert(!this.files.has(parent), `rename of ${entry.src} under file ${parent}`);
        // Leave the old place first, so a directory that only held this file is gone before the new links.
        this.countComplete(f.path, -1);
        this.unlinkPath(f);
        this.fileTable.rekey(0, f.path, (moved) => {
          moved.path = own(entry.dst);
          moved.renamedFrom = own(entry.src);
        });
        this.linkPath(f, 1);
        // Chunks, append leases and append keys are keyed by id, not path: they move with the file.
        return [];
      }
      case "chunkVersion": {
        const c = this.chunkById.get(entry.chunkId);
        assert(c, `chunkVersion of unknown chunk ${entry.chunkId}`);
        assert(entry.version > c.version, `chunkVersion ${entry.version} of chunk ${c.id} does not follow ${c.version}`);
        this.replaceChunk(c, { version: entry.version, size: c.size, checksum: c.sum });
        return [];
      }
      case "decommission":
        if (entry.cancel) this.decommissioning.delete(entry.node);
        else this.decommissioning.add(own(entry.node));
        return [];
    }
  }

  /** The file and its last chunk named by an append entry (asserted: the entry was validated before logging). */
  private lastChunkOf(fileId: string, chunkId: string, op: string): { f: StoredFile; c: StoredChunk } {
    const f = this.byId.get(fileId);
    assert(f && f.state === "complete", `${op} on file ${fileId} that is not complete`);
    const c = this.chunkById.get(chunkId);
    assert(c && c.file === f && this.lastChunk(f) === c, `${op} on chunk ${chunkId}, which is not the last chunk of ${f.path}`);
    return { f, c };
  }

  /** Chunk records are immutable (snapshots share them): a change replaces the record. */
  private replaceChunk(c: StoredChunk, next: { version: number; size: number; checksum: PackedChecksum }): void {
    const rec = new StoredChunk(c.id, c.file, c.index, next.version, next.size, packChecksum(next.checksum));
    c.file.chunks[c.index] = rec;
    this.chunkTable.replace(rec);
  }

  /** Id of the namenode that wrote the latest epoch entry. */
  get namenodeId(): string {
    return this.namenodeIdValue;
  }

  // ---- directory bookkeeping ----

  /** Adds `delta` to the complete-file count of every directory above `path`. */
  private countComplete(path: string, delta: number): void {
    for (let d: DirRecord | undefined = this.dirOf(path); d; d = d.parent) d.completeBelow += delta;
  }

  /** Links a file into the directories of its path, creating those that do not exist yet; `complete` 1 counts it complete too. */
  private linkPath(f: StoredFile, complete = 0): void {
    const dir = this.dirOf(f.path);
    dir.children.add(f);
    for (let d: DirRecord | undefined = dir; d; d = d.parent) {
      d.filesBelow++;
      d.completeBelow += complete;
    }
  }

  /** The directory holding `path`, created (with its own parents) when missing. */
  private dirOf(path: string): DirRecord {
    const last = this.lastDir;
    const n = last.path === "/" ? 0 : last.path.length;
    // Same directory as last time: no slice, no hashing (most calls in a restore or a replay).
    if (path.length > n + 1 && path.charCodeAt(n) === 47 && path.indexOf("/", n + 1) < 0 && path.startsWith(last.path)) return last;
    const at = parentPath(path);
    const found = this.dirs.get(at);
    if (found) {
      this.lastDir = found;
      return found;
    }
    // Only here can a file be in the way: an existing directory has no file at its path.
    if (this.files.has(at)) throw new WoodsError("INTERNAL", `${at} is a file, so ${path} cannot be under it`);
    const up = this.dirOf(at);
    const d = newDir(at, up);
    up.children.add(d);
    this.dirs.set(at, d);
    return d;
  }

  private unlinkPath(f: StoredFile): void {
    const dir = this.dirs.get(parentPath(f.path));
    assert(dir, `directory of ${f.path} is missing`);
    assert(dir.children.delete(f), `${f.path} is not linked in its directory`);
    // Walk up from the file: a directory whose last file went disappears from its parent.
    for (let d: DirRecord | undefined = dir; d; d = d.parent) {
      d.filesBelow--;
      assert(d.filesBelow >= 0, `negative file count under ${d.path}`);
      if (d.filesBelow === 0 && d.parent) {
        this.dirs.delete(d.path);
        d.parent.children.delete(d);
        if (this.lastDir === d) this.lastDir = this.root;
      }
    }
  }
}

/** The read side of one key of a table, shaped like a Map's. */
function lookup<T>(table: IndexedTable<T>, k: number): { get(key: string): T | undefined; has(key: string): boolean; readonly size: number; values(): IterableIterator<T> } {
  return {
    get: (key) => table.get(k, key),
    has: (key) => table.has(k, key),
    get size() {
      return table.size;
    },
    values: () => table.values(),
  };
}

function newDir(path: string, parent: DirRecord | undefined): DirRecord {
  return { path, parent, children: new Set(), filesBelow: 0, completeBelow: 0 };
}

/** The directory part of a canonical path (`/` for a top-level name). */
function parentPath(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/**
 * An array of `n` holes with room for exactly `n` (one grown index by index reserves 17 slots for
 * its first element). Very long ones are left to grow: V8 would make a huge holey array a dictionary.
 */
function exactArray(n: number): (ChunkRecord | undefined)[] {
  return n <= EXACT_ARRAY_MAX ? new Array(n) : [];
}
const EXACT_ARRAY_MAX = 50_000;

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
