/**
 * Structural checks run before a payload reaches msgpackr or JSON.parse, so a tiny hostile
 * message cannot make a decoder allocate or recurse: every declared length must fit in the
 * bytes that follow it, and nesting is bounded. Both walks are iterative (no recursion) and
 * linear in the payload; they return a reason string or undefined.
 */

/**
 * Deepest nesting of maps/arrays accepted. Our deepest message (a metadata log batch:
 * batch → entries → entry → chunks → chunk → replicas) is 6 levels.
 */
export const MAX_DECODE_DEPTH = 32;

/**
 * Walks the msgpack value in `data` without building it. Fails when a str/bin/ext header claims
 * more bytes than remain, an array/map claims more elements than could possibly follow (every
 * element takes at least one byte), nesting exceeds `maxDepth`, a reserved byte (0xc1) appears,
 * or bytes are left after the value.
 */
export function checkMsgpack(data: Uint8Array, maxDepth = MAX_DECODE_DEPTH): string | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = data.length;
  // pending[d] = values still to read in the container open at depth d (pending[0] is the root).
  const pending: number[] = [1];
  let pos = 0;
  while (pending.length > 0) {
    const top = pending.length - 1;
    if (pending[top] === 0) {
      pending.pop();
      continue;
    }
    pending[top]--;
    if (pos >= end) return `truncated: a value is missing at byte ${pos}`;
    const b = data[pos++];
    let skip = 0; // payload bytes after the header (str, bin, ext)
    let items = -1; // container elements (values) that follow
    const need = (n: number): string | undefined => (pos + n > end ? `truncated header at byte ${pos - 1} (0x${b.toString(16)})` : undefined);
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // fixint, nil, false, true
    } else if (b >= 0xa0 && b <= 0xbf) skip = b & 0x1f;
    else if (b >= 0x90 && b <= 0x9f) items = b & 0x0f;
    else if (b >= 0x80 && b <= 0x8f) items = 2 * (b & 0x0f);
    else {
      let err: string | undefined;
      switch (b) {
        case 0xcc: case 0xd0: skip = 1; break; // uint8, int8
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break; // fixext 1 (type byte + 1)
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xc4: case 0xd9: if (!(err = need(1))) { skip = data[pos]; pos += 1; } break; // bin8, str8
        case 0xc5: case 0xda: if (!(err = need(2))) { skip = view.getUint16(pos); pos += 2; } break;
        case 0xc6: case 0xdb: if (!(err = need(4))) { skip = view.getUint32(pos); pos += 4; } break;
        case 0xc7: if (!(err = need(1))) { skip = data[pos] + 1; pos += 1; } break; // ext8: length, then type byte
        case 0xc8: if (!(err = need(2))) { skip = view.getUint16(pos) + 1; pos += 2; } break;
        case 0xc9: if (!(err = need(4))) { skip = view.getUint32(pos) + 1; pos += 4; } break;
        case 0xdc: if (!(err = need(2))) { items = view.getUint16(pos); pos += 2; } break; // array16
        case 0xdd: if (!(err = need(4))) { items = view.getUint32(pos); pos += 4; } break;
        case 0xde: if (!(err = need(2))) { items = 2 * view.getUint16(pos); pos += 2; } break; // map16
        case 0xdf: if (!(err = need(4))) { items = 2 * view.getUint32(pos); pos += 4; } break;
        default:
          return `byte 0x${b.toString(16)} at ${pos - 1} is not a msgpack type`;
      }
      if (err) return err;
    }
    if (skip > end - pos) return `header at byte ${pos - 1} claims ${skip} bytes but only ${end - pos} remain`;
    pos += skip;
    if (items > 0) {
      if (items > end - pos) return `a map or array at byte ${pos - 1} claims ${items} values but only ${end - pos} bytes remain`;
      if (pending.length > maxDepth) return `nested deeper than ${maxDepth} levels`;
      pending.push(items);
    }
  }
  if (pos !== end) return `${end - pos} bytes left after the message`;
  return undefined;
}

/** Nesting depth check of JSON text (brackets outside strings); JSON.parse checks the rest. */
export function checkJsonDepth(data: Uint8Array, maxDepth = MAX_DECODE_DEPTH): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return `nested deeper than ${maxDepth} levels`;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return undefined;
}

/** JSON.parse reviver dropping `__proto__` keys, so no later Object.assign can set a prototype from them. */
export function dropProtoKeys(key: string, value: unknown): unknown {
  return key === "__proto__" ? undefined : value;
}
