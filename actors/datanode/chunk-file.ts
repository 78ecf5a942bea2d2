/**
 * The on-disk format of one chunk replica, without any I/O:
 *
 *   [data bytes][CRC32 of each block, uint32 LE][footer, FOOTER_BYTES]
 *
 * footer = magic "WOODCHNK" (8) | format version u32 | data length u64 | chunk version u64 |
 *          block size u32 | whole-data CRC32 u32 | CRC32 of the preceding footer bytes u32
 * (all little endian). The footer is at a fixed distance from the end so a reader finds it
 * without knowing anything else, and its own CRC means a torn or truncated file is rejected.
 */
import { crc32 } from "node:zlib";
import { WoodsError, crc32Combine } from "../../messages/index.js";
import { assert } from "../lifecycle.js";

export const CHUNK_MAGIC = Buffer.from("WOODCHNK", "latin1");
export const CHUNK_FORMAT_VERSION = 1;
export const FOOTER_BYTES = 8 + 4 + 8 + 8 + 4 + 4 + 4;
export const BLOCK_CRC_BYTES = 4;

/** Smallest and largest block sizes a footer may claim; mirrors config/schema.ts. */
const BLOCK_SIZE_MIN_BYTES = 512;
const BLOCK_SIZE_MAX_BYTES = 16 * 1024 * 1024;

const CHUNK_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const FILE_NAME_RE = /^([A-Za-z0-9_-]{1,128})_v([1-9][0-9]{0,15})\.chunk$/;

export interface ChunkFooter {
  formatVersion: number;
  dataLength: number;
  chunkVersion: number;
  blockSizeBytes: number;
  dataCrc: number;
}

/** Throws BAD_REQUEST unless `chunkId` is safe to put in a file name (no `/`, `.`, NUL…). */
export function validateChunkId(chunkId: unknown): string {
  if (typeof chunkId !== "string" || !CHUNK_ID_RE.test(chunkId)) {
    throw new WoodsError("BAD_REQUEST", `chunk id ${JSON.stringify(chunkId)} must match [A-Za-z0-9_-]{1,128}`);
  }
  return chunkId;
}

/** Throws BAD_REQUEST unless `version` is a positive safe integer. */
export function validateVersion(version: unknown): number {
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new WoodsError("BAD_REQUEST", `chunk version ${JSON.stringify(version)} must be a positive integer`);
  }
  return version;
}

/** `<chunkId>_v<version>.chunk`, from validated parts only. */
export function chunkFileName(chunkId: string, version: number): string {
  return `${validateChunkId(chunkId)}_v${validateVersion(version)}.chunk`;
}

/** `<chunkId>_v<version>.<rand>.part`; `rand` is hex from the caller's random source. */
export function tempFileName(chunkId: string, version: number, rand: string): string {
  assert(/^[0-9a-f]{1,32}$/.test(rand), "temp file suffix must be hex");
  return `${validateChunkId(chunkId)}_v${validateVersion(version)}.${rand}.part`;
}

/** Parses a committed chunk file name; undefined for anything else. */
export function parseChunkFileName(name: string): { chunkId: string; version: number } | undefined {
  const m = FILE_NAME_RE.exec(name);
  if (!m) return undefined;
  const version = Number(m[2]);
  if (!Number.isSafeInteger(version)) return undefined;
  return { chunkId: m[1], version };
}

/** Number of checksum blocks covering `dataLength` bytes. */
export function blockCount(dataLength: number, blockSizeBytes: number): number {
  return Math.ceil(dataLength / blockSizeBytes);
}

/** Bytes after the data: the block CRC table plus the footer. */
export function trailerBytes(dataLength: number, blockSizeBytes: number): number {
  return blockCount(dataLength, blockSizeBytes) * BLOCK_CRC_BYTES + FOOTER_BYTES;
}

/** Total file size of a chunk holding `dataLength` bytes. */
export function chunkFileBytes(dataLength: number, blockSizeBytes: number): number {
  return dataLength + trailerBytes(dataLength, blockSizeBytes);
}

/**
 * A piece of data checksummed against the block boundaries it will land on: the CRC of each part
 * that falls in one block, and the CRC of the whole piece (combined from the parts, so the bytes
 * are read once).
 */
export interface MeasuredPiece {
  /** The accumulator's length when it was measured: it may only be added there. */
  readonly at: number;
  readonly length: number;
  /** CRC32 of the whole piece. */
  readonly crc: number;
  /** CRC32 of each part of the piece that lies in one block, in order. */
  readonly partCrcs: number[];
  readonly partLengths: number[];
}

/**
 * Computes per-block CRC32s and the whole-data CRC32 as bytes arrive in pieces of any size
 * (frames are not aligned to blocks). Each byte is checksummed once: the CRC of a piece and
 * of the whole data are combined from the per-block parts (messages/crc32-combine.ts).
 */
export class BlockCrcAccumulator {
  readonly blockSizeBytes: number;
  private readonly blockCrcs: number[] = [];
  private blockCrc = 0;
  private blockFill = 0;
  private dataCrc = 0;
  private length = 0;

  constructor(blockSizeBytes: number) {
    assert(Number.isSafeInteger(blockSizeBytes) && blockSizeBytes > 0, "block size must be a positive integer");
    this.blockSizeBytes = blockSizeBytes;
  }

  /** Bytes seen so far. */
  get lengthBytes(): number {
    return this.length;
  }

  /** Whole-data CRC32 of the bytes seen so far. */
  get crc(): number {
    return this.dataCrc >>> 0;
  }

  /** Checksums `bytes` as the next piece (nothing is recorded until `add`). */
  measure(bytes: Uint8Array): MeasuredPiece {
    const partCrcs: number[] = [];
    const partLengths: number[] = [];
    let crc = 0;
    let fill = this.blockFill;
    for (let at = 0; at < bytes.length; ) {
      const take = Math.min(this.blockSizeBytes - fill, bytes.length - at);
      const part = crc32(bytes.subarray(at, at + take)) >>> 0;
      partCrcs.push(part);
      partLengths.push(take);
      crc = crc32Combine(crc, part, take);
      fill = (fill + take) % this.blockSizeBytes;
      at += take;
    }
    return { at: this.length, length: bytes.length, crc, partCrcs, partLengths };
  }

  /** Records a piece measured at the current length. */
  add(piece: MeasuredPiece): void {
    assert(piece.at === this.length, "a measured piece is added where it was measured");
    for (let i = 0; i < piece.partCrcs.length; i++) {
      const len = piece.partLengths[i];
      this.blockCrc = crc32Combine(this.blockCrc, piece.partCrcs[i], len);
      this.blockFill += len;
      if (this.blockFill === this.blockSizeBytes) {
        this.blockCrcs.push(this.blockCrc >>> 0);
        this.blockCrc = 0;
        this.blockFill = 0;
      }
    }
    this.dataCrc = crc32Combine(this.dataCrc, piece.crc, piece.length);
    this.length += piece.length;
  }

  update(bytes: Uint8Array): void {
    this.add(this.measure(bytes));
  }

  /** The CRCs of every block, the last one possibly partial. */
  finish(): { blockCrcs: number[]; dataCrc: number; dataLength: number } {
    const crcs = this.blockFill > 0 ? [...this.blockCrcs, this.blockCrc >>> 0] : [...this.blockCrcs];
    assert(crcs.length === blockCount(this.length, this.blockSizeBytes), "block count matches data length");
    return { blockCrcs: crcs, dataCrc: this.crc, dataLength: this.length };
  }
}

/** Builds the bytes written after the data: the block CRC table then the footer. */
export function buildTrailer(opts: {
  dataLength: number;
  chunkVersion: number;
  blockSizeBytes: number;
  blockCrcs: number[];
  dataCrc: number;
}): Buffer {
  assert(opts.blockCrcs.length === blockCount(opts.dataLength, opts.blockSizeBytes), "one CRC per block");
  const tableBytes = opts.blockCrcs.length * BLOCK_CRC_BYTES;
  const out = Buffer.alloc(tableBytes + FOOTER_BYTES);
  opts.blockCrcs.forEach((c, i) => out.writeUInt32LE(c >>> 0, i * BLOCK_CRC_BYTES));
  const f = out.subarray(tableBytes);
  CHUNK_MAGIC.copy(f, 0);
  f.writeUInt32LE(CHUNK_FORMAT_VERSION, 8);
  f.writeBigUInt64LE(BigInt(opts.dataLength), 12);
  f.writeBigUInt64LE(BigInt(opts.chunkVersion), 20);
  f.writeUInt32LE(opts.blockSizeBytes, 28);
  f.writeUInt32LE(opts.dataCrc >>> 0, 32);
  f.writeUInt32LE(crc32(f.subarray(0, FOOTER_BYTES - 4)) >>> 0, FOOTER_BYTES - 4);
  return out;
}

function corrupt(message: string): WoodsError {
  return new WoodsError("CHECKSUM", message);
}

/**
 * Parses and validates the last FOOTER_BYTES of a chunk file of `fileBytes` bytes.
 * Throws CHECKSUM when the footer is damaged or the sizes do not add up (e.g. truncation).
 */
export function parseFooter(footer: Uint8Array, fileBytes: number): ChunkFooter {
  if (footer.length !== FOOTER_BYTES || fileBytes < FOOTER_BYTES) throw corrupt(`chunk file of ${fileBytes} bytes is too short for a footer`);
  const f = Buffer.from(footer.buffer, footer.byteOffset, footer.length);
  if (!f.subarray(0, 8).equals(CHUNK_MAGIC)) throw corrupt("chunk footer has no WOODCHNK magic");
  const storedCrc = f.readUInt32LE(FOOTER_BYTES - 4);
  if ((crc32(f.subarray(0, FOOTER_BYTES - 4)) >>> 0) !== storedCrc) throw corrupt("chunk footer CRC does not match");
  const formatVersion = f.readUInt32LE(8);
  if (formatVersion !== CHUNK_FORMAT_VERSION) throw corrupt(`chunk format version ${formatVersion} is not supported`);
  const dataLength = f.readBigUInt64LE(12);
  const chunkVersion = f.readBigUInt64LE(20);
  if (dataLength > BigInt(Number.MAX_SAFE_INTEGER) || chunkVersion > BigInt(Number.MAX_SAFE_INTEGER) || chunkVersion < 1n) {
    throw corrupt("chunk footer has an out-of-range length or version");
  }
  const blockSizeBytes = f.readUInt32LE(28);
  if (blockSizeBytes < BLOCK_SIZE_MIN_BYTES || blockSizeBytes > BLOCK_SIZE_MAX_BYTES) {
    throw corrupt(`chunk footer block size ${blockSizeBytes} is out of range`);
  }
  const out: ChunkFooter = {
    formatVersion,
    dataLength: Number(dataLength),
    chunkVersion: Number(chunkVersion),
    blockSizeBytes,
    dataCrc: f.readUInt32LE(32),
  };
  const expected = chunkFileBytes(out.dataLength, blockSizeBytes);
  if (expected !== fileBytes) throw corrupt(`chunk file is ${fileBytes} bytes but its footer implies ${expected}`);
  return out;
}

/** The block-aligned byte span of the data that must be read to verify `[offset, offset+length)`. */
export function coveringBlocks(
  offset: number,
  length: number,
  dataLength: number,
  blockSizeBytes: number,
): { firstBlock: number; blocks: number; start: number; end: number } {
  assert(offset >= 0 && length >= 0 && offset + length <= dataLength, "range lies inside the data");
  if (length === 0) return { firstBlock: 0, blocks: 0, start: offset, end: offset };
  const firstBlock = Math.floor(offset / blockSizeBytes);
  const lastBlock = Math.floor((offset + length - 1) / blockSizeBytes);
  const start = firstBlock * blockSizeBytes;
  const end = Math.min((lastBlock + 1) * blockSizeBytes, dataLength);
  return { firstBlock, blocks: lastBlock - firstBlock + 1, start, end };
}

/**
 * Verifies `span` (data bytes starting at block `firstBlock`, as from coveringBlocks) against
 * the CRC table entries `table` (uint32 LE, one per block of the span). Returns the index of
 * the first bad block, or -1 when all match.
 */
export function firstBadBlock(span: Uint8Array, table: Uint8Array, firstBlock: number, blockSizeBytes: number): number {
  const blocks = blockCount(span.length, blockSizeBytes);
  if (table.length !== blocks * BLOCK_CRC_BYTES) return firstBlock;
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let i = 0; i < blocks; i++) {
    const piece = span.subarray(i * blockSizeBytes, Math.min((i + 1) * blockSizeBytes, span.length));
    if ((crc32(piece) >>> 0) !== view.getUint32(i * BLOCK_CRC_BYTES, true)) return firstBlock + i;
  }
  return -1;
}

/**
 * The block CRCs of a chunk after `data` is written at offset `o`, given the CRCs of the whole
 * blocks before `o` (`headCrcs`, one per block of [0, floor(o/bs)*bs)) and the CRC of the
 * partial block [floor(o/bs)*bs, o) (`partialCrc`, covering `partialFill` = o % bs bytes; 0 when
 * `o` is block-aligned). zlib's CRC32 continues: crc32(more, crc32(start)) = crc32(start + more).
 */
export function continueBlockCrcs(headCrcs: readonly number[], partialCrc: number, partialFill: number, data: Uint8Array, blockSizeBytes: number): number[] {
  assert(partialFill >= 0 && partialFill < blockSizeBytes, "partial block fill is less than a block");
  const out = [...headCrcs];
  let blockCrc = partialFill > 0 ? partialCrc : 0;
  let fill = partialFill;
  let at = 0;
  while (at < data.length) {
    const take = Math.min(blockSizeBytes - fill, data.length - at);
    blockCrc = crc32(data.subarray(at, at + take), blockCrc);
    fill += take;
    at += take;
    if (fill === blockSizeBytes) {
      out.push(blockCrc >>> 0);
      blockCrc = 0;
      fill = 0;
    }
  }
  if (fill > 0) out.push(blockCrc >>> 0);
  return out;
}

/** Reads the block CRC table (uint32 LE entries) into numbers. */
export function parseBlockCrcs(table: Uint8Array): number[] {
  assert(table.length % BLOCK_CRC_BYTES === 0, "CRC table is whole entries");
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const out: number[] = [];
  for (let i = 0; i < table.length; i += BLOCK_CRC_BYTES) out.push(view.getUint32(i, true));
  return out;
}
