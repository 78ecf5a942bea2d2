/** Parsing of bulk write frame headers (messages/frames.ts); pure. */
import { FRAME_HEADERS, WoodsError, type HeaderView } from "../../messages/index.js";

export interface FrameMeta {
  offset: number;
  seq: number;
  crc32: number;
}

const DECIMAL_RE = /^(0|[1-9][0-9]{0,15})$/;
const HEX8_RE = /^[0-9a-fA-F]{8}$/;

function decimal(h: HeaderView, name: string): number {
  const raw = h.get(name);
  const n = Number(raw);
  if (!DECIMAL_RE.test(raw) || !Number.isSafeInteger(n)) throw new WoodsError("BAD_REQUEST", `frame header ${name}=${JSON.stringify(raw)} must be a decimal integer`);
  return n;
}

/** Best-effort sequence number, so even a frame with broken headers gets a nack the client can match. */
export function frameSeqOf(h: HeaderView | undefined): number {
  if (!h) return -1;
  const raw = h.get(FRAME_HEADERS.seq);
  return DECIMAL_RE.test(raw) && Number.isSafeInteger(Number(raw)) ? Number(raw) : -1;
}

/** Reads `Woods-Offset`, `Woods-Seq` and `Woods-Crc32`; throws BAD_REQUEST naming the broken header. */
export function parseFrameHeaders(h: HeaderView | undefined): FrameMeta {
  if (!h) throw new WoodsError("BAD_REQUEST", `frame has no headers (${FRAME_HEADERS.offset}, ${FRAME_HEADERS.seq}, ${FRAME_HEADERS.crc32} required)`);
  const crc = h.get(FRAME_HEADERS.crc32);
  if (!HEX8_RE.test(crc)) throw new WoodsError("BAD_REQUEST", `frame header ${FRAME_HEADERS.crc32}=${JSON.stringify(crc)} must be 8 hex digits`);
  return { offset: decimal(h, FRAME_HEADERS.offset), seq: decimal(h, FRAME_HEADERS.seq), crc32: parseInt(crc, 16) >>> 0 };
}
