/**
 * msgpack on the wire; JSON accepted (payload starting with `{`, or header
 * `Content-Type: application/json`) and answered in kind, so the `nats` CLI can talk to us.
 */
import { Packr } from "msgpackr";
import { WoodsError, type WireError } from "./errors.js";
import { checkJsonDepth, checkMsgpack, dropProtoKeys } from "./decode-limits.js";

/** Largest control message we decode. Bulk frames are bounded separately by max_payload. */
export const MAX_CONTROL_MESSAGE_BYTES = 16 * 1024 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, bundleStrings: false, moreTypes: false });
const textDecoder = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

export const CONTENT_TYPE_HEADER = "Content-Type";
export const JSON_CONTENT_TYPE = "application/json";

/** Minimal view of message headers, so this module needs no NATS import. */
export interface HeaderView {
  get(name: string): string;
}

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function encodeJson(value: unknown): Uint8Array {
  // Read the holder's raw value: JSON.stringify has already turned a Buffer into {type, data} via toJSON.
  return textEncoder.encode(
    JSON.stringify(value, function (this: Record<string, unknown>, k, v) {
      const raw = this[k];
      return raw instanceof Uint8Array ? Buffer.from(raw).toString("base64") : v;
    }),
  );
}

export function isJsonPayload(data: Uint8Array, headers?: HeaderView): boolean {
  if (headers && headers.get(CONTENT_TYPE_HEADER).toLowerCase().startsWith(JSON_CONTENT_TYPE)) return true;
  // Skip leading whitespace so `nats req subj ' {..}'` still works.
  for (const b of data) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b; // '{'
  }
  return false;
}

/**
 * Decodes a payload (msgpack or JSON). Throws BAD_REQUEST with a reason on anything malformed.
 * Lengths and depth are checked before decoding (decode-limits.ts): a header claiming 4 GB or
 * 2^32-1 elements, or deep nesting, is refused without allocating or recursing. `__proto__`
 * keys never become prototypes: msgpackr renames them (`__proto_`) and JSON drops them.
 */
export function decode(data: Uint8Array, headers?: HeaderView): { value: unknown; json: boolean } {
  if (data.length > MAX_CONTROL_MESSAGE_BYTES) {
    throw new WoodsError("TOO_LARGE", `message of ${data.length} bytes exceeds ${MAX_CONTROL_MESSAGE_BYTES}`);
  }
  if (data.length === 0) return { value: {}, json: false };
  if (isJsonPayload(data, headers)) {
    const tooDeep = checkJsonDepth(data);
    if (tooDeep) throw new WoodsError("BAD_REQUEST", `malformed JSON: ${tooDeep}`);
    try {
      return { value: JSON.parse(textDecoder.decode(data), dropProtoKeys), json: true };
    } catch (e) {
      throw new WoodsError("BAD_REQUEST", `malformed JSON: ${(e as Error).message}`);
    }
  }
  const broken = checkMsgpack(data);
  if (broken) throw new WoodsError("BAD_REQUEST", `malformed msgpack: ${broken}`);
  try {
    return { value: packr.unpack(data), json: false };
  } catch (e) {
    throw new WoodsError("BAD_REQUEST", `malformed msgpack: ${(e as Error).message}`);
  }
}

/** Reply bodies: `{ok:true, ...fields}` or `{ok:false, error}`. */
export type ReplyBody<T> = ({ ok: true } & T) | { ok: false; error: WireError };

export function okBody<T extends object>(fields: T): ReplyBody<T> {
  return { ok: true, ...fields };
}

export function errorBody(error: WireError): ReplyBody<never> {
  return { ok: false, error };
}

/** Unwraps a reply body, throwing the WoodsError it carries. */
export function unwrapReply<T>(value: unknown): T {
  if (typeof value !== "object" || value === null || !("ok" in value)) {
    throw new WoodsError("INTERNAL", "reply is not a woods reply body");
  }
  const body = value as ReplyBody<T>;
  if (body.ok) return body as unknown as T;
  throw WoodsError.fromWire(body.error);
}
