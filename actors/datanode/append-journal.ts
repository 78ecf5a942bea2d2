/**
 * Crash safety of in-place appends (docs/append.md, step 4). Two small files per chunk live in
 * `<dataDir>/append/`, next to the chunk's own dir:
 *
 * - `<chunkId>.epoch`: the highest lease epoch this replica has seen for the chunk, so a restart
 *   does not forget the fence. Written (tmp, fsync, rename, dir fsync) only when it grows.
 * - `<chunkId>.journal`: written durably before an append touches the chunk file. It holds the
 *   old file's bytes from the append offset to its end (the uncommitted tail it discards and the
 *   old CRC table and footer) and what the file must look like afterwards. At startup a journal
 *   whose chunk file is exactly the "after" state is dropped (the append finished); otherwise the
 *   file is put back byte for byte as it was. The reply to the primary is sent only after the
 *   append finished, so a rolled-back append was never acknowledged, and the "before" state
 *   holds everything acknowledged earlier.
 *
 * Formats (little endian), each ending with a CRC32 of everything before it:
 *   journal = "WOODJRNL" | format u32 | id length u16 | id | old version u64 | new version u64 |
 *             offset u64 | old file bytes u64 | new data length u64 | new file bytes u64 |
 *             new data CRC32 u32 | block size u32 | saved length u64 | saved bytes | CRC32 u32
 *   epoch   = "WOODEPCH" | epoch u64 | CRC32 u32
 */
import { constants as fsc, promises as fsp } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "../logger.js";
import { assert } from "../lifecycle.js";
import { decodeEpochRecord, encodeEpochRecord } from "./epoch-record.js";
import { BLOCK_CRC_BYTES, FOOTER_BYTES, chunkFileName, firstBadBlock, parseFooter, validateChunkId } from "./chunk-file.js";

/** Subdirectory of a data dir holding append journals and epoch sidecars. */
export const APPEND_DIR = "append";
const JOURNAL_MAGIC = Buffer.from("WOODJRNL", "latin1");
const EPOCH_MAGIC = Buffer.from("WOODEPCH", "latin1");
const JOURNAL_FORMAT_VERSION = 1;
const JOURNAL_SUFFIX = ".journal";
const EPOCH_SUFFIX = ".epoch";
/** Bytes of a journal besides its id and saved bytes. */
const JOURNAL_FIXED_BYTES = 8 + 4 + 2 + 8 * 6 + 4 + 4 + 8 + 4;
/** Largest journal read at startup: a whole chunk of saved bytes at most (config caps chunks far below). */
const JOURNAL_MAX_BYTES = 1024 * 1024 * 1024;

export interface AppendJournal {
  chunkId: string;
  oldVersion: number;
  newVersion: number;
  /** Where the append starts; the saved bytes are the old file's from here to its end. */
  offset: number;
  oldFileBytes: number;
  newDataLength: number;
  newFileBytes: number;
  newDataCrc: number;
  blockSizeBytes: number;
  saved: Uint8Array;
}

export const journalFileName = (chunkId: string): string => `${validateChunkId(chunkId)}${JOURNAL_SUFFIX}`;
export const epochFileName = (chunkId: string): string => `${validateChunkId(chunkId)}${EPOCH_SUFFIX}`;

/** Size of the journal of an append saving `savedBytes` bytes. */
export function journalBytes(chunkId: string, savedBytes: number): number {
  return JOURNAL_FIXED_BYTES + Buffer.byteLength(chunkId) + savedBytes;
}

export function encodeJournal(j: AppendJournal): Buffer {
  assert(j.saved.length === j.oldFileBytes - j.offset, "journal saves the old file from the offset to its end");
  const id = Buffer.from(validateChunkId(j.chunkId), "latin1");
  const out = Buffer.alloc(journalBytes(j.chunkId, j.saved.length));
  let at = JOURNAL_MAGIC.copy(out, 0);
  at = out.writeUInt32LE(JOURNAL_FORMAT_VERSION, at);
  at = out.writeUInt16LE(id.length, at);
  at += id.copy(out, at);
  for (const n of [j.oldVersion, j.newVersion, j.offset, j.oldFileBytes, j.newDataLength, j.newFileBytes]) at = out.writeBigUInt64LE(BigInt(n), at);
  at = out.writeUInt32LE(j.newDataCrc >>> 0, at);
  at = out.writeUInt32LE(j.blockSizeBytes, at);
  at = out.writeBigUInt64LE(BigInt(j.saved.length), at);
  at += Buffer.from(j.saved.buffer, j.saved.byteOffset, j.saved.length).copy(out, at);
  out.writeUInt32LE(crc32(out.subarray(0, at)) >>> 0, at);
  return out;
}

/** Decodes a journal; undefined when it is damaged (its CRC, magic or sizes do not check out). */
export function decodeJournal(buf: Buffer): AppendJournal | undefined {
  if (buf.length < JOURNAL_FIXED_BYTES || !buf.subarray(0, 8).equals(JOURNAL_MAGIC)) return undefined;
  if ((crc32(buf.subarray(0, buf.length - 4)) >>> 0) !== buf.readUInt32LE(buf.length - 4)) return undefined;
  if (buf.readUInt32LE(8) !== JOURNAL_FORMAT_VERSION) return undefined;
  const idLength = buf.readUInt16LE(12);
  let at = 14;
  const chunkId = buf.subarray(at, at + idLength).toString("latin1");
  at += idLength;
  const nums: number[] = [];
  for (let i = 0; i < 6; i++, at += 8) {
    const n = buf.readBigUInt64LE(at);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    nums.push(Number(n));
  }
  const [oldVersion, newVersion, offset, oldFileBytes, newDataLength, newFileBytes] = nums;
  const newDataCrc = buf.readUInt32LE(at);
  const blockSizeBytes = buf.readUInt32LE(at + 4);
  const savedLength = Number(buf.readBigUInt64LE(at + 8));
  at += 16;
  if (savedLength !== oldFileBytes - offset || at + savedLength + 4 !== buf.length || blockSizeBytes === 0) return undefined;
  try {
    validateChunkId(chunkId);
  } catch {
    return undefined;
  }
  return { chunkId, oldVersion, newVersion, offset, oldFileBytes, newDataLength, newFileBytes, newDataCrc, blockSizeBytes, saved: buf.subarray(at, at + savedLength) };
}

export function encodeEpoch(epoch: number): Buffer {
  return encodeEpochRecord(EPOCH_MAGIC, epoch);
}

/** Decodes an epoch sidecar; undefined when damaged. */
export function decodeEpoch(buf: Buffer): number | undefined {
  return decodeEpochRecord(EPOCH_MAGIC, buf);
}

/** fsyncs a directory so the names created, renamed or removed in it are durable. */
export async function syncDir(path: string): Promise<void> {
  const dh = await fsp.open(path, fsc.O_RDONLY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Writes `bytes` as `<dataDir>/append/<name>` atomically and durably (writeFileDurably). */
export function writeDurably(dataDir: string, name: string, bytes: Uint8Array, rand: string): Promise<void> {
  return writeFileDurably(dataDir, join(dataDir, APPEND_DIR), name, bytes, rand);
}

/** Writes `bytes` as `<targetDir>/<name>` atomically and durably: temp file in `<dataDir>/tmp/`, fsync, rename, dir fsync. */
export async function writeFileDurably(dataDir: string, targetDir: string, name: string, bytes: Uint8Array, rand: string): Promise<void> {
  const tmp = join(dataDir, "tmp", `${name}.${rand}.part`);
  const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | (fsc.O_NOFOLLOW ?? 0), 0o644);
  try {
    await fh.write(bytes, 0, bytes.length, 0);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, join(targetDir, name));
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await syncDir(targetDir);
}

/** Reads the highest epoch persisted for `chunkId` in `dataDir`; 0 when none (or damaged, which is logged). */
export async function readEpoch(dataDir: string, chunkId: string, log: Logger): Promise<number> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(join(dataDir, APPEND_DIR, epochFileName(chunkId)));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return 0;
    throw e;
  }
  const epoch = decodeEpoch(buf);
  if (epoch === undefined) {
    // Only a fence against a stale primary is lost: the namenode refuses its commits anyway.
    log.warn({ chunkId, dir: dataDir }, `epoch file of chunk ${chunkId} in ${dataDir} is damaged; treating the highest seen epoch as 0`);
    return 0;
  }
  return epoch;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await fsp.lstat(path)).isFile();
  } catch {
    return false;
  }
}

async function readAt(fh: fsp.FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`file ends early at byte ${position + done}`);
    done += bytesRead;
  }
  return buf;
}

/**
 * Whether the chunk file at `path` is exactly the state the journaled append leads to: its
 * size, its footer (length, version, whole CRC) and every block from the one the append started
 * in. Blocks before it were not touched by the append.
 */
async function isFinished(path: string, j: AppendJournal): Promise<boolean> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0));
    const size = (await fh.stat()).size;
    if (size !== j.newFileBytes || size < FOOTER_BYTES) return false;
    const footer = parseFooter(await readAt(fh, FOOTER_BYTES, size - FOOTER_BYTES), size);
    if (footer.dataLength !== j.newDataLength || footer.chunkVersion !== j.newVersion || footer.dataCrc !== j.newDataCrc || footer.blockSizeBytes !== j.blockSizeBytes) {
      return false;
    }
    const bs = j.blockSizeBytes;
    const firstBlock = Math.floor(j.offset / bs);
    const start = firstBlock * bs;
    if (start >= j.newDataLength) return true;
    const span = await readAt(fh, j.newDataLength - start, start);
    const blocks = Math.ceil(span.length / bs);
    const table = await readAt(fh, blocks * BLOCK_CRC_BYTES, j.newDataLength + firstBlock * BLOCK_CRC_BYTES);
    return firstBadBlock(span, table, firstBlock, bs) < 0;
  } catch {
    return false;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Puts the chunk file at `path` back as it was before the journaled append, under its old name. */
export async function rollBack(dataDir: string, path: string, j: AppendJournal): Promise<void> {
  const chunks = join(dataDir, "chunks");
  const fh = await fsp.open(path, fsc.O_RDWR | (fsc.O_NOFOLLOW ?? 0));
  try {
    let done = 0;
    while (done < j.saved.length) {
      const { bytesWritten } = await fh.write(j.saved, done, j.saved.length - done, j.offset + done);
      done += bytesWritten;
    }
    await fh.truncate(j.oldFileBytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const oldPath = join(chunks, chunkFileName(j.chunkId, j.oldVersion));
  if (path !== oldPath) {
    await fsp.rename(path, oldPath);
    await syncDir(chunks);
  }
}

/**
 * Settles one journal at startup: a finished append is kept (and its rename completed), anything
 * else is rolled back. Whether "finished" is judged by the whole "after" state, never by a valid
 * footer alone: an append whose bytes landed on the old CRC table but stopped short of the old
 * footer leaves that footer valid over a table that no longer matches the data.
 */
export async function settleJournal(dataDir: string, j: AppendJournal, log: Logger): Promise<"finished" | "rolled-back" | "no-chunk"> {
  const chunks = join(dataDir, "chunks");
  const oldPath = join(chunks, chunkFileName(j.chunkId, j.oldVersion));
  const newPath = join(chunks, chunkFileName(j.chunkId, j.newVersion));
  // The rename to the new version is the last step, so while the old name exists it holds the copy.
  const path = (await exists(oldPath)) ? oldPath : (await exists(newPath)) ? newPath : undefined;
  let outcome: "finished" | "rolled-back" | "no-chunk";
  if (!path) {
    outcome = "no-chunk";
  } else if (await isFinished(path, j)) {
    if (path !== newPath) {
      await fsp.rename(path, newPath);
      await syncDir(chunks);
    }
    outcome = "finished";
  } else {
    await rollBack(dataDir, path, j);
    outcome = "rolled-back";
  }
  await fsp.rm(join(dataDir, APPEND_DIR, journalFileName(j.chunkId)), { force: true });
  await syncDir(join(dataDir, APPEND_DIR));
  const what = `append to chunk ${j.chunkId} at offset ${j.offset} (v${j.oldVersion} -> v${j.newVersion})`;
  if (outcome === "rolled-back") log.warn({ chunkId: j.chunkId, dir: dataDir }, `${what} was interrupted; chunk rolled back to its ${j.oldFileBytes} bytes from before`);
  else if (outcome === "finished") log.info({ chunkId: j.chunkId, dir: dataDir }, `${what} had finished before the journal was removed; kept`);
  else log.warn({ chunkId: j.chunkId, dir: dataDir }, `${what} has a journal but no chunk file; journal removed`);
  return outcome;
}

/** Startup: settles every append journal left in `dataDir` by a crash. Run before the chunk scan. */
export async function recoverAppendJournals(dataDir: string, log: Logger): Promise<void> {
  const dir = join(dataDir, APPEND_DIR);
  for (const name of await fsp.readdir(dir)) {
    if (!name.endsWith(JOURNAL_SUFFIX)) continue;
    const path = join(dir, name);
    const st = await fsp.lstat(path);
    const j = st.isFile() && st.size <= JOURNAL_MAX_BYTES ? decodeJournal(await fsp.readFile(path)) : undefined;
    if (!j || journalFileName(j.chunkId) !== name) {
      // Journals appear by an atomic rename after an fsync, and the chunk is touched only after
      // that, so a damaged one means disk damage; the chunk scan and scrubber judge the chunk itself.
      log.warn({ file: path }, `append journal ${path} is damaged; removed (the chunk is checked by the scan)`);
      await fsp.rm(path, { force: true });
      continue;
    }
    await settleJournal(dataDir, j, log);
  }
}

/** Startup, after the chunk scan: removes epoch sidecars of chunks no longer held in `dataDir`. */
export async function removeOrphanSidecars(dataDir: string, held: ReadonlySet<string>, log: Logger): Promise<void> {
  const dir = join(dataDir, APPEND_DIR);
  for (const name of await fsp.readdir(dir)) {
    if (!name.endsWith(EPOCH_SUFFIX)) continue;
    const chunkId = name.slice(0, -EPOCH_SUFFIX.length);
    if (held.has(chunkId)) continue;
    await fsp.rm(join(dir, name), { force: true });
    log.debug({ dir: dataDir, chunkId }, `removed the epoch file of chunk ${chunkId}, no longer held in ${dataDir}`);
  }
}
