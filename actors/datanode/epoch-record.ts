/**
 * The small epoch files a datanode keeps (a chunk's append-lease epoch, the namenode epoch): an
 * 8-byte magic naming what the file is, the epoch as u64, and a CRC32 of what precedes it (little
 * endian, 20 bytes). PURE.
 */
import { crc32 } from "node:zlib";

const RECORD_BYTES = 8 + 8 + 4;

export function encodeEpochRecord(magic: Buffer, epoch: number): Buffer {
  const out = Buffer.alloc(RECORD_BYTES);
  magic.copy(out, 0);
  out.writeBigUInt64LE(BigInt(epoch), 8);
  out.writeUInt32LE(crc32(out.subarray(0, 16)) >>> 0, 16);
  return out;
}

/** The epoch in a record with `magic`; undefined when damaged or of another kind. */
export function decodeEpochRecord(magic: Buffer, buf: Buffer): number | undefined {
  if (buf.length !== RECORD_BYTES || !buf.subarray(0, 8).equals(magic)) return undefined;
  if ((crc32(buf.subarray(0, 16)) >>> 0) !== buf.readUInt32LE(16)) return undefined;
  const n = buf.readBigUInt64LE(8);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(n);
}
