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

export type { AppendedKey } from "./append-keys.js";

/**
 * A committed chunk. Kept deliberately small (one object, no per-chunk arrays):
 * the namespace must hold millions of them. Its lifecycle state is implicitly
 * `committed`; chunks in other states live in the allocation / deletion tables.
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

/** An implied directory: exists while at least one file (in any state) lives under it. */
interface DirRecord {
  /** Names of direct children (files and directories). */
  children: Set<string>;
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
  chunks: ({ id: string; version: number; size: number; checksum: string } | undefined)[];
}

/** Namespace-wide values a snapshot carries besides the files. */
export interface NamespaceMeta {
  epoch: number;
  namenodeId: string;
  /** Log entries applied to reach this state. */
  applied: number;
  /** Highest append lease epoch granted (0: none; snapshots before appends carry none). */
  leaseEpoch: number;
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
  private readonly files = new Map<string, FileRecord>();
  private readonly byId = new Map<string, FileRecord>();
  private readonly chunkById = new Map<string, ChunkRecord>();
  private readonly dirs = new Map<string, DirRecord>([["/", newDir()]]);
  private epochValue = 0;
  private namenodeIdValue = "";
  private entriesApplied = 0;
  /** Append lease epochs: one namespace-wide counter that only grows (logged with every grant). */
  private leaseEpochValue = 0;
  private readonly leasesByChunk = new Map<string, ChunkLease>();
  private readonly keys = new AppendKeys();

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
    const base = prefix === "/" ? "" : prefix;
    const out: LsChild[] = [];
    for (const name of dir.children) {
      const path = `${base}/${name}`;
      const file = this.files.get(path);
      if (file) {
        if (file.state === "complete") out.push({ name, path, type: "file", size: file.sizeBytes });
        continue;
      }
      const sub = this.dirs.get(path);
      assert(sub, `child ${path} of ${prefix} is neither a file nor a directory`);
      if (sub.completeBelow > 0) out.push({ name, path, type: "dir" });
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
    for (const f of this.files.values()) files.push({ file: f, path: f.path, state: f.state, sizeBytes: f.sizeBytes, mtimeMs: f.mtimeMs, chunks: f.chunks.slice() });
    // Lease and key records are immutable (replaced, never changed): sharing them is a copy.
    return {
      meta: { epoch: this.epochValue, namenodeId: this.namenodeIdValue, applied: this.entriesApplied, leaseEpoch: this.leaseEpochValue },
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
    if (this.files.has(r.path)) bad("duplicate path");
    if (this.byId.has(r.fileId)) bad(`duplicate file id ${r.fileId}`);
    if (this.dirs.has(r.path)) bad("path is a directory");
    for (const parent of parentsOf(r.path)) if (this.files.has(parent)) bad(`${parent} is a file`);
    const f: FileRecord = {
      fileId: r.fileId,
      path: r.path,
      replication: r.replication,
      ...(r.clientId !== undefined ? { clientId: r.clientId } : {}),
      state: r.state,
      sizeBytes: r.sizeBytes,
      ctimeMs: r.ctimeMs,
      mtimeMs: r.mtimeMs,
      chunks: [],
    };
    for (let i = 0; i < r.chunks.length; i++) {
      const c = r.chunks[i];
      if (!c) continue;
      if (this.chunkById.has(c.id)) bad(`duplicate chunk ${c.id}`);
      const rec: ChunkRecord = { id: c.id, file: f, index: i, version: c.version, size: c.size, checksum: c.checksum };
      f.chunks[i] = rec;
      this.chunkById.set(c.id, rec);
    }
    // Trailing holes never exist live (an index is set, so the length follows it); only pad when asked.
    if (f.chunks.length < r.chunks.length) f.chunks.length = r.chunks.length;
    this.files.set(f.path, f);
    this.byId.set(f.fileId, f);
    this.linkPath(f.path);
    if (f.state === "complete") for (const dir of this.dirsOf(f.path)) dir.completeBelow++;
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
        assert(!this.files.has(entry.path), `create of existing path ${entry.path}`);
        assert(!this.byId.has(entry.fileId), `create of existing file id ${entry.fileId}`);
        const f: FileRecord = {
          fileId: entry.fileId,
          path: entry.path,
          replication: entry.replication,
          ...(entry.clientId !== undefined ? { clientId: entry.clientId } : {}),
          state: "writing",
          sizeBytes: 0,
          ctimeMs: entry.atMs,
          mtimeMs: entry.atMs,
          chunks: [],
        };
        this.files.set(f.path, f);
        this.byId.set(f.fileId, f);
        this.linkPath(f.path);
        return [];
      }
      case "chunk": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.state === "writing", `chunk for file ${entry.fileId} that is not being written`);
        const dropped: DroppedChunk[] = [];
        const old = f.chunks[entry.index];
        if (old) {
          // A re-committed index (the writer retried after a lost reply): the old chunk is garbage.
          this.chunkById.delete(old.id);
          dropped.push({ id: old.id, version: old.version });
        }
        const c: ChunkRecord = {
          id: entry.chunkId,
          file: f,
          index: entry.index,
          version: entry.version,
          size: entry.sizeBytes,
          checksum: entry.checksum,
        };
        f.chunks[entry.index] = c;
        f.mtimeMs = entry.atMs;
        this.chunkById.set(c.id, c);
        return dropped;
      }
      case "complete": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.state === "writing", `complete of file ${entry.fileId} that is not being written`);
        f.state = "complete";
        f.sizeBytes = entry.sizeBytes;
        f.mtimeMs = entry.atMs;
        for (const dir of this.dirsOf(f.path)) dir.completeBelow++;
        return [];
      }
      case "delete": {
        const f = this.byId.get(entry.fileId);
        assert(f && f.path === entry.path, `delete of unknown file ${entry.fileId} at ${entry.path}`);
        const dropped: DroppedChunk[] = [];
        for (const c of f.chunks) {
          if (!c) continue;
          this.chunkById.delete(c.id);
          dropped.push({ id: c.id, version: c.version });
        }
        if (f.state === "complete") for (const dir of this.dirsOf(f.path)) dir.completeBelow--;
        const last = this.lastChunk(f);
        if (last) this.leasesByChunk.delete(last.id);
        this.keys.dropFile(f.fileId);
        this.files.delete(f.path);
        this.byId.delete(f.fileId);
        this.unlinkPath(f.path);
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
          assert(!this.chunkById.has(ch.chunkId), `appendChunks of chunk ${ch.chunkId} that is already in the namespace`);
          const c: ChunkRecord = { id: ch.chunkId, file: f, index: f.chunks.length, version: ch.version, size: ch.sizeBytes, checksum: ch.checksum };
          f.chunks.push(c);
          this.chunkById.set(c.id, c);
          total += ch.sizeBytes;
        }
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
        for (const dir of this.dirsOf(f.path)) dir.completeBelow--;
        this.files.delete(f.path);
        this.unlinkPath(f.path);
        f.path = entry.dst;
        f.renamedFrom = entry.src;
        this.files.set(f.path, f);
        this.linkPath(f.path);
        for (const dir of this.dirsOf(f.path)) dir.completeBelow++;
        // Chunks, append leases and append keys are keyed by id, not path: they move with the file.
        return [];
      }
      case "chunkVersion": {
        const c = this.chunkById.get(entry.chunkId);
        assert(c, `chunkVersion of unknown chunk ${entry.chunkId}`);
        assert(entry.version > c.version, `chunkVersion ${entry.version} of chunk ${c.id} does not follow ${c.version}`);
        this.replaceChunk(c, { version: entry.version, size: c.size, checksum: c.checksum });
        return [];
      }
    }
  }

  /** The file and its last chunk named by an append entry (asserted: the entry was validated before logging). */
  private lastChunkOf(fileId: string, chunkId: string, op: string): { f: FileRecord; c: ChunkRecord } {
    const f = this.byId.get(fileId);
    assert(f && f.state === "complete", `${op} on file ${fileId} that is not complete`);
    const c = this.chunkById.get(chunkId);
    assert(c && c.file === f && this.lastChunk(f) === c, `${op} on chunk ${chunkId}, which is not the last chunk of ${f.path}`);
    return { f, c };
  }

  /** Chunk records are immutable (snapshots share them): a change replaces the record. */
  private replaceChunk(c: ChunkRecord, next: { version: number; size: number; checksum: string }): void {
    const rec: ChunkRecord = { id: c.id, file: c.file, index: c.index, ...next };
    c.file.chunks[c.index] = rec;
    this.chunkById.set(c.id, rec);
  }

  /** Id of the namenode that wrote the latest epoch entry. */
  get namenodeId(): string {
    return this.namenodeIdValue;
  }

  // ---- directory bookkeeping ----

  /** Directories containing `path`, root first. */
  private dirsOf(path: string): DirRecord[] {
    const out = [this.dirs.get("/")!];
    for (const p of parentsOf(path)) {
      const d = this.dirs.get(p);
      assert(d, `directory ${p} of ${path} is missing`);
      out.push(d);
    }
    return out;
  }

  private linkPath(path: string): void {
    let parent = this.dirs.get("/")!;
    parent.filesBelow++;
    let cur = "";
    const segs = path.slice(1).split("/");
    for (let i = 0; i < segs.length; i++) {
      parent.children.add(segs[i]);
      if (i === segs.length - 1) break;
      cur += "/" + segs[i];
      let d = this.dirs.get(cur);
      if (!d) {
        d = newDir();
        this.dirs.set(cur, d);
      }
      d.filesBelow++;
      parent = d;
    }
  }

  private unlinkPath(path: string): void {
    const segs = path.slice(1).split("/");
    const chain: [string, DirRecord][] = [["/", this.dirs.get("/")!]];
    let cur = "";
    for (let i = 0; i < segs.length - 1; i++) {
      cur += "/" + segs[i];
      chain.push([cur, this.dirs.get(cur)!]);
    }
    // Walk up from the file: a directory whose last file went disappears from its parent.
    let childName = segs[segs.length - 1];
    for (let i = chain.length - 1; i >= 0; i--) {
      const [dirPath, dir] = chain[i];
      if (childName !== "") dir.children.delete(childName);
      dir.filesBelow--;
      assert(dir.filesBelow >= 0, `negative file count under ${dirPath}`);
      if (dir.filesBelow === 0 && dirPath !== "/") {
        this.dirs.delete(dirPath);
        childName = segs[i - 1];
      } else {
        childName = "";
      }
    }
  }
}

function newDir(): DirRecord {
  return { children: new Set(), filesBelow: 0, completeBelow: 0 };
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
