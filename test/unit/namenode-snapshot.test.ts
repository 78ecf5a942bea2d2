import test, { type ExecutionContext } from "ava";
import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { Namespace } from "../../actors/namenode/namespace.js";
import { decodeSnapshot, encodeSnapshot, verifySnapshot } from "../../actors/namenode/snapshot-format.js";
import { WoodsError, type LogEntry } from "../../messages/index.js";

/** A namespace with complete files in nested dirs, a file being written with a hole, a deleted file and two epochs. */
function sample(): { ns: Namespace; log: LogEntry[] } {
  const log: LogEntry[] = [];
  const ns = new Namespace();
  const apply = (e: LogEntry | null): void => {
    if (!e) return;
    ns.apply(e);
    log.push(e);
  };
  apply({ op: "epoch", epoch: 1, namenodeId: "nn1", atMs: 1 });
  const write = (path: string, fileId: string, sizes: number[], complete = true): void => {
    apply(ns.checkCreate({ path, replication: 2, fileId, atMs: 10, clientId: `w-${fileId}` }));
    sizes.forEach((size, index) => {
      if (size < 0) return; // a hole: chunk not committed yet
      const chunkId = `${fileId}c${index}`;
      apply(ns.checkCommit({ fileId, index, chunkId, version: 1 + index, sizeBytes: size, checksum: `crc32:${index}`, atMs: 20 + index }, { fileId, index, version: 1 + index }, 1 << 20));
    });
    if (complete) apply(ns.checkComplete({ fileId, sizeBytes: sizes.reduce((a, b) => a + b, 0), chunkCount: sizes.length, atMs: 30 }));
  };
  write("/a/b/one", "f1", [100, 50]);
  write("/a/two", "f2", [7]);
  write("/top", "f3", [1, 2, 3]);
  write("/gone/x", "f4", [9]);
  apply(ns.checkRemove("/gone/x", 40));
  write("/w/writing", "f5", [10, -1, 30], false);
  write("/empty", "f6", [], true);
  apply({ op: "epoch", epoch: 2, namenodeId: "nn1", atMs: 50 });
  return { ns, log };
}

/** Everything stat and ls can answer, for comparison. */
function answers(ns: Namespace): unknown {
  const files = [...ns.allFiles()]
    .map((f) => ({
      path: f.path,
      fileId: f.fileId,
      replication: f.replication,
      clientId: f.clientId,
      state: f.state,
      sizeBytes: f.sizeBytes,
      ctimeMs: f.ctimeMs,
      mtimeMs: f.mtimeMs,
      chunkSlots: f.chunks.length,
      chunks: f.chunks.map((c) => c && { id: c.id, index: c.index, version: c.version, size: c.size, checksum: c.checksum, file: c.file.path }),
    }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const ls: Record<string, unknown> = {};
  for (const dir of ["/", "/a", "/a/b", "/w", "/gone", "/top", "/w/writing", "/empty"]) {
    try {
      ls[dir] = ns.ls(dir);
    } catch (e) {
      ls[dir] = (e as WoodsError).code;
    }
  }
  return { files, ls, epoch: ns.epoch, namenodeId: ns.namenodeId, applied: ns.appliedCount, fileCount: ns.fileCount, chunkCount: ns.chunkCount, isDir: ns.isDirectory("/w") };
}

async function snapshotBytes(ns: Namespace, logSeq = 42, filesPerPart?: number): Promise<Buffer> {
  const enc = await encodeSnapshot({ ...ns.capture(), logSeq, createdAtMs: 1234 }, filesPerPart ? { filesPerPart } : {});
  return Buffer.concat(enc.parts);
}

function corruptError(t: ExecutionContext, fn: () => unknown, pattern: RegExp): void {
  const err = t.throws(fn, { instanceOf: WoodsError });
  t.is(err?.code, "INTERNAL");
  t.regex(err?.message ?? "", pattern);
}

test("a decoded snapshot answers stat and ls exactly like the namespace it was taken from", async (t) => {
  const { ns } = sample();
  for (const perPart of [1, 2, 10_000]) {
    const { header, ns: back } = decodeSnapshot(await snapshotBytes(ns, 42, perPart));
    t.deepEqual(answers(back), answers(ns), `files per part ${perPart}`);
    t.is(header.logSeq, 42);
    t.is(header.epoch, 2);
    t.is(header.files, 5);
    t.is(header.chunks, 8);
    t.is(header.createdAtMs, 1234);
  }
});

test("a decoded snapshot matches a full replay and keeps accepting log entries", async (t) => {
  const { ns, log } = sample();
  const replayed = new Namespace();
  for (const e of log) replayed.apply(e);
  const { ns: back } = decodeSnapshot(await snapshotBytes(ns));
  t.deepEqual(answers(back), answers(replayed));
  // The writing file carries on after a restart from the snapshot: commit the hole, then complete.
  const tail: LogEntry[] = [
    back.checkCommit({ fileId: "f5", index: 1, chunkId: "f5c1", version: 1, sizeBytes: 20, checksum: "crc32:1", atMs: 60 }, { fileId: "f5", index: 1, version: 1 }, 1 << 20)!,
  ];
  back.apply(tail[0]);
  tail.push(back.checkComplete({ fileId: "f5", sizeBytes: 60, chunkCount: 3, atMs: 61 })!);
  back.apply(tail[1]);
  tail.push(back.checkRemove("/a/b/one", 62));
  back.apply(tail[2]);
  for (const e of tail) replayed.apply(e);
  t.deepEqual(answers(back), answers(replayed));
  t.deepEqual(back.ls("/w"), [{ name: "writing", path: "/w/writing", type: "file", size: 60 }]);
  t.throws(() => back.stat("/a/b"), { message: /does not exist/ });
});

test("an empty namespace round-trips", async (t) => {
  const { header, ns } = decodeSnapshot(await snapshotBytes(new Namespace(), 0));
  t.is(header.files, 0);
  t.is(header.parts, 0);
  t.deepEqual(ns.ls("/"), []);
});

test("a flipped byte anywhere is detected by the checksum", async (t) => {
  const bytes = await snapshotBytes(sample().ns);
  for (const at of [0, 10, Math.floor(bytes.length / 2), bytes.length - 40, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[at] ^= 0x55;
    t.throws(() => decodeSnapshot(bad), { instanceOf: WoodsError, message: /corrupt snapshot/ }, `byte ${at}`);
  }
  corruptError(t, () => decodeSnapshot(mutate(bytes, bytes.length / 2)), /SHA-256 mismatch/);
});

test("a truncated snapshot is detected at every length", async (t) => {
  const bytes = await snapshotBytes(sample().ns, 42, 2);
  for (let len = 0; len < bytes.length; len += 7) {
    t.throws(() => verifySnapshot(bytes.subarray(0, len)), { instanceOf: WoodsError, message: /corrupt snapshot/ }, `length ${len}`);
  }
  corruptError(t, () => decodeSnapshot(bytes.subarray(0, bytes.length - 1)), /SHA-256 mismatch/);
  corruptError(t, () => decodeSnapshot(Buffer.from("garbage, not a snapshot at all, long enough to pass the size check")), /bad magic/);
});

test("a snapshot with a valid checksum but inconsistent content (a buggy writer) is rejected", async (t) => {
  const bytes = await snapshotBytes(sample().ns);
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  // Rewrite the header to claim one more file, and re-seal it: only the content checks can catch it.
  const hdrLen = bytes.readUInt32BE(8);
  const header = packr.unpack(bytes.subarray(12, 12 + hdrLen));
  const lying = packr.pack({ ...header, files: header.files + 1 });
  const len = Buffer.alloc(4);
  len.writeUInt32BE(lying.length);
  const body = Buffer.concat([bytes.subarray(0, 8), len, lying, bytes.subarray(12 + hdrLen, bytes.length - 32)]);
  const resealed = Buffer.concat([body, createHash("sha256").update(body).digest()]);
  corruptError(t, () => decodeSnapshot(resealed), /5 files, header says 6/);
});

function mutate(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[Math.floor(at)] ^= 0xff;
  return c;
}
