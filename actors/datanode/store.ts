/**
 * The disk engine of a datanode: committed chunk files in one or more data dirs, writers that
 * stream a chunk into a temp file and commit it atomically, verified ranged and whole-chunk
 * reads, deletes, corrupt replicas kept aside, data dir probes and failures, and the startup
 * scan. In-place appends live in append-store.ts; they share this index and the per-chunk locks
 * (chunk-locks.ts) that keep reads and deletes from seeing a half-rewritten trailer. No NATS here.
 */
import { constants as fsc, promises as fsp, writeSync, type Stats } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { WoodsError, toWoodsError, chunkChecksum } from "../../messages/index.js";
import type { Logger } from "../logger.js";
import { assert } from "../lifecycle.js";
import {
  BLOCK_CRC_BYTES,
  FOOTER_BYTES,
  BlockCrcAccumulator,
  type MeasuredPiece,
  buildTrailer,
  chunkFileBytes,
  chunkFileName,
  coveringBlocks,
  firstBadBlock,
  parseChunkFileName,
  parseFooter,
  tempFileName,
  validateChunkId,
  validateVersion,
} from "./chunk-file.js";
import { ChunkLocks } from "./chunk-locks.js";
import { APPEND_DIR, epochFileName, journalFileName, recoverAppendJournals, removeOrphanSidecars, syncDir } from "./append-journal.js";

const CHUNKS_DIR = "chunks";
const TMP_DIR = "tmp";
/** Where files that failed verification are moved: out of service, kept for a human to inspect. */
const CORRUPT_DIR = "corrupt";
/** Probe files start with a dot so neither the chunk scan nor a human mistakes them for chunks. */
const PROBE_NAME = ".woods-probe";
/** A probe of a data dir that has not finished after this long means the disk hangs: the dir is failed. */
export const DIR_PROBE_TIMEOUT_MS = 30_000;
/** Longest failure reason kept per corrupt replica (the report schema allows 512 characters). */
const REASON_MAX_CHARS = 500;

/** System error codes that mean the data dir itself is broken, not the one file or the free space. */
const DIR_FAULT_CODES = new Set(["EIO", "EROFS", "ENOTDIR", "EPERM", "EACCES", "ENXIO", "ENODEV", "ESTALE"]);

// O_NOFOLLOW so a symlink planted in a data dir can never redirect a read or write elsewhere.
const READ_FLAGS = fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0);
const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | (fsc.O_NOFOLLOW ?? 0);

export interface StoredChunk {
  chunkId: string;
  version: number;
  sizeBytes: number;
  checksum: string;
  /** Size of the file on disk (data + trailer). */
  fileBytes: number;
  dir: string;
}

/** A replica taken out of service because it failed verification; its file sits in `<dir>/corrupt/`. */
export interface CorruptReplica {
  chunkId: string;
  version: number;
  dir: string;
  reason: string;
}

export interface DirUsage {
  path: string;
  capacityBytes: number;
  availableBytes: number;
  failed: boolean;
}

export interface StoreUsage {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  dirs: DirUsage[];
}

export interface StoreOptions {
  dirs: string[];
  blockSizeBytes: number;
  /** Free space kept back on each data dir. */
  reserveBytes: number;
  /** Largest range one read may return (a reply must fit in max_payload). */
  readMaxBytes: number;
  log: Logger;
  /** Random hex for temp file names; injectable for tests. */
  randomHex?: () => string;
  /** Free/total bytes of the file system holding `dir`; injectable so tests can fake a full disk. */
  statfs?: (dir: string) => Promise<{ capacityBytes: number; availableBytes: number; device: number }>;
  /** Called when a replica is found corrupt and taken out of service. */
  onCorrupt?: (chunk: StoredChunk, reason: string) => void;
  /** Called when a data dir is marked failed; `lost` are the replicas (good or corrupt) that were in it. */
  onDirFailed?: (dir: string, reason: string, lost: { chunkId: string; version: number }[]) => void;
  /** Called with the bytes of every chunk write (frames, ingest), append and served read (metrics). */
  onBytes?: (io: ByteIo, bytes: number) => void;
}

/** What moved bytes, for the byte counters: chunk data written, appended in place, or read for a client. */
export type ByteIo = "write" | "append" | "read";

/** The system error code (`EIO`, `ENOENT`…) behind an error, looking through WoodsError causes. */
export function systemErrorCode(e: unknown): string | undefined {
  for (let cur = e as { code?: unknown; cause?: unknown } | undefined, depth = 0; cur && depth < 4; depth++) {
    if (typeof cur.code === "string" && /^E[A-Z0-9]+$/.test(cur.code)) return cur.code;
    cur = cur.cause as typeof cur;
  }
  return undefined;
}

/** Whether an error from a file operation means the data dir has failed (never ENOSPC: a full disk is not a broken one). */
export function isDirFault(e: unknown): boolean {
  const code = systemErrorCode(e);
  return code !== undefined && DIR_FAULT_CODES.has(code);
}

async function defaultStatfs(dir: string): Promise<{ capacityBytes: number; availableBytes: number; device: number }> {
  const [s, st] = await Promise.all([fsp.statfs(dir), fsp.stat(dir)]);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize, device: st.dev };
}

interface DataDir {
  path: string;
  failed: boolean;
  /** Bytes promised to writes in progress here, so concurrent writes do not overcommit the free space. */
  reservedBytes: number;
}

/** A chunk being written: frames in order, then close() or abort(). */
export interface ChunkWriter {
  readonly chunkId: string;
  readonly version: number;
  /** Bytes accepted so far (= the next expected offset). */
  readonly receivedBytes: number;
  /**
   * Checksums the next piece against the chunk's block boundaries without writing it; its `crc` is
   * the piece's CRC32. Handing it to `write` with the same bytes saves reading them twice.
   */
  measure(bytes: Uint8Array): MeasuredPiece;
  write(offset: number, bytes: Uint8Array, measured?: MeasuredPiece): Promise<void>;
  close(sizeBytes: number, checksum: string): Promise<{ sizeBytes: number; checksum: string }>;
  abort(): Promise<void>;
}

export class ChunkStore {
  private readonly dirs: DataDir[];
  private readonly opts: StoreOptions;
  private readonly log: Logger;
  /** chunkId → version → chunk; the in-memory index of what this node holds and serves. */
  private readonly index = new Map<string, Map<number, StoredChunk>>();
  /** `chunkId_vN` of writes in progress, so two writers never race for one final name. */
  private readonly writing = new Set<string>();
  /** `chunkId_vN` → replica kept aside in `corrupt/`, until the namenode orders its delete. */
  private readonly corrupt = new Map<string, CorruptReplica>();
  /** Readers share a chunk's lock; appends and deletes hold it alone. */
  readonly locks = new ChunkLocks();
  /**
   * chunkId → how many times bytes a reader may already hold were changed (an append that cut an
   * uncommitted tail, a delete). A verifying reader that sees a mismatch after this moved read a
   * file that changed under it, not a corrupt one.
   */
  private readonly rewrites = new Map<string, number>();
  /** Source of the values in `rewrites`: never repeats, so a forgotten entry cannot come back equal. */
  private rewriteSeq = 0;
  /** An index entry → the entry an append replaced it with: the same replica, grown or renamed. */
  private readonly successors = new WeakMap<StoredChunk, StoredChunk>();
  /**
   * `dir\0chunkId` of append journals removed without a dir fsync (append-store.ts saves that
   * fsync on every append). Before such a chunk's file is deleted or moved aside the removal is
   * made durable: a journal coming back after a crash must never meet a different file.
   */
  private readonly unsyncedJournalRemovals = new Set<string>();

  constructor(opts: StoreOptions) {
    assert(opts.dirs.length > 0, "a datanode needs at least one data dir");
    this.opts = opts;
    this.log = opts.log;
    this.dirs = opts.dirs.map((path) => ({ path, failed: false, reservedBytes: 0 }));
  }

  /** Counts bytes moved (see StoreOptions.onBytes); append-store reports its appends here. */
  noteBytes(io: ByteIo, bytes: number): void {
    this.opts.onBytes?.(io, bytes);
  }

  /** Creates `chunks/`, `tmp/` and `corrupt/` in every data dir; a dir that cannot be created is marked failed. */
  async init(): Promise<void> {
    for (const d of this.dirs) {
      try {
        for (const sub of [CHUNKS_DIR, TMP_DIR, CORRUPT_DIR, APPEND_DIR]) await fsp.mkdir(join(d.path, sub), { recursive: true });
      } catch (e) {
        d.failed = true;
        this.log.error({ err: e, dir: d.path }, `data dir ${d.path} failed: cannot create its subdirectories`);
      }
    }
    if (this.dirs.every((d) => d.failed)) throw new WoodsError("IO", `no usable data dir among ${this.dirs.map((d) => d.path).join(", ")}`);
  }

  /** Number of chunk replicas held. */
  get chunkCount(): number {
    let n = 0;
    for (const versions of this.index.values()) n += versions.size;
    return n;
  }

  /** Every chunk replica held, for full reports. */
  list(): StoredChunk[] {
    const out: StoredChunk[] = [];
    for (const versions of this.index.values()) for (const c of versions.values()) out.push(c);
    return out;
  }

  /** Every replica kept aside as corrupt, for full reports. */
  listCorrupt(): CorruptReplica[] {
    return [...this.corrupt.values()];
  }

  /** The corrupt copy of `chunkId` at `version`, if one is kept aside. */
  getCorrupt(chunkId: string, version: number): CorruptReplica | undefined {
    return this.corrupt.get(chunkFileName(chunkId, version));
  }

  /** Whether data dir `path` has been marked failed. */
  isDirFailed(path: string): boolean {
    return this.dirs.find((d) => d.path === path)?.failed ?? true;
  }

  /** Data dirs and whether each has failed. */
  dirStates(): { path: string; failed: boolean }[] {
    return this.dirs.map((d) => ({ path: d.path, failed: d.failed }));
  }

  /** The chunk `chunkId` at `version` (or its highest version), if held. */
  get(chunkId: string, version?: number): StoredChunk | undefined {
    const versions = this.index.get(chunkId);
    if (!versions) return undefined;
    if (version !== undefined) return versions.get(version);
    let best: StoredChunk | undefined;
    for (const c of versions.values()) if (!best || c.version > best.version) best = c;
    return best;
  }

  /**
   * Startup scan: indexes every committed chunk whose footer checks out, moves corrupt or
   * truncated files to `corrupt/`, and removes temp files left by a crash.
   */
  async scan(): Promise<StoredChunk[]> {
    this.index.clear();
    this.corrupt.clear();
    for (const d of this.dirs) {
      if (d.failed) continue;
      try {
        await this.cleanTemp(d);
        await this.scanCorruptDir(d);
        // Appends a crash interrupted are settled before their chunks are judged.
        await recoverAppendJournals(d.path, this.log);
        await this.scanDir(d);
        await removeOrphanSidecars(d.path, new Set(this.list().filter((c) => c.dir === d.path).map((c) => c.chunkId)), this.log);
      } catch (e) {
        d.failed = true;
        this.log.error({ err: e, dir: d.path }, `data dir ${d.path} failed during the startup scan`);
      }
    }
    return this.list();
  }

  private async cleanTemp(d: DataDir): Promise<void> {
    const tmp = join(d.path, TMP_DIR);
    for (const name of await fsp.readdir(tmp)) {
      await fsp.rm(join(tmp, name), { force: true, recursive: true });
      this.log.info({ dir: d.path, file: name }, `removed leftover temp file ${name} from ${d.path}`);
    }
  }

  /** Replicas quarantined by an earlier run stay known (and reported) until the namenode orders them deleted. */
  private async scanCorruptDir(d: DataDir): Promise<void> {
    for (const name of await fsp.readdir(join(d.path, CORRUPT_DIR))) {
      const parsed = parseChunkFileName(name);
      if (!parsed) continue;
      this.corrupt.set(name, { ...parsed, dir: d.path, reason: "kept in corrupt/ by an earlier run" });
    }
  }

  private async scanDir(d: DataDir): Promise<void> {
    const dir = join(d.path, CHUNKS_DIR);
    for (const name of await fsp.readdir(dir)) {
      const parsed = parseChunkFileName(name);
      const path = join(dir, name);
      if (!parsed) {
        this.log.warn({ dir: d.path, file: name }, `ignored ${name} in ${dir}: not a chunk file name`);
        continue;
      }
      let st: Stats;
      try {
        st = await fsp.lstat(path);
      } catch {
        continue;
      }
      if (!st.isFile()) {
        this.log.warn({ file: path }, `ignored ${path}: not a regular file`);
        continue;
      }
      try {
        const footer = await readFooter(path, st.size);
        if (footer.chunkVersion !== parsed.version) {
          throw new WoodsError("CHECKSUM", `footer says version ${footer.chunkVersion}, file name says ${parsed.version}`);
        }
        if (this.get(parsed.chunkId, parsed.version)) {
          this.log.warn({ file: path }, `ignored ${path}: chunk ${parsed.chunkId} v${parsed.version} is already held in another dir`);
          continue;
        }
        this.addToIndex({
          chunkId: parsed.chunkId,
          version: parsed.version,
          sizeBytes: footer.dataLength,
          checksum: chunkChecksum(footer.dataCrc),
          fileBytes: st.size,
          dir: d.path,
        });
      } catch (e) {
        const reason = (e as Error).message;
        this.log.warn({ file: path, reason }, `chunk file ${path} is corrupt (${reason}); moved out of service`);
        await this.quarantine(d.path, name);
        this.corrupt.set(name, { ...parsed, dir: d.path, reason: reason.slice(0, REASON_MAX_CHARS) });
      }
    }
  }

  private addToIndex(c: StoredChunk): void {
    let versions = this.index.get(c.chunkId);
    if (!versions) this.index.set(c.chunkId, (versions = new Map()));
    versions.set(c.version, c);
  }

  private removeFromIndex(chunkId: string, version: number): void {
    const versions = this.index.get(chunkId);
    if (!versions) return;
    versions.delete(version);
    if (versions.size === 0) this.index.delete(chunkId);
  }

  private async quarantine(dir: string, name: string): Promise<void> {
    try {
      await fsp.rename(join(dir, CHUNKS_DIR, name), join(dir, CORRUPT_DIR, name));
    } catch (e) {
      this.log.warn({ err: e, file: name }, `could not move corrupt ${name} aside`);
    }
  }

  /** Capacity/available of the data dirs' file systems (each counted once) and bytes used by chunks. */
  async usage(): Promise<StoreUsage> {
    const statfs = this.opts.statfs ?? defaultStatfs;
    const dirs: DirUsage[] = [];
    const seenDevices = new Set<number>();
    let capacityBytes = 0;
    let availableBytes = 0;
    for (const d of this.dirs) {
      if (d.failed) {
        // A failed dir offers nothing; statfs on it may hang or lie, so do not ask.
        dirs.push({ path: d.path, capacityBytes: 0, availableBytes: 0, failed: true });
        continue;
      }
      try {
        const s = await statfs(d.path);
        const available = Math.max(0, s.availableBytes - this.opts.reserveBytes);
        dirs.push({ path: d.path, capacityBytes: s.capacityBytes, availableBytes: d.failed ? 0 : available, failed: d.failed });
        // Two dirs on one file system share its free space; count it once.
        if (!d.failed && !seenDevices.has(s.device)) {
          seenDevices.add(s.device);
          capacityBytes += s.capacityBytes;
          availableBytes += available;
        }
      } catch {
        dirs.push({ path: d.path, capacityBytes: 0, availableBytes: 0, failed: true });
      }
    }
    let usedBytes = 0;
    for (const c of this.list()) usedBytes += c.fileBytes;
    return { capacityBytes, availableBytes, usedBytes, dirs };
  }

  /**
   * The usable data dir with the most space not yet promised to writes in progress, or NO_SPACE
   * when none has room for `needBytes`.
   */
  private async pickDir(needBytes: number): Promise<DataDir> {
    const { dirs } = await this.usage();
    let best: { dir: DataDir; free: number } | undefined;
    for (const u of dirs) {
      const dir = this.dirs.find((d) => d.path === u.path);
      if (!dir || dir.failed || u.failed) continue;
      const free = u.availableBytes - dir.reservedBytes;
      if (!best || free > best.free) best = { dir, free };
    }
    if (!best) throw new WoodsError("IO", "every data dir has failed");
    if (best.free < needBytes) {
      throw new WoodsError("NO_SPACE", `no data dir has ${needBytes} bytes free (best: ${best.dir.path} with ${best.free})`);
    }
    return best.dir;
  }

  /** Opens a writer for a new chunk replica of at most `maxSizeBytes` bytes. */
  async openWrite(chunkId: string, version: number, maxSizeBytes: number): Promise<ChunkWriter> {
    validateChunkId(chunkId);
    validateVersion(version);
    if (!Number.isSafeInteger(maxSizeBytes) || maxSizeBytes < 0) throw new WoodsError("BAD_REQUEST", "maxSizeBytes must be a non-negative integer");
    const key = chunkFileName(chunkId, version);
    if (this.get(chunkId, version)) throw new WoodsError("EXISTS", `chunk ${chunkId} v${version} is already stored here`);
    if (this.writing.has(key)) throw new WoodsError("EXISTS", `chunk ${chunkId} v${version} is already being written here`);
    this.writing.add(key);
    const needBytes = chunkFileBytes(maxSizeBytes, this.opts.blockSizeBytes);
    try {
      // A dir whose temp file cannot be created is failed; the next healthiest one gets the chunk.
      for (;;) {
        const dir = await this.pickDir(needBytes);
        const rand = this.opts.randomHex?.() ?? randomBytes(8).toString("hex");
        const tempPath = join(dir.path, TMP_DIR, tempFileName(chunkId, version, rand));
        let fh: fsp.FileHandle;
        try {
          fh = await fsp.open(tempPath, CREATE_FLAGS, 0o644);
        } catch (e) {
          if (isDirFault(e) || systemErrorCode(e) === "ENOENT") {
            await this.markDirFailed(dir.path, `cannot create a temp file: ${(e as Error).message}`);
            continue;
          }
          throw e;
        }
        dir.reservedBytes += needBytes;
        return new FileChunkWriter(this, {
          chunkId,
          version,
          maxSizeBytes,
          dir: dir.path,
          tempPath,
          fh,
          blockSizeBytes: this.opts.blockSizeBytes,
          reservedBytes: needBytes,
        });
      }
    } catch (e) {
      this.writing.delete(key);
      throw toWoodsError(e, "IO");
    }
  }

  /** Called by a writer when it ends, committed or not. Returns false when the chunk's dir failed meanwhile. */
  writerDone(init: { chunkId: string; version: number; dir: string; reservedBytes: number }, committed?: StoredChunk): boolean {
    this.writing.delete(chunkFileName(init.chunkId, init.version));
    const dir = this.dirs.find((d) => d.path === init.dir);
    if (dir) dir.reservedBytes = Math.max(0, dir.reservedBytes - init.reservedBytes);
    if (!committed) return true;
    // A chunk committed into a dir that failed meanwhile is lost with the dir, not served.
    if (!dir || dir.failed) return false;
    this.addToIndex(committed);
    return true;
  }

  /** Path of a held replica's file. */
  chunkPath(c: { dir: string; chunkId: string; version: number }): string {
    return join(c.dir, CHUNKS_DIR, chunkFileName(c.chunkId, c.version));
  }

  /** Whether a write of `chunkId` at `version` is in progress here (its final name is promised). */
  isWriting(chunkId: string, version: number): boolean {
    return this.writing.has(chunkFileName(chunkId, version));
  }

  /** Bytes new data may still take in data dir `path`: free space minus the reserve and what writes in progress were promised. */
  async freeBytes(path: string): Promise<number> {
    const d = this.dirs.find((x) => x.path === path);
    if (!d || d.failed) return 0;
    const s = await (this.opts.statfs ?? defaultStatfs)(path);
    return Math.max(0, s.availableBytes - this.opts.reserveBytes - d.reservedBytes);
  }

  /** The entry an append made of `c` (following every append since), or `c` itself. */
  latest(c: StoredChunk): StoredChunk {
    let cur = c;
    for (let next = this.successors.get(cur); next; next = this.successors.get(cur)) cur = next;
    return cur;
  }

  /**
   * After an append: `next` (the same replica, grown, maybe at a higher version) takes the place
   * of `old` in the index. `rewrote` = bytes below `old.sizeBytes` changed (an uncommitted tail
   * was cut), so verifying readers that started before do not take the change for corruption.
   * Returns false when `old` is no longer served (its dir failed meanwhile).
   */
  replaceChunk(old: StoredChunk, next: StoredChunk, rewrote: boolean): boolean {
    if (rewrote) this.noteRewrite(old.chunkId);
    if (this.get(old.chunkId, old.version) !== old) return false;
    const d = this.dirs.find((x) => x.path === next.dir);
    if (!d || d.failed) return false;
    this.removeFromIndex(old.chunkId, old.version);
    this.addToIndex(next);
    this.successors.set(old, next);
    return true;
  }

  /**
   * Takes a replica out of the index without moving its file: an append failed and could not be
   * undone in place. Its journal stays, so the next start settles the file. Returns whether it was served.
   */
  dropFromService(c: StoredChunk, reason: string): boolean {
    this.noteRewrite(c.chunkId);
    if (this.get(c.chunkId, c.version) !== c) return false;
    this.removeFromIndex(c.chunkId, c.version);
    this.log.error({ chunkId: c.chunkId, version: c.version, dir: c.dir, reason }, `chunk ${c.chunkId} v${c.version} left service: ${reason}`);
    return true;
  }

  /** An append removed `chunkId`'s journal in `dir` without fsyncing the directory. */
  noteJournalRemoved(dir: string, chunkId: string): void {
    this.unsyncedJournalRemovals.add(`${dir}\0${chunkId}`);
  }

  private async settleJournalRemoval(c: StoredChunk): Promise<void> {
    const key = `${c.dir}\0${c.chunkId}`;
    if (!this.unsyncedJournalRemovals.has(key)) return;
    try {
      await fsp.rm(join(c.dir, APPEND_DIR, journalFileName(c.chunkId)), { force: true });
      await syncDir(join(c.dir, APPEND_DIR));
      this.unsyncedJournalRemovals.delete(key);
    } catch (e) {
      this.log.warn({ err: e, chunkId: c.chunkId, dir: c.dir }, `could not make the removal of chunk ${c.chunkId}'s append journal durable`);
    }
  }

  private noteRewrite(chunkId: string): void {
    // Forgotten once no copy is left, so the map stays as small as the index.
    if (this.index.has(chunkId)) this.rewrites.set(chunkId, ++this.rewriteSeq);
    else this.rewrites.delete(chunkId);
  }

  /** Notes an I/O error on a file in `dir`; a dir fault (EIO, EROFS, ENOTDIR…) marks the dir failed. */
  async noteIoError(dir: string, e: unknown, what: string): Promise<void> {
    if (isDirFault(e)) await this.markDirFailed(dir, `${what}: ${(e as Error).message}`);
  }

  /**
   * Reads `[offset, offset+length)` of a chunk (clamped to its end), verifying the CRC of every
   * block the range touches. A mismatch takes the replica out of service and throws CHECKSUM.
   * Holds the chunk's lock shared: an append never rewrites the trailer under a read.
   */
  async read(chunkId: string, version: number | undefined, offset: number, length: number): Promise<{ data: Buffer; sizeBytes: number }> {
    validateChunkId(chunkId);
    if (version !== undefined) validateVersion(version);
    if (!Number.isSafeInteger(length) || length < 0) throw new WoodsError("BAD_REQUEST", "length must be a non-negative integer");
    if (length > this.opts.readMaxBytes) {
      throw new WoodsError("TOO_LARGE", `read of ${length} bytes exceeds the ${this.opts.readMaxBytes}-byte slice limit`);
    }
    return this.locks.shared(chunkId, async () => {
      const c = this.get(chunkId, version);
      if (!c) throw new WoodsError("NOT_FOUND", `chunk ${chunkId}${version === undefined ? "" : ` v${version}`} is not stored here`);
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > c.sizeBytes) {
        throw new WoodsError("BAD_REQUEST", `offset ${offset} is outside chunk ${chunkId} of ${c.sizeBytes} bytes`);
      }
      const len = Math.min(length, c.sizeBytes - offset);
      if (len === 0) return { data: Buffer.alloc(0), sizeBytes: c.sizeBytes };
      try {
        const fh = await fsp.open(this.chunkPath(c), READ_FLAGS);
        try {
          // Block size comes from the file's own footer: the config may have changed since it was written.
          const footer = Buffer.alloc(FOOTER_BYTES);
          await readFully(fh, footer, c.fileBytes - FOOTER_BYTES);
          const blockSize = parseFooter(footer, c.fileBytes).blockSizeBytes;
          const cover = coveringBlocks(offset, len, c.sizeBytes, blockSize);
          const span = Buffer.allocUnsafe(cover.end - cover.start);
          await readFully(fh, span, cover.start);
          const table = Buffer.allocUnsafe(cover.blocks * BLOCK_CRC_BYTES);
          await readFully(fh, table, c.sizeBytes + cover.firstBlock * BLOCK_CRC_BYTES);
          const bad = firstBadBlock(span, table, cover.firstBlock, blockSize);
          if (bad >= 0) throw new WoodsError("CHECKSUM", `chunk ${chunkId} v${c.version} block ${bad} does not match its CRC`);
          this.opts.onBytes?.("read", len);
          return { data: span.subarray(offset - cover.start, offset - cover.start + len), sizeBytes: c.sizeBytes };
        } finally {
          await fh.close();
        }
      } catch (e) {
        throw await this.readFailed(c, e);
      }
    });
  }

  /**
   * Streams a committed chunk in verified slices of about `sliceBytes` (rounded to whole blocks):
   * every block CRC, then the whole-chunk CRC against the footer and the index. A mismatch,
   * truncation or bad footer takes the replica out of service and throws CHECKSUM; a dir fault
   * marks the dir failed and throws IO. Used by the scrubber and by `replicate`.
   *
   * `lengthBytes` streams only [0, lengthBytes): a repair copies the committed bytes of a chunk
   * whose copy here also holds an uncommitted append tail. With `checksum` the CRC of what was
   * streamed must equal it, else STALE (every block verified: the copy is sound, it just holds
   * other bytes than the ones asked for). The chunk's lock is held shared for each step, never
   * across a yield; a mismatch in bytes an append rewrote meanwhile is UNAVAILABLE, not corrupt.
   * `c` may be an older index entry of the replica: the one held now at `c.version` is read.
   */
  async *readVerified(c: StoredChunk, sliceBytes: number, opts: { lengthBytes?: number; checksum?: string } = {}): AsyncGenerator<Buffer, void, undefined> {
    const id = c.chunkId;
    let cur = c;
    let generation = this.rewrites.get(id) ?? 0;
    let fh: fsp.FileHandle | undefined;
    // One step under the shared lock; its failure is judged there too, where no append interleaves.
    const step = <T>(fn: () => Promise<T>): Promise<T> =>
      this.locks.shared(id, async () => {
        try {
          return await fn();
        } catch (e) {
          const changed = (this.rewrites.get(id) ?? 0) !== generation;
          if (changed) throw new WoodsError("UNAVAILABLE", `chunk ${id} v${c.version} changed while being verified; read it again`, { cause: e });
          if (e instanceof WoodsError && e.code !== "CHECKSUM") throw e;
          throw await this.readFailed(cur, e);
        }
      });
    try {
      const head = await step(async () => {
        const now = this.get(id, c.version);
        if (!now) throw new WoodsError("NOT_FOUND", `chunk ${id} v${c.version} is no longer held here (deleted, out of service or renamed to a newer version)`);
        cur = now;
        generation = this.rewrites.get(id) ?? 0;
        const handle = await fsp.open(this.chunkPath(now), READ_FLAGS);
        fh = handle;
        const st = await handle.stat();
        if (st.size !== now.fileBytes) throw new WoodsError("CHECKSUM", `chunk file is ${st.size} bytes, was ${now.fileBytes} when stored`);
        const footerBuf = Buffer.alloc(FOOTER_BYTES);
        await readFully(handle, footerBuf, now.fileBytes - FOOTER_BYTES);
        const footer = parseFooter(footerBuf, now.fileBytes);
        if (footer.dataLength !== now.sizeBytes || chunkChecksum(footer.dataCrc) !== now.checksum) {
          throw new WoodsError("CHECKSUM", `chunk footer says ${footer.dataLength} bytes ${chunkChecksum(footer.dataCrc)}, stored as ${now.sizeBytes} bytes ${now.checksum}`);
        }
        const table = Buffer.allocUnsafe(now.fileBytes - FOOTER_BYTES - now.sizeBytes);
        await readFully(handle, table, now.sizeBytes);
        return { handle, footer, table, sizeBytes: now.sizeBytes };
      });
      const limit = opts.lengthBytes ?? head.sizeBytes;
      if (!Number.isSafeInteger(limit) || limit < 0 || limit > head.sizeBytes) {
        throw new WoodsError("STALE", `chunk ${id} v${c.version} holds ${head.sizeBytes} bytes here; ${limit} were asked for`);
      }
      const blockSize = head.footer.blockSizeBytes;
      // The block holding the last byte asked for is verified whole: its CRC covers all of it.
      const verifyEnd = Math.min(Math.ceil(limit / blockSize) * blockSize, head.sizeBytes);
      const slice = Math.max(1, Math.floor(sliceBytes / blockSize)) * blockSize;
      let crc = 0;
      for (let at = 0; at < verifyEnd; at += slice) {
        const span = Buffer.allocUnsafe(Math.min(slice, verifyEnd - at));
        await step(async () => {
          await readFully(head.handle, span, at);
          const firstBlock = at / blockSize;
          const spanTable = head.table.subarray(firstBlock * BLOCK_CRC_BYTES, (firstBlock + Math.ceil(span.length / blockSize)) * BLOCK_CRC_BYTES);
          const bad = firstBadBlock(span, spanTable, firstBlock, blockSize);
          if (bad >= 0) throw new WoodsError("CHECKSUM", `chunk ${id} v${cur.version} block ${bad} does not match its CRC`);
        });
        const wanted = span.subarray(0, Math.min(span.length, limit - at));
        crc = crc32(wanted, crc);
        yield wanted;
      }
      if (limit === head.sizeBytes && (crc >>> 0) !== head.footer.dataCrc) {
        const whole = crc;
        await step(async () => {
          throw new WoodsError("CHECKSUM", `chunk ${id} v${cur.version} data has ${chunkChecksum(whole)}, its footer says ${chunkChecksum(head.footer.dataCrc)}`);
        });
      }
      if (opts.checksum !== undefined && chunkChecksum(crc) !== opts.checksum) {
        throw new WoodsError("STALE", `chunk ${id} v${cur.version}: its first ${limit} bytes here have ${chunkChecksum(crc)}, ${opts.checksum} was asked for`);
      }
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  /**
   * Decides what a failed read of `c` means: a damaged, truncated or vanished file is corrupt
   * (out of service, CHECKSUM); a broken dir fails the whole dir (IO). Returns the error to throw.
   */
  async readFailed(c: StoredChunk, e: unknown): Promise<WoodsError> {
    const err = toWoodsError(e, "IO");
    if (isDirFault(e)) {
      await this.markDirFailed(c.dir, `reading chunk ${c.chunkId} failed: ${err.message}`);
      return new WoodsError("IO", `chunk ${c.chunkId} v${c.version} is on failed data dir ${c.dir}`, { cause: e });
    }
    if (err.code === "NOT_FOUND") {
      // A missing file in a healthy dir is a lost replica; a missing dir is a failed disk.
      const reason = await this.probeDir(c.dir, { write: false });
      if (reason) {
        await this.markDirFailed(c.dir, reason);
        return new WoodsError("IO", `chunk ${c.chunkId} v${c.version} is on failed data dir ${c.dir}`, { cause: e });
      }
      await this.markCorrupt(c, "chunk file is missing");
      return new WoodsError("CHECKSUM", `chunk ${c.chunkId} file is missing`, { cause: e });
    }
    if (err.code === "CHECKSUM") await this.markCorrupt(c, err.message);
    return err;
  }

  /** Takes a replica out of service: out of the index, its file into `corrupt/`, kept until ordered deleted. */
  async markCorrupt(found: StoredChunk, reason: string): Promise<void> {
    // An append may have replaced the entry since it was read: the same file, grown or renamed.
    const c = this.latest(found);
    if (this.get(c.chunkId, c.version) !== c) return;
    this.removeFromIndex(c.chunkId, c.version);
    this.log.warn({ chunkId: c.chunkId, version: c.version, dir: c.dir, reason }, `chunk ${c.chunkId} v${c.version} became corrupt: ${reason}`);
    const name = chunkFileName(c.chunkId, c.version);
    await this.quarantine(c.dir, name);
    await this.settleJournalRemoval(c);
    this.corrupt.set(name, { chunkId: c.chunkId, version: c.version, dir: c.dir, reason: reason.slice(0, REASON_MAX_CHARS) });
    this.opts.onCorrupt?.(c, reason);
  }

  /** Deletes a replica; returns whether it was held. Waits for an append to the chunk to finish. */
  async delete(chunkId: string, version: number): Promise<boolean> {
    validateChunkId(chunkId);
    validateVersion(version);
    return this.locks.exclusive(chunkId, async () => {
      const c = this.get(chunkId, version);
      if (!c) return false;
      this.removeFromIndex(chunkId, version);
      this.noteRewrite(chunkId);
      try {
        await fsp.unlink(join(c.dir, CHUNKS_DIR, chunkFileName(chunkId, version)));
      } catch (e) {
        if ((e as { code?: string }).code !== "ENOENT") {
          this.addToIndex(c);
          await this.noteIoError(c.dir, e, `deleting chunk ${chunkId} failed`);
          throw toWoodsError(e, "IO");
        }
      }
      await this.settleJournalRemoval(c);
      // The append epoch fence goes with the last copy of the chunk in this dir.
      if (!this.list().some((x) => x.chunkId === chunkId && x.dir === c.dir)) {
        await fsp.rm(join(c.dir, APPEND_DIR, epochFileName(chunkId)), { force: true }).catch(() => undefined);
      }
      return true;
    });
  }

  /** Deletes the corrupt copy of a replica kept aside; returns whether one was kept. */
  async deleteCorrupt(chunkId: string, version: number): Promise<boolean> {
    const name = chunkFileName(chunkId, version);
    const kept = this.corrupt.get(name);
    if (!kept) return false;
    try {
      await fsp.unlink(join(kept.dir, CORRUPT_DIR, name));
    } catch (e) {
      // On a failed dir the copy is as good as gone; anything else is retried on the next order.
      if (systemErrorCode(e) !== "ENOENT" && !this.isDirFailed(kept.dir)) throw toWoodsError(e, "IO");
    }
    this.corrupt.delete(name);
    return true;
  }

  /**
   * Probes data dir `path`: it and its subdirs are still directories and (with `write`) a small
   * file can be created, written, fsynced and removed in each. Returns why it failed, or undefined.
   */
  async probeDir(path: string, opts: { write: boolean } = { write: true }): Promise<string | undefined> {
    try {
      for (const sub of ["", CHUNKS_DIR, TMP_DIR, CORRUPT_DIR, APPEND_DIR]) {
        const p = join(path, sub);
        const st = await fsp.lstat(p);
        if (!st.isDirectory()) return `${p} is no longer a directory`;
      }
      if (!opts.write) return undefined;
      const rand = this.opts.randomHex?.() ?? randomBytes(8).toString("hex");
      for (const sub of ["", TMP_DIR, CHUNKS_DIR]) {
        const probe = join(path, sub, `${PROBE_NAME}-${rand}`);
        const fh = await fsp.open(probe, CREATE_FLAGS, 0o644);
        try {
          await fh.write(Buffer.from("woods probe\n"));
          // One fsync per dir is enough to see a disk that no longer takes writes.
          if (sub === "") await fh.sync();
        } finally {
          await fh.close().catch(() => undefined);
        }
        await fsp.unlink(probe);
      }
      return undefined;
    } catch (e) {
      const code = systemErrorCode(e);
      // A full disk is not a failed one: it is reported through its free space instead.
      if (code === "ENOSPC" || code === "EDQUOT") return undefined;
      return `probe failed: ${(e as Error).message}`;
    }
  }

  /** Probes every healthy data dir (bounded by DIR_PROBE_TIMEOUT_MS each) and fails the ones that do not pass. */
  async checkDirs(timeoutMs = DIR_PROBE_TIMEOUT_MS): Promise<void> {
    await Promise.all(
      this.dirs
        .filter((d) => !d.failed)
        .map(async (d) => {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<string>((resolve) => {
            timer = setTimeout(() => resolve(`probe did not finish within ${timeoutMs} ms`), timeoutMs);
            timer.unref();
          });
          const reason = await Promise.race([this.probeDir(d.path), timeout]);
          clearTimeout(timer);
          if (reason) await this.markDirFailed(d.path, reason);
        }),
    );
  }

  /**
   * Marks a data dir failed: no new chunks go there, its replicas (good and corrupt) leave the
   * index and are handed to `onDirFailed` so the namenode re-replicates them. Failed stays failed
   * until the datanode restarts (a flapping disk must not take chunks back and forth).
   */
  async markDirFailed(path: string, reason: string): Promise<void> {
    const d = this.dirs.find((x) => x.path === path);
    if (!d || d.failed) return;
    d.failed = true;
    const lost: { chunkId: string; version: number }[] = [];
    for (const c of this.list()) {
      if (c.dir !== path) continue;
      this.removeFromIndex(c.chunkId, c.version);
      lost.push({ chunkId: c.chunkId, version: c.version });
    }
    for (const [name, k] of this.corrupt) {
      if (k.dir !== path) continue;
      this.corrupt.delete(name);
      if (!lost.some((l) => l.chunkId === k.chunkId && l.version === k.version)) lost.push({ chunkId: k.chunkId, version: k.version });
    }
    const healthy = this.dirs.filter((x) => !x.failed).length;
    this.log.error(
      { dir: path, reason, lost: lost.length, healthyDirs: healthy },
      `data dir ${path} became failed (${reason}); ${lost.length} replicas lost with it, ${healthy} healthy dirs left`,
    );
    if (healthy === 0) this.log.error(`every data dir has failed; this datanode now reports no capacity and serves nothing`);
    this.opts.onDirFailed?.(path, reason, lost);
  }
}

async function readFully(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new WoodsError("CHECKSUM", `chunk file ends early at byte ${position + done}`);
    done += bytesRead;
  }
}

async function readFooter(path: string, fileBytes: number) {
  if (fileBytes < FOOTER_BYTES) throw new WoodsError("CHECKSUM", `file of ${fileBytes} bytes is too short for a footer`);
  const fh = await fsp.open(path, READ_FLAGS);
  try {
    const buf = Buffer.alloc(FOOTER_BYTES);
    await readFully(fh, buf, fileBytes - FOOTER_BYTES);
    return parseFooter(buf, fileBytes);
  } finally {
    await fh.close();
  }
}

interface WriterInit {
  chunkId: string;
  version: number;
  maxSizeBytes: number;
  dir: string;
  tempPath: string;
  fh: fsp.FileHandle;
  blockSizeBytes: number;
  /** Space promised to this write in its dir; given back when it ends. */
  reservedBytes: number;
}

class FileChunkWriter implements ChunkWriter {
  readonly chunkId: string;
  readonly version: number;
  private readonly store: ChunkStore;
  private readonly init: WriterInit;
  private readonly crcs: BlockCrcAccumulator;
  private offset = 0;
  private busy = false;
  /** Set once the writer has committed, aborted or failed; every later call throws it. */
  private ended: WoodsError | undefined;

  constructor(store: ChunkStore, init: WriterInit) {
    this.store = store;
    this.init = init;
    this.chunkId = init.chunkId;
    this.version = init.version;
    this.crcs = new BlockCrcAccumulator(init.blockSizeBytes);
  }

  get receivedBytes(): number {
    return this.offset;
  }

  private enter(what: string): void {
    if (this.ended) throw this.ended;
    // Frames of one chunk are serialized by the caller; overlapping calls are a bug there.
    assert(!this.busy, `chunk writer ${this.chunkId}: ${what} called while another call is running`);
    this.busy = true;
  }

  measure(bytes: Uint8Array): MeasuredPiece {
    return this.crcs.measure(bytes);
  }

  async write(offset: number, bytes: Uint8Array, measured?: MeasuredPiece): Promise<void> {
    this.enter("write");
    try {
      if (offset !== this.offset) {
        throw new WoodsError(
          "BAD_REQUEST",
          `frame at offset ${offset} for chunk ${this.chunkId} ${offset > this.offset ? "leaves a gap" : "overlaps"}: expected offset ${this.offset}`,
          { retryable: false },
        );
      }
      if (offset + bytes.length > this.init.maxSizeBytes) {
        throw new WoodsError("TOO_LARGE", `frame ending at ${offset + bytes.length} exceeds chunk ${this.chunkId}'s limit of ${this.init.maxSizeBytes} bytes`);
      }
      assert(!measured || (measured.at === offset && measured.length === bytes.length), "a measured piece is written where it was measured");
      const piece = measured ?? this.crcs.measure(bytes);
      try {
        await writeFully(this.init.fh, bytes, offset);
      } catch (e) {
        const err = toWoodsError(e, "IO");
        await this.fail(err);
        await this.store.noteIoError(this.init.dir, e, `writing chunk ${this.chunkId} failed`);
        throw err;
      }
      this.crcs.add(piece);
      this.offset += bytes.length;
      this.store.noteBytes("write", bytes.length);
    } finally {
      this.busy = false;
    }
  }

  async close(sizeBytes: number, checksum: string): Promise<{ sizeBytes: number; checksum: string }> {
    this.enter("close");
    try {
      if (sizeBytes !== this.offset) {
        throw await this.fail(new WoodsError("CHECKSUM", `chunk ${this.chunkId}: received ${this.offset} bytes, close says ${sizeBytes}`));
      }
      const sums = this.crcs.finish();
      const actual = chunkChecksum(sums.dataCrc);
      if (actual !== checksum) {
        throw await this.fail(new WoodsError("CHECKSUM", `chunk ${this.chunkId}: data has checksum ${actual}, close says ${checksum}`));
      }
      const { fh, dir, tempPath } = this.init;
      const finalName = chunkFileName(this.chunkId, this.version);
      if (this.store.isDirFailed(dir)) throw await this.fail(new WoodsError("IO", `data dir ${dir} failed while chunk ${this.chunkId} was being written`));
      try {
        const trailer = buildTrailer({
          dataLength: sizeBytes,
          chunkVersion: this.version,
          blockSizeBytes: this.init.blockSizeBytes,
          blockCrcs: sums.blockCrcs,
          dataCrc: sums.dataCrc,
        });
        await writeFully(fh, trailer, sizeBytes);
        // Data and trailer must be durable before the name appears, and the name before we answer.
        await fh.sync();
        await fh.close();
        await fsp.rename(tempPath, join(dir, CHUNKS_DIR, finalName));
        await syncDir(join(dir, CHUNKS_DIR));
      } catch (e) {
        const err = await this.fail(toWoodsError(e, "IO"));
        await this.store.noteIoError(dir, e, `committing chunk ${this.chunkId} failed`);
        throw err;
      }
      this.ended = new WoodsError("BAD_REQUEST", `chunk ${this.chunkId} v${this.version} is already committed`);
      const indexed = this.store.writerDone(this.init, {
        chunkId: this.chunkId,
        version: this.version,
        sizeBytes,
        checksum: actual,
        fileBytes: chunkFileBytes(sizeBytes, this.init.blockSizeBytes),
        dir,
      });
      if (!indexed) throw new WoodsError("IO", `data dir ${dir} failed while chunk ${this.chunkId} was being committed`);
      return { sizeBytes, checksum: actual };
    } finally {
      this.busy = false;
    }
  }

  async abort(): Promise<void> {
    if (this.ended) return;
    await this.fail(new WoodsError("NOT_FOUND", `write of chunk ${this.chunkId} was aborted`));
  }

  /** Ends the writer: closes and removes the temp file. Returns `err` for `throw await`. */
  private async fail(err: WoodsError): Promise<WoodsError> {
    if (this.ended) return err;
    this.ended = err;
    await this.init.fh.close().catch(() => undefined);
    await fsp.rm(this.init.tempPath, { force: true }).catch(() => undefined);
    this.store.writerDone(this.init);
    return err;
  }
}

/**
 * Writes synchronously on purpose: a 1 MiB write into the page cache takes well under a
 * millisecond, and measured here the thread-pool hop of an async write doubled the CPU cost
 * per byte and halved a datanode's ingest rate. Durability comes from the fsync at close.
 */
async function writeFully(fh: fsp.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fh.fd, bytes, done, bytes.length - done, position + done);
  }
}

