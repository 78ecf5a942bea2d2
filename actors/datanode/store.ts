/**
 * The disk engine of a datanode: committed chunk files in one or more data dirs, writers that
 * stream a chunk into a temp file and commit it atomically, verified ranged reads, deletes and
 * the startup scan. No NATS here.
 */
import { constants as fsc, promises as fsp, writeSync, type Stats } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { WoodsError, toWoodsError, chunkChecksum } from "../../messages/index.js";
import type { Logger } from "../logger.js";
import { assert } from "../lifecycle.js";
import {
  BLOCK_CRC_BYTES,
  FOOTER_BYTES,
  BlockCrcAccumulator,
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

const CHUNKS_DIR = "chunks";
const TMP_DIR = "tmp";
/** Where files that failed verification are moved: out of service, kept for a human to inspect. */
const CORRUPT_DIR = "corrupt";

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
}

async function defaultStatfs(dir: string): Promise<{ capacityBytes: number; availableBytes: number; device: number }> {
  const [s, st] = await Promise.all([fsp.statfs(dir), fsp.stat(dir)]);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize, device: st.dev };
}

interface DataDir {
  path: string;
  failed: boolean;
}

/** A chunk being written: frames in order, then close() or abort(). */
export interface ChunkWriter {
  readonly chunkId: string;
  readonly version: number;
  /** Bytes accepted so far (= the next expected offset). */
  readonly receivedBytes: number;
  write(offset: number, bytes: Uint8Array): Promise<void>;
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

  constructor(opts: StoreOptions) {
    assert(opts.dirs.length > 0, "a datanode needs at least one data dir");
    this.opts = opts;
    this.log = opts.log;
    this.dirs = opts.dirs.map((path) => ({ path, failed: false }));
  }

  /** Creates `chunks/`, `tmp/` and `corrupt/` in every data dir; a dir that cannot be created is marked failed. */
  async init(): Promise<void> {
    for (const d of this.dirs) {
      try {
        for (const sub of [CHUNKS_DIR, TMP_DIR, CORRUPT_DIR]) await fsp.mkdir(join(d.path, sub), { recursive: true });
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
    for (const d of this.dirs) {
      if (d.failed) continue;
      try {
        await this.cleanTemp(d);
        await this.scanDir(d);
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

  /** The usable data dir with the most available space, or NO_SPACE when none has room for `needBytes`. */
  private async pickDir(needBytes: number): Promise<string> {
    const { dirs } = await this.usage();
    let best: DirUsage | undefined;
    for (const d of dirs) if (!d.failed && (!best || d.availableBytes > best.availableBytes)) best = d;
    if (!best) throw new WoodsError("IO", "no usable data dir");
    if (best.availableBytes < needBytes) {
      throw new WoodsError("NO_SPACE", `no data dir has ${needBytes} bytes free (best: ${best.path} with ${best.availableBytes})`);
    }
    return best.path;
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
    try {
      const dir = await this.pickDir(chunkFileBytes(maxSizeBytes, this.opts.blockSizeBytes));
      const rand = this.opts.randomHex?.() ?? randomBytes(8).toString("hex");
      const tempPath = join(dir, TMP_DIR, tempFileName(chunkId, version, rand));
      const fh = await fsp.open(tempPath, CREATE_FLAGS, 0o644);
      return new FileChunkWriter(this, { chunkId, version, maxSizeBytes, dir, tempPath, fh, blockSizeBytes: this.opts.blockSizeBytes });
    } catch (e) {
      this.writing.delete(key);
      throw toWoodsError(e, "IO");
    }
  }

  /** Called by a writer when it ends, committed or not. */
  writerDone(chunkId: string, version: number, committed?: StoredChunk): void {
    this.writing.delete(chunkFileName(chunkId, version));
    if (committed) this.addToIndex(committed);
  }

  /**
   * Reads `[offset, offset+length)` of a chunk (clamped to its end), verifying the CRC of every
   * block the range touches. A mismatch takes the replica out of service and throws CHECKSUM.
   */
  async read(chunkId: string, version: number | undefined, offset: number, length: number): Promise<{ data: Buffer; sizeBytes: number }> {
    validateChunkId(chunkId);
    if (version !== undefined) validateVersion(version);
    const c = this.get(chunkId, version);
    if (!c) throw new WoodsError("NOT_FOUND", `chunk ${chunkId}${version === undefined ? "" : ` v${version}`} is not stored here`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > c.sizeBytes) {
      throw new WoodsError("BAD_REQUEST", `offset ${offset} is outside chunk ${chunkId} of ${c.sizeBytes} bytes`);
    }
    if (!Number.isSafeInteger(length) || length < 0) throw new WoodsError("BAD_REQUEST", "length must be a non-negative integer");
    if (length > this.opts.readMaxBytes) {
      throw new WoodsError("TOO_LARGE", `read of ${length} bytes exceeds the ${this.opts.readMaxBytes}-byte slice limit`);
    }
    const len = Math.min(length, c.sizeBytes - offset);
    if (len === 0) return { data: Buffer.alloc(0), sizeBytes: c.sizeBytes };
    const path = join(c.dir, CHUNKS_DIR, chunkFileName(c.chunkId, c.version));
    try {
      const fh = await fsp.open(path, READ_FLAGS);
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
        return { data: span.subarray(offset - cover.start, offset - cover.start + len), sizeBytes: c.sizeBytes };
      } finally {
        await fh.close();
      }
    } catch (e) {
      const err = toWoodsError(e, "IO");
      // A vanished, truncated or damaged file must not be served again.
      if (err.code === "CHECKSUM" || err.code === "NOT_FOUND") await this.markCorrupt(c, err.message);
      throw err.code === "NOT_FOUND" ? new WoodsError("CHECKSUM", `chunk ${chunkId} file is missing`, { cause: e }) : err;
    }
  }

  private async markCorrupt(c: StoredChunk, reason: string): Promise<void> {
    if (this.get(c.chunkId, c.version) !== c) return;
    this.removeFromIndex(c.chunkId, c.version);
    this.log.warn({ chunkId: c.chunkId, version: c.version, dir: c.dir, reason }, `chunk ${c.chunkId} v${c.version} became corrupt: ${reason}`);
    await this.quarantine(c.dir, chunkFileName(c.chunkId, c.version));
    this.opts.onCorrupt?.(c, reason);
  }

  /** Deletes a replica; returns whether it was held. */
  async delete(chunkId: string, version: number): Promise<boolean> {
    validateChunkId(chunkId);
    validateVersion(version);
    const c = this.get(chunkId, version);
    if (!c) return false;
    this.removeFromIndex(chunkId, version);
    try {
      await fsp.unlink(join(c.dir, CHUNKS_DIR, chunkFileName(chunkId, version)));
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") {
        this.addToIndex(c);
        throw toWoodsError(e, "IO");
      }
    }
    return true;
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

  async write(offset: number, bytes: Uint8Array): Promise<void> {
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
      try {
        await writeFully(this.init.fh, bytes, offset);
      } catch (e) {
        const err = toWoodsError(e, "IO");
        await this.fail(err);
        throw err;
      }
      this.crcs.update(bytes);
      this.offset += bytes.length;
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
        throw await this.fail(toWoodsError(e, "IO"));
      }
      this.ended = new WoodsError("BAD_REQUEST", `chunk ${this.chunkId} v${this.version} is already committed`);
      this.store.writerDone(this.chunkId, this.version, {
        chunkId: this.chunkId,
        version: this.version,
        sizeBytes,
        checksum: actual,
        fileBytes: chunkFileBytes(sizeBytes, this.init.blockSizeBytes),
        dir,
      });
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
    this.store.writerDone(this.chunkId, this.version);
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

async function syncDir(path: string): Promise<void> {
  const dh = await fsp.open(path, fsc.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
