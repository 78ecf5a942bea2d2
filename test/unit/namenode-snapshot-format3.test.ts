/**
 * Snapshot format 3 (binary file parts): every kind of value a namespace can hold survives the
 * round trip, format-2 snapshots (msgpack file tuples) still load, and a part that lies about its
 * content is refused even when the trailing hash matches (a buggy writer).
 */
import test from "ava";
import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { Namespace } from "../../actors/namenode/namespace.js";
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_FORMAT_VERSION } from "../../actors/namenode/snapshot-format.js";
import { WoodsError, type LogEntry } from "../../messages/index.js";

const HEX_A = "0123456789abcdef0123456789abcdef";
const HEX_B = "fedcba9876543210fedcba9876543210";

/** A namespace with hex and non-hex ids, odd checksums, a huge version, unicode paths, holes and a writer. */
function varied(): Namespace {
  const ns = new Namespace();
  const apply = (e: LogEntry | null): void => void (e && ns.apply(e));
  apply({ op: "epoch", epoch: 3, namenodeId: "nn-x", atMs: 1 });
  apply({ op: "create", fileId: HEX_A, path: "/données/ünïcode/ファイル", replication: 3, atMs: 1_764_000_000_123, clientId: "w1" });
  apply({ op: "chunk", fileId: HEX_A, index: 0, chunkId: HEX_B, version: 1, sizeBytes: 64 * 2 ** 20, checksum: "crc32:ffffffff", atMs: 1_764_000_000_124 });
  apply({ op: "chunk", fileId: HEX_A, index: 1, chunkId: "Not-Hex_id", version: 2 ** 40, sizeBytes: 2 ** 33, checksum: "crc32:0A1B2C3D", atMs: 1_764_000_000_125 });
  apply({ op: "complete", fileId: HEX_A, sizeBytes: 64 * 2 ** 20 + 2 ** 33, atMs: 1_764_000_000_126 });
  apply({ op: "create", fileId: "plain-id", path: "/w/being-written", replication: 1, atMs: 5, clientId: "writer-7" });
  apply({ op: "chunk", fileId: "plain-id", index: 2, chunkId: "c2", version: 4, sizeBytes: 10, checksum: "md5:abc", atMs: 6 });
  apply({ op: "create", fileId: "empty", path: "/empty", replication: 2, atMs: 7 });
  apply({ op: "complete", fileId: "empty", sizeBytes: 0, atMs: 8 });
  return ns;
}

function answers(ns: Namespace): unknown {
  return {
    files: [...ns.allFiles()]
      .map((f) => ({
        fileId: f.fileId,
        path: f.path,
        replication: f.replication,
        clientId: f.clientId,
        state: f.state,
        sizeBytes: f.sizeBytes,
        ctimeMs: f.ctimeMs,
        mtimeMs: f.mtimeMs,
        slots: f.chunks.length,
        chunks: [...f.chunks.keys()].map((i) => f.chunks[i] && { id: f.chunks[i]!.id, index: f.chunks[i]!.index, version: f.chunks[i]!.version, size: f.chunks[i]!.size, checksum: f.chunks[i]!.checksum }),
      }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
    ls: ["/", "/données", "/données/ünïcode", "/w"].map((p) => ns.ls(p)),
    epoch: ns.epoch,
    namenodeId: ns.namenodeId,
    applied: ns.appliedCount,
    chunks: ns.chunkCount,
  };
}

async function bytesOf(ns: Namespace, filesPerPart?: number): Promise<Buffer> {
  const enc = await encodeSnapshot({ ...ns.capture(), logSeq: 11, createdAtMs: 2 }, filesPerPart ? { filesPerPart } : {});
  return Buffer.concat(enc.parts);
}

test("format 3 round-trips hex and other ids, odd checksums, huge versions and sizes, unicode paths, holes and a writer's id", async (t) => {
  const ns = varied();
  for (const perPart of [1, 2, 100]) {
    const { header, ns: back } = decodeSnapshot(await bytesOf(ns, perPart));
    t.is(header.v, SNAPSHOT_FORMAT_VERSION);
    t.is(header.v, 3);
    t.deepEqual(answers(back), answers(ns), `files per part ${perPart}`);
  }
  const back = decodeSnapshot(await bytesOf(ns)).ns;
  t.is(back.fileAt("/w/being-written")?.clientId, "writer-7", "a file being written keeps its writer's id");
  t.is(back.retriedCreate("/w/being-written", "writer-7")?.fileId, "plain-id");
  t.is(back.fileAt("/empty")?.clientId, undefined);
  t.is(back.chunk(HEX_B)?.checksum, "crc32:ffffffff");
  t.is(back.chunk("Not-Hex_id")?.checksum, "crc32:0A1B2C3D", "an upper-case checksum is kept as written");
  t.is(back.chunk("Not-Hex_id")?.version, 2 ** 40);
  t.is(back.chunk("c2")?.checksum, "md5:abc");
});

test("a complete file forgets its writer's id (only a file being written is recognised by it), in memory and in snapshots", async (t) => {
  const ns = new Namespace();
  ns.apply({ op: "create", fileId: "f", path: "/f", replication: 1, atMs: 1, clientId: "w" });
  t.is(ns.fileAt("/f")?.clientId, "w");
  const writing = ns.capture();
  ns.apply({ op: "complete", fileId: "f", sizeBytes: 0, atMs: 2 });
  t.is(ns.fileAt("/f")?.clientId, undefined);
  t.is(ns.retriedCreate("/f", "w"), undefined);
  // Captured while writing, encoded after the complete: the capture's id is written.
  const enc = await encodeSnapshot({ ...writing, logSeq: 1, createdAtMs: 1 });
  t.is(decodeSnapshot(Buffer.concat(enc.parts)).ns.fileAt("/f")?.clientId, "w");
});

test("a format-2 snapshot (msgpack file tuples) still loads", (t) => {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true, bundleStrings: false, moreTypes: false });
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const framed = (v: unknown) => {
    const p = packr.pack(v);
    return Buffer.concat([u32(p.length), p]);
  };
  const header = { v: 2, logSeq: 9, epoch: 2, namenodeId: "nn1", applied: 20, files: 2, chunks: 3, parts: 1, createdAtMs: 5, leaseEpoch: 4, leases: 1, keys: 1 };
  const files = [
    ["f1", "/x/one", 2, null, 1, 150, 1, 2, [[HEX_A, 1, 100, "crc32:00000001"], ["c2", 3, 50, "crc32:8000000f"]]],
    ["f2", "/two", 3, "w1", 0, 0, 3, 4, [null, ["c3", 1, 9, "crc32:00000003"]]],
  ];
  const body = Buffer.concat([
    Buffer.from("WOODSNAP", "ascii"),
    framed(header),
    framed(files),
    u32(0),
    framed([["c2", "f1", 4, "dn1"]]),
    u32(0),
    framed([["k1", "f1", 100, 50, 7]]),
    u32(0),
  ]);
  const { header: h, ns } = decodeSnapshot(Buffer.concat([body, createHash("sha256").update(body).digest()]));
  t.is(h.v, 2);
  t.is(ns.fileAt("/x/one")?.sizeBytes, 150);
  t.is(ns.chunk("c2")?.checksum, "crc32:8000000f");
  t.is(ns.chunk("c2")?.version, 3);
  t.is(ns.fileAt("/two")?.chunks.length, 2);
  t.is(ns.fileAt("/two")?.chunks[0], undefined);
  t.is(ns.fileAt("/two")?.clientId, "w1");
  t.is(ns.chunkLease("c2")?.primary, "dn1");
  t.is(ns.appendedKey("k1")?.offset, 100);
  t.is(ns.leaseEpoch, 4);
});

/** Replaces the first file part of a snapshot with `part` and re-seals it (the hash matches; only the content checks can tell). */
function withPart(bytes: Buffer, part: Buffer): Buffer {
  const hdrLen = bytes.readUInt32BE(8);
  const partAt = 12 + hdrLen;
  const oldLen = bytes.readUInt32BE(partAt);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(part.length);
  const body = Buffer.concat([bytes.subarray(0, partAt), len, part, bytes.subarray(partAt + 4 + oldLen, bytes.length - 32)]);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

test("a format-3 part that lies (a count past its end, a bad flag, a bad number, stray bytes, a duplicate) is refused", async (t) => {
  const ns = new Namespace();
  ns.apply({ op: "create", fileId: HEX_A, path: "/a", replication: 1, atMs: 1 });
  ns.apply({ op: "chunk", fileId: HEX_A, index: 0, chunkId: HEX_B, version: 1, sizeBytes: 5, checksum: "crc32:00000005", atMs: 1 });
  ns.apply({ op: "complete", fileId: HEX_A, sizeBytes: 5, atMs: 2 });
  const bytes = await bytesOf(ns);
  const hdrLen = bytes.readUInt32BE(8);
  const partAt = 12 + hdrLen;
  const part = Buffer.from(bytes.subarray(partAt + 4, partAt + 4 + bytes.readUInt32BE(partAt)));
  const refused = (bad: Buffer, pattern: RegExp, why: string) => {
    const err = t.throws(() => decodeSnapshot(withPart(bytes, bad)), { instanceOf: WoodsError }, why);
    t.is(err?.code, "INTERNAL");
    t.regex(err?.message ?? "", pattern, why);
  };
  t.is(decodeSnapshot(withPart(bytes, part)).ns.fileCount, 1, "the re-sealed original loads");

  const twoFiles = Buffer.from(part);
  twoFiles.writeUInt32LE(2, 0);
  refused(twoFiles, /runs past the part's end/, "a file count past the end");

  const chunkFlagAt = part.length - (1 + 16 + 4 + 8 + 4);
  const badFlag = Buffer.from(part);
  badFlag[chunkFlagAt] = 0x40;
  refused(badFlag, /bad chunk flag/, "a chunk flag without 'present'");

  const negative = Buffer.from(part);
  negative.writeDoubleLE(-1, chunkFlagAt + 1 + 16 + 4);
  refused(negative, /bad chunk size -1/, "a negative size");

  const manySlots = Buffer.from(part);
  manySlots.writeUInt32LE(0xffff_ffff, chunkFlagAt - 4);
  refused(manySlots, /runs past the part's end/, "a slot count no part could hold");

  refused(Buffer.concat([part, Buffer.from([0])]), /1 stray bytes/, "a byte after the last file");

  const dup = Buffer.concat([part, part.subarray(4)]);
  dup.writeUInt32LE(2, 0);
  refused(dup, /duplicate path/, "the same file twice");
});
