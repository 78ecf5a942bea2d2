/**
 * In-place appends on a replica (docs/append.md, step 4). `appendAt` writes a batch at `offset`
 * of a committed chunk file, keeping its format (chunk-file.ts: data, CRC table, footer):
 *
 * 1. fencing: a lower lease epoch than the highest seen for the chunk (kept on disk, see
 *    append-journal.ts) or a lower version than the copy here is refused (STALE); a higher
 *    version renames the copy to it (the new footer carries the version);
 * 2. `crcBefore` must be the CRC32 of the bytes [0, offset) here (CHECKSUM otherwise), and the
 *    copy must hold at least `offset` bytes (STALE: this replica is behind);
 * 3. the old file from `offset` to its end (an uncommitted tail, the CRC table, the footer) is
 *    saved in a durable journal; then the data, the new table and footer are written, the file
 *    cut to its exact size and fsynced, renamed if the version changed, and the journal removed.
 *
 * Everything runs under the chunk's exclusive lock, so reads, the scrubber, a repair source and
 * deletes never see a half-rewritten trailer. No NATS here.
 */
import { constants as fsc, promises as fsp } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { WoodsError, toWoodsError, chunkChecksum, crcHex } from "../../messages/index.js";
import type { Logger } from "../logger.js";
import type { ChunkStore, StoredChunk } from "./store.js";
import {
  BLOCK_CRC_BYTES,
  FOOTER_BYTES,
  buildTrailer,
  continueBlockCrcs,
  firstBadBlock,
  parseBlockCrcs,
  parseFooter,
  validateChunkId,
  validateVersion,
} from "./chunk-file.js";
import {
  APPEND_DIR,
  encodeEpoch,
  encodeJournal,
  epochFileName,
  journalFileName,
  readEpoch,
  rollBack,
  syncDir,
  writeDurably,
  type AppendJournal,
} from "./append-journal.js";

/** Most chunks whose highest epoch is cached in memory (the sidecar files hold them all). */
const EPOCH_CACHE_MAX_ENTRIES = 100_000;
/** Slices in which a prefix is read back to compute its CRC (only when an uncommitted tail is cut). */
const PREFIX_SLICE_BYTES = 1024 * 1024;
const RW_FLAGS = fsc.O_RDWR | (fsc.O_NOFOLLOW ?? 0);

export interface AppendAtRequest {
  chunkId: string;
  version: number;
  epoch: number;
  offset: number;
  /** CRC32 of bytes [0, offset) as the primary knows them. */
  crcBefore: number;
  data: Uint8Array;
}

export interface AppendAtResult {
  /** Length of the copy after the write. */
  sizeBytes: number;
  /** CRC32 of all its bytes. */
  crc: number;
}

/** What an append changed among the replicas held, for the namenode's report. */
export interface AppendChange {
  stored?: StoredChunk;
  removed: { chunkId: string; version: number }[];
}

/** Instants of an append at which a test may stop it dead, as a crash would. */
export type AppendCrashPoint = "after-journal" | "after-data" | "after-trailer" | "before-rename";

/** Thrown at a crash point: the append stops with no clean-up at all. */
export class SimulatedCrash extends Error {
  constructor(point: AppendCrashPoint) {
    super(`simulated crash ${point}`);
    this.name = "SimulatedCrash";
  }
}

export interface AppendStoreOptions {
  store: ChunkStore;
  log: Logger;
  /** Called after an append changed a replica (size, checksum, version) or took one out of service. */
  onChange?: (change: AppendChange) => void;
  /** Random hex for temp file names; injectable for tests. */
  randomHex?: () => string;
  /** Tests only: return true to stop the append at that instant with no clean-up (a simulated crash). */
  crashAt?: (point: AppendCrashPoint) => boolean;
}

/** What the copy holds before the append, read and verified under the lock. */
interface Before {
  trailer: Buffer;
  blockSizeBytes: number;
  blockCrcs: number[];
  /** CRC32 of [0, offset). */
  crcBefore: number;
  /** CRC32 of the partial block [floor(offset/bs)*bs, offset). */
  partialCrc: number;
}

export class AppendStore {
  private readonly opts: AppendStoreOptions;
  private readonly store: ChunkStore;
  private readonly log: Logger;
  /** chunkId → highest lease epoch seen (a cache of the epoch sidecars). */
  private readonly epochs = new Map<string, number>();

  constructor(opts: AppendStoreOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.log = opts.log;
  }

  /** Writes `data` at `offset` of the chunk, discarding any bytes at or after it; see the module comment. */
  async appendAt(a: AppendAtRequest): Promise<AppendAtResult> {
    validateChunkId(a.chunkId);
    validateVersion(a.version);
    if (!Number.isSafeInteger(a.epoch) || a.epoch < 1) throw new WoodsError("BAD_REQUEST", `epoch ${a.epoch} must be a positive integer`);
    if (!Number.isSafeInteger(a.offset) || a.offset < 0) throw new WoodsError("BAD_REQUEST", `offset ${a.offset} must be a non-negative integer`);
    if (!Number.isInteger(a.crcBefore) || a.crcBefore < 0 || a.crcBefore > 0xffff_ffff) throw new WoodsError("BAD_REQUEST", "crcBefore must be a uint32");
    const r = await this.store.locks.exclusive(a.chunkId, () => this.appendLocked(a));
    this.store.noteBytes("append", a.data.length);
    return r;
  }

  /** The highest lease epoch seen for `chunkId` (0 when none), whose copy is in data dir `dir`. */
  async highestEpoch(chunkId: string, dir: string): Promise<number> {
    const cached = this.epochs.get(chunkId);
    if (cached !== undefined) return cached;
    const epoch = await readEpoch(dir, chunkId, this.log);
    this.remember(chunkId, epoch);
    return epoch;
  }

  private remember(chunkId: string, epoch: number): void {
    this.epochs.delete(chunkId);
    if (this.epochs.size >= EPOCH_CACHE_MAX_ENTRIES) {
      const oldest = this.epochs.keys().next().value;
      if (oldest !== undefined) this.epochs.delete(oldest);
    }
    this.epochs.set(chunkId, epoch);
  }

  private crash(point: AppendCrashPoint): void {
    if (this.opts.crashAt?.(point)) throw new SimulatedCrash(point);
  }

  private async appendLocked(a: AppendAtRequest): Promise<AppendAtResult> {
    const id = a.chunkId;
    const local = this.store.get(id);
    if (!local) {
      const bad = this.store.getCorrupt(id, a.version) ? " (its copy here is corrupt)" : "";
      throw new WoodsError("NOT_FOUND", `chunk ${id} is not stored here${bad}`);
    }
    const seen = await this.highestEpoch(id, local.dir);
    if (a.epoch < seen) throw new WoodsError("STALE", `append to chunk ${id} under lease epoch ${a.epoch} refused: epoch ${seen} has been seen`);
    if (a.version < local.version) throw new WoodsError("STALE", `append to chunk ${id} v${a.version} refused: the copy here is v${local.version}`);
    if (a.offset > local.sizeBytes) {
      throw new WoodsError("STALE", `append to chunk ${id} at offset ${a.offset} refused: the copy here holds only ${local.sizeBytes} bytes (it is behind)`);
    }
    const renaming = a.version !== local.version;
    if (renaming && this.store.isWriting(id, a.version)) throw new WoodsError("UNAVAILABLE", `chunk ${id} v${a.version} is being written here; try again`);

    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.store.chunkPath(local), RW_FLAGS);
    } catch (e) {
      throw await this.localFailure(local, e);
    }
    try {
      return await this.appendOpen(a, local, seen, fh, renaming);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  private async appendOpen(a: AppendAtRequest, local: StoredChunk, seen: number, fh: fsp.FileHandle, renaming: boolean): Promise<AppendAtResult> {
    const id = a.chunkId;
    const o = a.offset;
    const n = a.data.length;
    const before = await this.readBefore(fh, local, o);
    if (before.crcBefore !== a.crcBefore) {
      throw new WoodsError("CHECKSUM", `chunk ${id}: bytes [0, ${o}) here have crc32 ${crcHex(before.crcBefore)}, the primary expects ${crcHex(a.crcBefore)}`);
    }
    if (o === local.sizeBytes && n === 0 && !renaming) {
      if (a.epoch > seen) await this.raiseEpoch(local, a.epoch);
      return { sizeBytes: local.sizeBytes, crc: before.crcBefore };
    }
    const bs = before.blockSizeBytes;
    const blockCrcs = continueBlockCrcs(before.blockCrcs.slice(0, Math.floor(o / bs)), before.partialCrc, o % bs, a.data, bs);
    const newCrc = crc32(a.data, before.crcBefore) >>> 0;
    const trailer = buildTrailer({ dataLength: o + n, chunkVersion: a.version, blockSizeBytes: bs, blockCrcs, dataCrc: newCrc });
    const newFileBytes = o + n + trailer.length;
    let saved: Buffer;
    try {
      saved = o === local.sizeBytes ? before.trailer : Buffer.concat([await readAt(fh, local.sizeBytes - o, o), before.trailer]);
    } catch (e) {
      throw await this.localFailure(local, e);
    }
    const journal: AppendJournal = {
      chunkId: id,
      oldVersion: local.version,
      newVersion: a.version,
      offset: o,
      oldFileBytes: local.fileBytes,
      newDataLength: o + n,
      newFileBytes,
      newDataCrc: newCrc,
      blockSizeBytes: bs,
      saved,
    };
    const encoded = encodeJournal(journal);
    const needBytes = Math.max(0, newFileBytes - local.fileBytes) + encoded.length;
    let freeBytes: number;
    try {
      freeBytes = await this.store.freeBytes(local.dir);
    } catch (e) {
      throw await this.sideFailure(local, e);
    }
    if (freeBytes < needBytes) {
      throw new WoodsError("NO_SPACE", `appending ${n} bytes to chunk ${id} needs ${needBytes} bytes in ${local.dir}, ${freeBytes} are free`);
    }
    // The fence first: once anything of this epoch is on disk, a restart must still know the epoch.
    if (a.epoch > seen) await this.raiseEpoch(local, a.epoch);
    try {
      await writeDurably(local.dir, journalFileName(id), encoded, this.rand());
    } catch (e) {
      // The chunk file is untouched.
      throw await this.sideFailure(local, e);
    }
    this.crash("after-journal");

    const oldPath = this.store.chunkPath(local);
    const newPath = this.store.chunkPath({ dir: local.dir, chunkId: id, version: a.version });
    let renamed = false;
    try {
      await writeAt(fh, a.data, o);
      this.crash("after-data");
      await writeAt(fh, trailer, o + n);
      await fh.truncate(newFileBytes);
      this.crash("after-trailer");
      await fh.sync();
      if (renaming) {
        this.crash("before-rename");
        await fsp.rename(oldPath, newPath);
        renamed = true;
        await syncDir(join(local.dir, "chunks"));
      }
    } catch (e) {
      if (e instanceof SimulatedCrash) throw e;
      await this.undo(local, journal, renamed ? newPath : oldPath, e);
      throw toWoodsError(e, "IO");
    }
    // Durable now. The journal's removal is not fsynced: should it come back after a crash, the
    // file is exactly its "after" state and the startup scan drops it (the store fsyncs the
    // removal before this chunk's file is ever deleted or moved aside).
    try {
      await fsp.rm(join(local.dir, APPEND_DIR, journalFileName(id)), { force: true });
      this.store.noteJournalRemoved(local.dir, id);
    } catch (e) {
      this.log.warn({ err: e, chunkId: id }, `could not remove the append journal of chunk ${id}; the next start drops it`);
    }
    const next: StoredChunk = { chunkId: id, version: a.version, sizeBytes: o + n, checksum: chunkChecksum(newCrc), fileBytes: newFileBytes, dir: local.dir };
    if (!this.store.replaceChunk(local, next, o < local.sizeBytes)) {
      throw new WoodsError("IO", `data dir ${local.dir} failed while chunk ${id} was being appended to`);
    }
    // Only a new name is news to the namenode: it takes sizes from its own log, never from reports
    // (a replica may hold an uncommitted tail), so a size-only change costs no report request.
    if (renaming) this.opts.onChange?.({ stored: next, removed: [{ chunkId: id, version: local.version }] });
    this.log.debug(
      { chunkId: id, version: a.version, epoch: a.epoch, offset: o, bytes: n, cut: local.sizeBytes - o },
      `chunk ${id} v${a.version}: appended ${n} bytes at ${o}` + (renaming ? ` (renamed from v${local.version})` : "") + (o < local.sizeBytes ? `, cut an uncommitted tail of ${local.sizeBytes - o} bytes` : ""),
    );
    return { sizeBytes: o + n, crc: newCrc };
  }

  /**
   * Reads the copy's trailer and, when `o` is inside its data (an uncommitted tail is cut), the
   * prefix [0, o) to compute its CRC, verifying every block read. A damaged copy is taken out of
   * service (CHECKSUM).
   */
  private async readBefore(fh: fsp.FileHandle, local: StoredChunk, o: number): Promise<Before> {
    try {
      const st = await fh.stat();
      if (st.size !== local.fileBytes) throw new WoodsError("CHECKSUM", `chunk file is ${st.size} bytes, was ${local.fileBytes} when stored`);
      const trailer = await readAt(fh, local.fileBytes - local.sizeBytes, local.sizeBytes);
      const footer = parseFooter(trailer.subarray(trailer.length - FOOTER_BYTES), local.fileBytes);
      if (footer.dataLength !== local.sizeBytes || chunkChecksum(footer.dataCrc) !== local.checksum || footer.chunkVersion !== local.version) {
        throw new WoodsError("CHECKSUM", `chunk footer says v${footer.chunkVersion} ${footer.dataLength} bytes ${chunkChecksum(footer.dataCrc)}, stored as v${local.version} ${local.sizeBytes} bytes ${local.checksum}`);
      }
      const table = trailer.subarray(0, trailer.length - FOOTER_BYTES);
      const bs = footer.blockSizeBytes;
      const blockCrcs = parseBlockCrcs(table);
      const k0 = Math.floor(o / bs);
      const fill = o % bs;
      if (o === local.sizeBytes) {
        // The common case: the partial last block's CRC continues, nothing is read back.
        return { trailer, blockSizeBytes: bs, blockCrcs, crcBefore: footer.dataCrc, partialCrc: fill > 0 ? blockCrcs[k0] : 0 };
      }
      // Verify every block up to the one holding `o` (whole: its CRC covers all of it).
      const end = fill > 0 ? Math.min(local.sizeBytes, (k0 + 1) * bs) : o;
      const slice = Math.max(1, Math.floor(PREFIX_SLICE_BYTES / bs)) * bs;
      let crcBefore = 0;
      let partialCrc = 0;
      for (let at = 0; at < end; at += slice) {
        const span = await readAt(fh, Math.min(slice, end - at), at);
        const firstBlock = at / bs;
        const spanTable = table.subarray(firstBlock * BLOCK_CRC_BYTES, (firstBlock + Math.ceil(span.length / bs)) * BLOCK_CRC_BYTES);
        const bad = firstBadBlock(span, spanTable, firstBlock, bs);
        if (bad >= 0) throw new WoodsError("CHECKSUM", `chunk ${local.chunkId} v${local.version} block ${bad} does not match its CRC`);
        const upto = Math.min(span.length, o - at);
        if (upto > 0) crcBefore = crc32(span.subarray(0, upto), crcBefore);
        const partialStart = k0 * bs - at;
        if (fill > 0 && partialStart >= 0 && partialStart < span.length) partialCrc = crc32(span.subarray(partialStart, partialStart + fill));
      }
      return { trailer, blockSizeBytes: bs, blockCrcs, crcBefore: crcBefore >>> 0, partialCrc: partialCrc >>> 0 };
    } catch (e) {
      throw await this.localFailure(local, e);
    }
  }

  /** Persists a higher epoch for the chunk (tmp, fsync, rename, dir fsync), then remembers it. */
  private async raiseEpoch(local: StoredChunk, epoch: number): Promise<void> {
    try {
      await writeDurably(local.dir, epochFileName(local.chunkId), encodeEpoch(epoch), this.rand());
    } catch (e) {
      throw await this.sideFailure(local, e);
    }
    this.remember(local.chunkId, epoch);
  }

  /**
   * Puts the copy back as it was after a failed write (nothing of it was acknowledged). If even
   * that fails the copy leaves service until the next start settles it from the journal.
   */
  private async undo(local: StoredChunk, journal: AppendJournal, path: string, cause: unknown): Promise<void> {
    const id = local.chunkId;
    try {
      await rollBack(local.dir, path, journal);
      await fsp.rm(join(local.dir, APPEND_DIR, journalFileName(id)), { force: true });
      this.store.noteJournalRemoved(local.dir, id);
      this.log.warn({ chunkId: id, err: cause }, `append to chunk ${id} failed (${(cause as Error).message}); the copy was rolled back`);
    } catch (e) {
      if (this.store.dropFromService(local, `an append failed (${(cause as Error).message}) and could not be rolled back (${(e as Error).message})`)) {
        this.opts.onChange?.({ removed: [{ chunkId: id, version: local.version }] });
      }
      await this.store.noteIoError(local.dir, e, `rolling back an append to chunk ${id} failed`);
    }
    await this.store.noteIoError(local.dir, cause, `appending to chunk ${id} failed`);
  }

  /** A failed read of the copy: judged like any read (a dir fault fails the dir, a damaged or missing file is corrupt). */
  private localFailure(local: StoredChunk, e: unknown): Promise<WoodsError> {
    return this.store.readFailed(local, e);
  }

  /** A failed write of a sidecar (journal, epoch) or a free-space probe: the copy itself is untouched. */
  private async sideFailure(local: StoredChunk, e: unknown): Promise<WoodsError> {
    await this.store.noteIoError(local.dir, e, `appending to chunk ${local.chunkId} failed`);
    return toWoodsError(e, "IO");
  }

  private rand(): string {
    return this.opts.randomHex?.() ?? randomBytes(8).toString("hex");
  }
}

async function readAt(fh: fsp.FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new WoodsError("CHECKSUM", `chunk file ends early at byte ${position + done}`);
    done += bytesRead;
  }
  return buf;
}

async function writeAt(fh: fsp.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
