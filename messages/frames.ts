/**
 * Bulk write frames: the raw chunk bytes are the payload (no re-encoding),
 * and what a replica needs to place and check them travels in headers.
 */
export const FRAME_HEADERS = {
  /** Byte offset of the frame inside the chunk (decimal). */
  offset: "Woods-Offset",
  /** Frame sequence number within the chunk write, from 0 (decimal). */
  seq: "Woods-Seq",
  /** CRC32 of the payload, 8 lowercase hex digits. */
  crc32: "Woods-Crc32",
} as const;

/** Formats a CRC32 as 8 lowercase hex digits. */
export function crcHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, "0");
}

/** The whole-chunk checksum string stored in metadata: `crc32:<hex>`. */
export function chunkChecksum(crc: number): string {
  return `crc32:${crcHex(crc)}`;
}
