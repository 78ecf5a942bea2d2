/**
 * The snapshot format (a checkpoint of the namespace, like HDFS's fsimage).
 * PURE: bytes in, bytes out; no I/O, no clock.
 *
 *   "WOODSNAP"                      8 bytes magic
 *   u32 length, msgpack header      SnapshotHeader
 *   { u32 length, file part }*      each part: at most `filesPerPart` files (format 3: binary, below;
 *                                   formats 1 and 2: a msgpack array of file tuples)
 *   u32 0                           end of parts
 *   -- format 2 on (appends) --
 *   { u32 length, msgpack part }*   append leases: arrays of lease tuples
 *   u32 0
 *   { u32 length, msgpack part }*   append idempotency keys, oldest first: arrays of key tuples
 *   u32 0
 *   32 bytes                        SHA-256 of everything above
 *
 * Lengths above are big-endian. A format-3 file part is packed binary, little-endian, so a
 * million files load in about a second (msgpack tuples took ~5 µs a file, mostly building and
 * checking the tuples' objects and strings):
 *
 *   u32 files, then per file:
 *     u8 flags                      1 complete, 2 has a client id, 4 file id is 32 lowercase hex
 *     file id                       16 bytes (hex packed), or a string
 *     path                          string
 *     u16 replication
 *     client id                     string (only with flag 2: files being written)
 *     f64 sizeBytes, f64 ctimeMs, f64 mtimeMs
 *     u32 chunk slots, then per slot:
 *       u8 flags                    0 a hole (not committed yet); else 1 | 2 id is hex | 4 checksum is
 *                                   `crc32:` + 8 hex (packed to a u32) | 8 version fits a u32
 *       chunk id                    16 bytes, or a string
 *       version                     u32, or f64
 *       f64 size
 *       checksum                    u32, or a string
 *   string = u16 byte length + UTF-8
 *
 * Formats 1 (before appends: no leases, no keys, lease epoch 0) and 2 are still read.
 *
 * The header may carry `decommissioning` (ids of datanodes being decommissioned) in any format: an
 * optional field of the msgpack header, so no new format was needed; a snapshot without it has none,
 * and a namenode that predates it ignores it.
 *
 * Parts bound the size of any one msgpack value, and let the encoder yield
 * between them so a large namespace does not block serving for long. The
 * trailing hash catches a snapshot cut short or garbled by its writer; the
 * Object Store's own digest catches an object torn in storage.
 */
import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { WoodsError } from "../../messages/index.js";
import { Namespace, packedChecksumOf, type AppendedKey, type CapturedFile, type ChunkLease, type NamespaceMeta, type RestoredFile } from "./namespace.js";

const MAGIC = Buffer.from("WOODSNAP", "ascii");
export const SNAPSHOT_FORMAT_VERSION = 3;
/** Formats this namenode reads: 1 (before appends), 2 (msgpack file tuples) and 3 (binary file parts). */
const READABLE_FORMATS = [1, 2, 3];
const HASH_BYTES = 32;
/** Files per part: ~1-2 MB of msgpack per part with typical paths. */
export const SNAPSHOT_FILES_PER_PART = 10_000;
/** Append keys (and leases) per part: ~100 bytes each. */
export const SNAPSHOT_KEYS_PER_PART = 20_000;
/** Largest part or header accepted when decoding (a corrupt length must not allocate gigabytes). */
const PART_MAX_BYTES = 256 * 1024 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, bundleStrings: false, moreTypes: false });

export interface SnapshotHeader {
  v: number;
  /** Log sequence whose state this is: replay resumes at logSeq + 1. */
  logSeq: number;
  epoch: number;
  namenodeId: string;
  /** Log entries applied to reach this state. */
  applied: number;
  files: number;
  chunks: number;
  parts: number;
  createdAtMs: number;
  /** Format 2 on: highest append lease epoch granted, and how many leases and keys follow the files. */
  leaseEpoch?: number;
  leases?: number;
  keys?: number;
  /** Datanodes being decommissioned (absent: none). */
  decommissioning?: string[];
}

/** Most decommissioning datanodes a header may list (a corrupt header must not hold millions). */
const DECOMMISSIONING_MAX = 4096;
const NODE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** [fileId, path, replication, clientId | null, complete ? 1 : 0, sizeBytes, ctimeMs, mtimeMs, chunks] */
type FileTuple = [string, string, number, string | null, 0 | 1, number, number, number, (ChunkTuple | null)[]];
/** [chunkId, version, size, checksum] */
type ChunkTuple = [string, number, number, string];
/** [chunkId, fileId, epoch, primary] */
type LeaseTuple = [string, string, number, string];
/** [key, fileId, offset, sizeBytes, atMs] */
type KeyTuple = [string, string, number, number, number];

/** What `Namespace.capture()` returned, plus where it sits in the log. */
export interface Capture {
  meta: NamespaceMeta;
  files: CapturedFile[];
  /** Absent in captures made before appends existed (tests): none. */
  leases?: readonly ChunkLease[];
  keys?: readonly AppendedKey[];
  logSeq: number;
  createdAtMs: number;
}

/**
 * Encodes a capture into parts (concatenated, they are the snapshot object).
 * Calls `between` between parts, if given, so the event loop can serve.
 */
export async function encodeSnapshot(
  cap: Capture,
  opts: { filesPerPart?: number; between?: () => Promise<void> } = {},
): Promise<{ parts: Uint8Array[]; header: SnapshotHeader; sizeBytes: number }> {
  const perPart = opts.filesPerPart ?? SNAPSHOT_FILES_PER_PART;
  let chunks = 0;
  for (const f of cap.files) for (const c of f.chunks) if (c) chunks++;
  const header: SnapshotHeader = {
    v: SNAPSHOT_FORMAT_VERSION,
    logSeq: cap.logSeq,
    epoch: cap.meta.epoch,
    namenodeId: cap.meta.namenodeId,
    applied: cap.meta.applied,
    files: cap.files.length,
    chunks,
    parts: Math.ceil(cap.files.length / perPart),
    createdAtMs: cap.createdAtMs,
    leaseEpoch: cap.meta.leaseEpoch,
    leases: cap.leases?.length ?? 0,
    keys: cap.keys?.length ?? 0,
    ...(cap.meta.decommissioning && cap.meta.decommissioning.length > 0 ? { decommissioning: [...cap.meta.decommissioning] } : {}),
  };
  const hash = createHash("sha256");
  const parts: Uint8Array[] = [];
  const push = (b: Uint8Array): void => {
    hash.update(b);
    parts.push(b);
  };
  push(MAGIC);
  push(framed(packr.pack(header)));
  for (let i = 0; i < cap.files.length; i += perPart) {
    if (i > 0 && opts.between) await opts.between();
    push(framed(encodeFilePart(cap.files, i, Math.min(cap.files.length, i + perPart))));
  }
  push(u32(0));
  const leases = cap.leases ?? [];
  for (let i = 0; i < leases.length; i += SNAPSHOT_KEYS_PER_PART) {
    push(framed(packr.pack(leases.slice(i, i + SNAPSHOT_KEYS_PER_PART).map((l): LeaseTuple => [l.chunkId, l.fileId, l.epoch, l.primary]))));
  }
  push(u32(0));
  const keys = cap.keys ?? [];
  for (let i = 0; i < keys.length; i += SNAPSHOT_KEYS_PER_PART) {
    if (opts.between) await opts.between();
    push(framed(packr.pack(keys.slice(i, i + SNAPSHOT_KEYS_PER_PART).map((k): KeyTuple => [k.key, k.fileId, k.offset, k.sizeBytes, k.atMs]))));
  }
  push(u32(0));
  parts.push(hash.digest());
  return { parts, header, sizeBytes: parts.reduce((n, p) => n + p.length, 0) };
}

/** Reads only the header after verifying the whole snapshot's checksum. */
export function verifySnapshot(data: Uint8Array): SnapshotHeader {
  return verify(data).header;
}

function verify(data: Uint8Array): { header: SnapshotHeader; headerEnd: number } {
  const minBytes = MAGIC.length + 4 + 4 + HASH_BYTES;
  if (data.length < minBytes) throw corrupt(`${data.length} bytes is shorter than the smallest snapshot (${minBytes})`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt("bad magic");
  const body = buf.subarray(0, buf.length - HASH_BYTES);
  const want = buf.subarray(buf.length - HASH_BYTES);
  if (!createHash("sha256").update(body).digest().equals(want)) throw corrupt("SHA-256 mismatch (truncated or garbled)");
  const { value, end } = readFramed(buf, MAGIC.length, body.length, "header");
  const h = value as Partial<SnapshotHeader> | undefined;
  if (!h || typeof h !== "object") throw corrupt("header is not a map");
  if (!READABLE_FORMATS.includes(h.v as number)) throw corrupt(`format version ${h.v}, this namenode reads ${READABLE_FORMATS.join(" and ")}`);
  const counts = ["logSeq", "epoch", "applied", "files", "chunks", "parts", "createdAtMs"] as const;
  const appendCounts = ["leaseEpoch", "leases", "keys"] as const;
  for (const k of h.v === 1 ? counts : [...counts, ...appendCounts]) {
    if (!Number.isSafeInteger(h[k]) || (h[k] as number) < 0) throw corrupt(`header field ${k} is ${h[k]}`);
  }
  if (typeof h.namenodeId !== "string") throw corrupt("header field namenodeId is not a string");
  if (h.decommissioning !== undefined) {
    const d: unknown = h.decommissioning;
    if (!Array.isArray(d) || d.length > DECOMMISSIONING_MAX || !d.every((x) => typeof x === "string" && NODE_ID.test(x))) {
      throw corrupt("header field decommissioning is not a list of datanode ids");
    }
  }
  return { header: h as SnapshotHeader, headerEnd: end };
}

/** Verifies and decodes a snapshot into a fresh Namespace. Throws INTERNAL naming what is wrong. */
export function decodeSnapshot(data: Uint8Array): { header: SnapshotHeader; ns: Namespace } {
  const { header, headerEnd } = verify(data);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const bodyEnd = buf.length - HASH_BYTES;
  const ns = new Namespace();
  ns.restoreMeta({
    epoch: header.epoch,
    namenodeId: header.namenodeId,
    applied: header.applied,
    leaseEpoch: header.leaseEpoch ?? 0,
    decommissioning: header.decommissioning ?? [],
  });
  // Bounded by the size: a header that lies (checked below) must not make us allocate gigabytes.
  ns.reserve(Math.min(header.files, buf.length), Math.min(header.chunks, buf.length));
  const files =
    header.v >= 3
      ? readBinarySection(buf, headerEnd, bodyEnd, (start, end, part) => decodeFilePart(buf, start, end, part, ns))
      : readSection(buf, headerEnd, bodyEnd, "part", (t, part) => ns.restoreFile(fromTuple(t, part)));
  let pos = files.end;
  ns.restoreFilesDone();
  if (files.parts !== header.parts) throw corrupt(`${files.parts} parts, header says ${header.parts}`);
  if (ns.fileCount !== header.files) throw corrupt(`${ns.fileCount} files, header says ${header.files}`);
  if (ns.chunkCount !== header.chunks) throw corrupt(`${ns.chunkCount} chunks, header says ${header.chunks}`);
  if (header.v >= 2) {
    let leases = 0;
    let keys = 0;
    const restore = <T>(what: string, fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        throw corrupt(`${what}: ${(e as Error).message}`);
      }
    };
    pos = readSection(buf, pos, bodyEnd, "lease part", (t, part) => {
      const l = leaseFromTuple(t, part);
      restore(`lease part ${part}`, () => ns.restoreLease(l));
      leases++;
    }).end;
    pos = readSection(buf, pos, bodyEnd, "key part", (t, part) => {
      const k = keyFromTuple(t, part);
      restore(`key part ${part}`, () => ns.restoreKey(k));
      keys++;
    }).end;
    if (leases !== header.leases) throw corrupt(`${leases} leases, header says ${header.leases}`);
    if (keys !== header.keys) throw corrupt(`${keys} append keys, header says ${header.keys}`);
  }
  if (pos !== bodyEnd) throw corrupt(`${bodyEnd - pos} stray bytes after the last part`);
  return { header, ns };
}

/** Reads parts (each an array of tuples) up to their end marker; returns where the section ends. */
function readSection(buf: Buffer, start: number, bodyEnd: number, what: string, each: (tuple: unknown, part: number) => void): { end: number; parts: number } {
  let pos = start;
  let parts = 0;
  for (;;) {
    if (pos + 4 > bodyEnd) throw corrupt(`${what}s run past the end`);
    if (buf.readUInt32BE(pos) === 0) return { end: pos + 4, parts };
    const { value, end } = readFramed(buf, pos, bodyEnd, `${what} ${parts}`);
    pos = end;
    if (!Array.isArray(value)) throw corrupt(`${what} ${parts} is not an array`);
    for (const t of value) each(t, parts);
    parts++;
  }
}

function leaseFromTuple(t: unknown, part: number): ChunkLease {
  if (!Array.isArray(t) || t.length !== 4) throw corrupt(`lease part ${part}: a lease is not a 4-tuple`);
  const [chunkId, fileId, epoch, primary] = t as unknown[];
  if (typeof chunkId !== "string" || typeof fileId !== "string" || typeof primary !== "string" || !isCount(epoch) || epoch < 1) {
    throw corrupt(`lease part ${part}: a lease has a bad field`);
  }
  return { chunkId, fileId, epoch, primary };
}

function keyFromTuple(t: unknown, part: number): AppendedKey {
  if (!Array.isArray(t) || t.length !== 5) throw corrupt(`key part ${part}: a key is not a 5-tuple`);
  const [key, fileId, offset, sizeBytes, atMs] = t as unknown[];
  if (typeof key !== "string" || typeof fileId !== "string" || !isCount(offset) || !isCount(sizeBytes) || !isCount(atMs)) {
    throw corrupt(`key part ${part}: a key has a bad field`);
  }
  return { key, fileId, offset, sizeBytes, atMs };
}

const F_COMPLETE = 1;
const F_CLIENT_ID = 2;
const F_HEX_ID = 4;
const C_PRESENT = 1;
const C_HEX_ID = 2;
const C_CRC32 = 4;
const C_VERSION_U32 = 8;
const HEX_ID = /^[0-9a-f]{32}$/;
const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;

/** A growable little-endian byte buffer for one part. */
class PartWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.pos = this.buf.writeUInt16LE(v, this.pos);
  }

  u32(v: number): void {
    this.room(4);
    this.pos = this.buf.writeUInt32LE(v >>> 0, this.pos);
  }

  f64(v: number): void {
    this.room(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  hexId(s: string): void {
    this.room(16);
    this.pos += this.buf.write(s, this.pos, 16, "hex");
  }

  str(s: string): void {
    const len = Buffer.byteLength(s, "utf8");
    if (len > U16_MAX) throw new WoodsError("INTERNAL", `snapshot: a string of ${len} bytes does not fit a part (${s.slice(0, 64)}...)`);
    this.u16(len);
    this.room(len);
    this.pos += this.buf.write(s, this.pos, len, "utf8");
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** Encodes files [from, to) as one format-3 part. */
function encodeFilePart(files: readonly CapturedFile[], from: number, to: number): Buffer {
  const w = new PartWriter();
  w.u32(to - from);
  for (let i = from; i < to; i++) {
    const c = files[i];
    const f = c.file;
    const hexId = HEX_ID.test(f.fileId);
    const writing = c.state !== "complete";
    // Only a file being written needs its writer's id (a retried create); the captured one, not f's now.
    const clientId = writing ? c.clientId : undefined;
    w.u8((writing ? 0 : F_COMPLETE) | (clientId !== undefined ? F_CLIENT_ID : 0) | (hexId ? F_HEX_ID : 0));
    if (hexId) w.hexId(f.fileId);
    else w.str(f.fileId);
    // The captured path, not f.path: the file may have been renamed since the capture.
    w.str(c.path);
    w.u16(f.replication);
    if (clientId !== undefined) w.str(clientId);
    w.f64(c.sizeBytes);
    w.f64(f.ctimeMs);
    w.f64(c.mtimeMs);
    w.u32(c.chunks.length);
    for (const ch of c.chunks) {
      if (!ch) {
        w.u8(0);
        continue;
      }
      const hex = HEX_ID.test(ch.id);
      const sum = packedChecksumOf(ch);
      const v32 = ch.version <= U32_MAX;
      w.u8(C_PRESENT | (hex ? C_HEX_ID : 0) | (typeof sum === "number" ? C_CRC32 : 0) | (v32 ? C_VERSION_U32 : 0));
      if (hex) w.hexId(ch.id);
      else w.str(ch.id);
      if (v32) w.u32(ch.version);
      else w.f64(ch.version);
      w.f64(ch.size);
      if (typeof sum === "number") w.u32(sum);
      else w.str(sum);
    }
  }
  return w.done();
}

/** Reads framed binary parts up to their end marker, handing each payload's bounds to `each`. */
function readBinarySection(buf: Buffer, start: number, bodyEnd: number, each: (start: number, end: number, part: number) => void): { end: number; parts: number } {
  let pos = start;
  let parts = 0;
  for (;;) {
    if (pos + 4 > bodyEnd) throw corrupt("parts run past the end");
    const len = buf.readUInt32BE(pos);
    if (len === 0) return { end: pos + 4, parts };
    if (len > PART_MAX_BYTES || pos + 4 + len > bodyEnd) throw corrupt(`part ${parts} has a bad length ${len}`);
    each(pos + 4, pos + 4 + len, parts);
    pos += 4 + len;
    parts++;
  }
}

/** Node's Buffer string makers without toString's encoding lookup (a tenth of the decode at a million files). */
interface StringSlices {
  hexSlice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Restores the files of one format-3 part into `ns`. */
function decodeFilePart(buf: Buffer, start: number, end: number, part: number, ns: Namespace): void {
  const slices = buf as unknown as StringSlices;
  let pos = start;
  const need = (n: number): void => {
    if (pos + n > end) throw corrupt(`part ${part}: a file runs past the part's end`);
  };
  const str = (): string => {
    need(2);
    const len = buf.readUInt16LE(pos);
    need(2 + len);
    pos += 2 + len;
    return slices.utf8Slice(pos - len, pos);
  };
  const hexId = (): string => {
    need(16);
    pos += 16;
    return slices.hexSlice(pos - 16, pos);
  };
  const count = (what: string, path: string): number => {
    need(8);
    const v = buf.readDoubleLE(pos);
    pos += 8;
    if (!isCount(v)) throw corrupt(`part ${part}: file ${path} has a bad ${what} ${v}`);
    return v;
  };
  need(4);
  const files = buf.readUInt32LE(pos);
  pos += 4;
  for (let n = 0; n < files; n++) {
    need(1);
    const flags = buf[pos++];
    const fileId = flags & F_HEX_ID ? hexId() : str();
    const path = str();
    if (!path.startsWith("/")) throw corrupt(`part ${part}: file ${fileId} has a bad path ${path}`);
    need(2);
    const replication = buf.readUInt16LE(pos);
    pos += 2;
    const clientId = flags & F_CLIENT_ID ? str() : undefined;
    const sizeBytes = count("size", path);
    const ctimeMs = count("ctime", path);
    const mtimeMs = count("mtime", path);
    need(4);
    const slots = buf.readUInt32LE(pos);
    pos += 4;
    // Each slot takes at least a byte: a count past the part's end is corrupt, not an allocation to try.
    need(slots);
    const chunks: RestoredFile["chunks"] = new Array(slots);
    for (let i = 0; i < slots; i++) {
      need(1);
      const cf = buf[pos++];
      if (cf === 0) continue;
      if (!(cf & C_PRESENT)) throw corrupt(`part ${part}: file ${path} has a bad chunk flag ${cf}`);
      const id = cf & C_HEX_ID ? hexId() : str();
      let version: number;
      if (cf & C_VERSION_U32) {
        need(4);
        version = buf.readUInt32LE(pos);
        pos += 4;
      } else version = count("chunk version", path);
      const size = count("chunk size", path);
      let checksum: string | number;
      if (cf & C_CRC32) {
        need(4);
        checksum = buf.readUInt32LE(pos);
        pos += 4;
      } else checksum = str();
      chunks[i] = { id, version, size, checksum };
    }
    ns.restoreFile({ fileId, path, replication, clientId, state: flags & F_COMPLETE ? "complete" : "writing", sizeBytes, ctimeMs, mtimeMs, chunks });
  }
  if (pos !== end) throw corrupt(`part ${part}: ${end - pos} stray bytes after its ${files} files`);
}

function fromTuple(t: unknown, part: number): RestoredFile {
  const bad = (why: string): never => {
    throw corrupt(`part ${part}: ${why}`);
  };
  if (!Array.isArray(t) || t.length !== 9) return bad("a file is not a 9-tuple");
  const [fileId, path, replication, clientId, complete, sizeBytes, ctimeMs, mtimeMs, chunks] = t as unknown[];
  if (typeof fileId !== "string" || typeof path !== "string" || !path.startsWith("/")) return bad(`file ${String(path)} has a bad id or path`);
  if (!isCount(replication) || !isCount(sizeBytes) || !isCount(ctimeMs) || !isCount(mtimeMs)) return bad(`file ${path} has a bad number`);
  if (clientId !== null && typeof clientId !== "string") return bad(`file ${path} has a bad client id`);
  if (complete !== 0 && complete !== 1) return bad(`file ${path} has a bad state`);
  if (!Array.isArray(chunks)) return bad(`file ${path} has no chunk list`);
  const out: RestoredFile = {
    fileId,
    path,
    replication: replication as number,
    ...(clientId !== null ? { clientId } : {}),
    state: complete === 1 ? "complete" : "writing",
    sizeBytes: sizeBytes as number,
    ctimeMs: ctimeMs as number,
    mtimeMs: mtimeMs as number,
    chunks: [],
  };
  for (const c of chunks as unknown[]) {
    if (c === null) {
      out.chunks.push(undefined);
      continue;
    }
    if (!Array.isArray(c) || c.length !== 4 || typeof c[0] !== "string" || !isCount(c[1]) || !isCount(c[2]) || typeof c[3] !== "string") {
      return bad(`file ${path} has a bad chunk`);
    }
    out.chunks.push({ id: c[0], version: c[1], size: c[2], checksum: c[3] });
  }
  return out;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function framed(payload: Uint8Array): Buffer {
  return Buffer.concat([u32(payload.length), payload]);
}

function readFramed(buf: Buffer, pos: number, end: number, what: string): { value: unknown; end: number } {
  if (pos + 4 > end) throw corrupt(`${what} length runs past the end`);
  const len = buf.readUInt32BE(pos);
  if (len === 0 || len > PART_MAX_BYTES || pos + 4 + len > end) throw corrupt(`${what} has a bad length ${len}`);
  try {
    return { value: packr.unpack(buf.subarray(pos + 4, pos + 4 + len)), end: pos + 4 + len };
  } catch (e) {
    throw corrupt(`${what} is not msgpack: ${(e as Error).message}`);
  }
}

function corrupt(why: string): WoodsError {
  return new WoodsError("INTERNAL", `corrupt snapshot: ${why}`);
}
