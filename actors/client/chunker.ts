/**
 * Cuts a byte stream into chunk-sized buffers without holding more than the
 * chunk being filled: the next chunk is only read when the caller asks for it,
 * so the caller's in-flight limit bounds memory.
 */
import { WoodsError } from "../../messages/index.js";

/** Anything `put` accepts as a source: an async iterable of bytes (a Readable is one). */
export type ByteSource = AsyncIterable<Uint8Array | string>;

/**
 * Yields buffers of exactly `chunkSizeBytes`, except the last, which is shorter
 * (never empty). Empty input yields nothing. Each yielded buffer is fresh: the
 * chunker never reuses it, so the caller may keep it while pulling the next.
 */
export async function* chunkStream(source: ByteSource, chunkSizeBytes: number): AsyncGenerator<Uint8Array> {
  if (!Number.isInteger(chunkSizeBytes) || chunkSizeBytes < 1) {
    throw new WoodsError("BAD_REQUEST", `chunk size must be a positive integer, got ${chunkSizeBytes}`);
  }
  let current: Buffer | null = null;
  let filled = 0;
  for await (const raw of source) {
    const piece = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
    let at = 0;
    while (at < piece.length) {
      // A piece that is exactly a whole chunk at a chunk boundary is passed on without a copy.
      if (filled === 0 && at === 0 && piece.length === chunkSizeBytes) {
        yield piece;
        at = piece.length;
        break;
      }
      // allocUnsafe: every byte handed out is overwritten first; pages are only touched as filled.
      current ??= Buffer.allocUnsafe(chunkSizeBytes);
      const take = Math.min(chunkSizeBytes - filled, piece.length - at);
      current.set(piece.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === chunkSizeBytes) {
        const full = current;
        current = null;
        filled = 0;
        yield full;
      }
    }
  }
  if (current && filled > 0) {
    // A short tail would otherwise pin a whole chunk-sized allocation while it is written.
    yield filled <= chunkSizeBytes / 2 ? Buffer.from(current.subarray(0, filled)) : current.subarray(0, filled);
  }
}
