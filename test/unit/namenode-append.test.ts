/**
 * The namespace side of appends (docs/append.md): the `lease`, `append`,
 * `appendChunks` and `chunkVersion` entries, their validation, the idempotency
 * key table, replay and snapshots (format 2, and format 1 still loading).
 */
import test, { type ExecutionContext } from "ava";
import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { Namespace } from "../../actors/namenode/namespace.js";
import { checkAppendChunks, checkAppendCommit, checkDropReplica, checkLease, commitRetry } from "../../actors/namenode/append-checks.js";
import { decodeSnapshot, encodeSnapshot } from "../../actors/namenode/snapshot-format.js";
import { WoodsError, type ErrorCode, type LogEntry, type NamenodeRequest } from "../../messages/index.js";

const CHUNK = 1 << 20;

/** A namespace and the log that built it; `step` validates-then-applies like the namenode. */
function fresh(): { ns: Namespace; log: LogEntry[]; step: (e: LogEntry | null) => void } {
  const ns = new Namespace();
  const log: LogEntry[] = [];
  const step = (e: LogEntry | null): void => {
    if (!e) return;
    ns.apply(e);
    log.push(e);
  };
  step({ op: "epoch", epoch: 1, namenodeId: "nn1", atMs: 1 });
  return { ns, log, step };
}

/** Writes a complete file with chunks of these sizes (chunk ids `<fileId>c<index>`). */
function writeFile(ns: Namespace, step: (e: LogEntry | null) => void, path: string, fileId: string, sizes: number[]): void {
  step(ns.checkCreate({ path, replication: 2, fileId, atMs: 10 }));
  sizes.forEach((size, index) => {
    const chunkId = `${fileId}c${index}`;
    step(ns.checkCommit({ fileId, index, chunkId, version: 1, sizeBytes: size, checksum: "crc32:00000000", atMs: 11 }, { fileId, index, version: 1 }, CHUNK));
  });
  step(ns.checkComplete({ fileId, sizeBytes: sizes.reduce((a, b) => a + b, 0), chunkCount: sizes.length, atMs: 12 }));
}

function code(t: ExecutionContext, fn: () => unknown, expected: ErrorCode): WoodsError | undefined {
  const err = t.throws(fn, { instanceOf: WoodsError });
  t.is(err?.code, expected, err?.message);
  return err;
}

type Commit = NamenodeRequest<"appendCommit"> & { atMs: number };
const commit = (over: Partial<Commit> & Pick<Commit, "chunkId" | "epoch" | "fromBytes" | "records">): Commit => {
  const sum = over.records.reduce((n, r) => n + r.sizeBytes, 0);
  return { version: 1, toBytes: over.fromBytes + sum, checksum: "crc32:0000abcd", atMs: 100, ...over };
};

/** A log: two files, leases, tail commits, an attach, a version bump, a delete, another lease. */
function sample() {
  const { ns, log, step } = fresh();
  writeFile(ns, step, "/logs/a", "fa", [CHUNK, 100]);
  writeFile(ns, step, "/logs/b", "fb", [50]);
  writeFile(ns, step, "/empty", "fe", []);
  writeFile(ns, step, "/gone", "fg", [5]);
  step(checkLease(ns, { fileId: "fa", chunkId: "fac1", primary: "dn1", atMs: 20 }));
  step(checkAppendCommit(ns, commit({ chunkId: "fac1", epoch: 1, fromBytes: 100, records: [{ key: "k1", sizeBytes: 10 }, { key: "k2", sizeBytes: 5 }], atMs: 21 }), CHUNK));
  step(checkLease(ns, { fileId: "fb", chunkId: "fbc0", primary: "dn2", atMs: 22 }));
  const drop = checkDropReplica(ns, { chunkId: "fbc0", epoch: 2, version: 1, failed: ["dn3"], atMs: 23 }, () => false);
  if ("entry" in drop) step(drop.entry);
  step(checkAppendCommit(ns, commit({ chunkId: "fbc0", epoch: 2, version: 2, fromBytes: 50, records: [{ key: "k3", sizeBytes: 7 }], atMs: 24 }), CHUNK));
  const attach = checkAppendChunks(
    ns,
    ns.fileAt("/empty")!,
    { key: "k4", chunks: [{ chunkId: "n1", version: 1, sizeBytes: 300, checksum: "crc32:00000001", replicas: ["dn1"] }], atMs: 25 },
    () => ({ fileId: "fe", version: 1, replicas: ["dn1", "dn2"] }),
    CHUNK,
  );
  step(attach.entry);
  step(checkLease(ns, { fileId: "fg", chunkId: "fgc0", primary: "dn1", atMs: 26 }));
  step(checkAppendCommit(ns, commit({ chunkId: "fgc0", epoch: 3, fromBytes: 5, records: [{ key: "k5", sizeBytes: 1 }], atMs: 27 }), CHUNK));
  step(ns.checkRemove("/gone", 28));
  step(checkLease(ns, { fileId: "fe", chunkId: "n1", primary: "dn1", atMs: 29 }));
  return { ns, log };
}

/** Everything appends and reads can observe, for comparison. */
function observe(ns: Namespace): unknown {
  const files = [...ns.allFiles()]
    .map((f) => ({ path: f.path, fileId: f.fileId, state: f.state, size: f.sizeBytes, mtimeMs: f.mtimeMs, chunks: f.chunks.map((c) => c && { id: c.id, index: c.index, version: c.version, size: c.size, checksum: c.checksum }) }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const keys = ["k1", "k2", "k3", "k4", "k5", "nope"].map((k) => ns.appendedKey(k) ?? null);
  const leases = [...ns.leases()].sort((a, b) => a.epoch - b.epoch);
  return { files, keys, leases, leaseEpoch: ns.leaseEpoch, keyCount: ns.appendKeyCount, chunks: ns.chunkCount, applied: ns.appliedCount };
}

test("a lease takes the next namespace-wide epoch, and only the last chunk of a complete file can have one", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [CHUNK, 10]);
  writeFile(ns, step, "/b", "fb", [10]);
  step(ns.checkCreate({ path: "/w", replication: 2, fileId: "fw", atMs: 1 }));
  t.is(ns.leaseEpoch, 0);
  const l1 = checkLease(ns, { fileId: "fa", chunkId: "fac1", primary: "dn1", atMs: 5 });
  t.like(l1, { op: "lease", epoch: 1, primary: "dn1", chunkId: "fac1" });
  step(l1);
  step(checkLease(ns, { fileId: "fb", chunkId: "fbc0", primary: "dn2", atMs: 6 }));
  step(checkLease(ns, { fileId: "fa", chunkId: "fac1", primary: "dn3", atMs: 7 }));
  t.is(ns.leaseEpoch, 3);
  t.deepEqual(ns.chunkLease("fac1"), { chunkId: "fac1", fileId: "fa", epoch: 3, primary: "dn3" }, "a newer grant replaces the old one");
  code(t, () => checkLease(ns, { fileId: "fa", chunkId: "fac0", primary: "dn1", atMs: 8 }), "BAD_REQUEST");
  code(t, () => checkLease(ns, { fileId: "fw", chunkId: "x", primary: "dn1", atMs: 8 }), "NOT_FOUND");
  t.throws(() => ns.apply({ op: "lease", fileId: "fb", chunkId: "fbc0", epoch: 2, primary: "dn1", atMs: 9 }), { message: /does not follow/ }, "epochs only grow");
});

test("a tail commit grows the last chunk and the file, and stores each key at its file offset", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [CHUNK, 100]);
  step(checkLease(ns, { fileId: "fa", chunkId: "fac1", primary: "dn1", atMs: 5 }));
  const e = checkAppendCommit(ns, commit({ chunkId: "fac1", epoch: 1, fromBytes: 100, records: [{ key: "k1", sizeBytes: 10 }, { key: "k2", sizeBytes: 5 }], atMs: 77 }), CHUNK);
  t.deepEqual(e.records, [
    { key: "k1", offset: CHUNK + 100, sizeBytes: 10 },
    { key: "k2", offset: CHUNK + 110, sizeBytes: 5 },
  ]);
  const before = ns.chunk("fac1");
  step(e);
  const f = ns.fileAt("/a")!;
  t.is(f.sizeBytes, CHUNK + 115);
  t.is(f.mtimeMs, 77);
  t.like(ns.chunk("fac1"), { size: 115, version: 1, checksum: "crc32:0000abcd", index: 1 });
  t.is(f.chunks[1], ns.chunk("fac1"));
  t.is(before?.size, 100, "the old record is not changed: snapshots share records");
  t.deepEqual(ns.appendedKey("k2"), { key: "k2", fileId: "fa", offset: CHUNK + 110, sizeBytes: 5, atMs: 77 });
});

test("a commit is refused for a superseded epoch, a moved version, a gap, an overflow, bad sizes, or a sealed chunk", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [100]);
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 1, fromBytes: 100, records: [{ key: "k", sizeBytes: 1 }] }), CHUNK), "NOT_PRIMARY");
  step(checkLease(ns, { fileId: "fa", chunkId: "fac0", primary: "dn1", atMs: 5 }));
  step(checkLease(ns, { fileId: "fa", chunkId: "fac0", primary: "dn2", atMs: 6 }));
  const r = [{ key: "k", sizeBytes: 1 }];
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 1, fromBytes: 100, records: r }), CHUNK), "NOT_PRIMARY");
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 2, version: 2, fromBytes: 100, records: r }), CHUNK), "STALE");
  const gap = code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 2, fromBytes: 90, records: r }), CHUNK), "STALE");
  t.true(gap?.retryable, "a primary whose view moved on retries after re-reading its lease");
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 2, fromBytes: 100, records: [{ key: "k", sizeBytes: CHUNK }] }), CHUNK), "BAD_REQUEST");
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 2, fromBytes: 100, toBytes: 105, records: r }), CHUNK), "BAD_REQUEST");
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 2, fromBytes: 100, records: [r[0], r[0]] }), CHUNK), "BAD_REQUEST");
  code(t, () => checkAppendCommit(ns, commit({ chunkId: "nope", epoch: 2, fromBytes: 100, records: r }), CHUNK), "NOT_PRIMARY");
  const attach = checkAppendChunks(ns, ns.fileAt("/a")!, { key: "big", chunks: [{ chunkId: "n1", version: 1, sizeBytes: 9, checksum: "crc32:00000001", replicas: ["dn1"] }], atMs: 7 }, () => ({ fileId: "fa", version: 1, replicas: ["dn1"] }), CHUNK);
  step(attach.entry);
  const sealed = code(t, () => checkAppendCommit(ns, commit({ chunkId: "fac0", epoch: 2, fromBytes: 100, records: r }), CHUNK), "NOT_PRIMARY");
  t.regex(sealed?.message ?? "", /sealed/);
  t.is(ns.chunkLease("fac0"), undefined, "attaching new chunks ended the lease");
});

test("a retried commit gets its original offsets; a batch holding keys appended before lists them as duplicates", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [CHUNK, 100]);
  step(checkLease(ns, { fileId: "fa", chunkId: "fac1", primary: "dn1", atMs: 5 }));
  const records = [{ key: "k1", sizeBytes: 10 }, { key: "k2", sizeBytes: 5 }];
  const c = ns.chunk("fac1")!;
  t.is(commitRetry(c, 100, records, ns), undefined);
  step(checkAppendCommit(ns, commit({ chunkId: "fac1", epoch: 1, fromBytes: 100, records }), CHUNK));
  t.deepEqual(commitRetry(ns.chunk("fac1")!, 100, records, ns), { kind: "applied", offsets: [CHUNK + 100, CHUNK + 110], fileSizeBytes: CHUNK + 115 });
  const mixed = commitRetry(ns.chunk("fac1")!, 115, [{ key: "k9", sizeBytes: 3 }, { key: "k2", sizeBytes: 5 }], ns);
  t.deepEqual(mixed, { kind: "duplicates", duplicates: [{ key: "k2", offset: CHUNK + 110, sizeBytes: 5 }] });
  const moved = commitRetry(ns.chunk("fac1")!, 115, [{ key: "k2", sizeBytes: 5 }], ns);
  t.is(moved?.kind, "duplicates", "an old key in a later batch is a duplicate, not a retry of that batch");
});

test("appendChunks attaches chunks at the end of the file, seals the old last chunk and stores the key", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [100]);
  step(checkLease(ns, { fileId: "fa", chunkId: "fac0", primary: "dn1", atMs: 5 }));
  const alloc = () => ({ fileId: "fa", version: 1, replicas: ["dn1", "dn2"] });
  const chunks = [
    { chunkId: "n1", version: 1, sizeBytes: CHUNK, checksum: "crc32:00000001", replicas: ["dn1", "dn9"] },
    { chunkId: "n2", version: 1, sizeBytes: 20, checksum: "crc32:00000002", replicas: ["dn2"] },
  ];
  const { entry, confirmed } = checkAppendChunks(ns, ns.fileAt("/a")!, { key: "k", chunks, atMs: 50 }, alloc, CHUNK);
  t.deepEqual(confirmed, [["dn1"], ["dn2"]], "only allocated replicas are registered");
  t.like(entry, { op: "appendChunks", fileId: "fa", key: "k", offset: 100 });
  step(entry);
  const f = ns.fileAt("/a")!;
  t.is(f.sizeBytes, 100 + CHUNK + 20);
  t.deepEqual(f.chunks.map((c) => [c!.id, c!.index, c!.size]), [["fac0", 0, 100], ["n1", 1, CHUNK], ["n2", 2, 20]]);
  t.is(ns.chunkLease("fac0"), undefined);
  t.deepEqual(ns.appendedKey("k"), { key: "k", fileId: "fa", offset: 100, sizeBytes: CHUNK + 20, atMs: 50 });
  t.is(ns.lastChunk(f)?.id, "n2");

  const one = (over: Partial<(typeof chunks)[0]>) => [{ ...chunks[1], chunkId: "n3", ...over }];
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: one({}), atMs: 1 }, () => undefined, CHUNK), "NOT_FOUND");
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: one({}), atMs: 1 }, () => ({ fileId: "other", version: 1, replicas: ["dn2"] }), CHUNK), "BAD_REQUEST");
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: one({ version: 2 }), atMs: 1 }, alloc, CHUNK), "STALE");
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: one({ sizeBytes: CHUNK + 1 }), atMs: 1 }, alloc, CHUNK), "BAD_REQUEST");
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: one({ replicas: ["dn7"] }), atMs: 1 }, alloc, CHUNK), "BAD_REQUEST");
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: one({ chunkId: "n1" }), atMs: 1 }, alloc, CHUNK), "EXISTS");
  code(t, () => checkAppendChunks(ns, f, { key: "x", chunks: [...one({}), ...one({})], atMs: 1 }, alloc, CHUNK), "BAD_REQUEST");
  const unknown = checkAppendChunks(ns, f, { key: "x", chunks: one({ replicas: ["dn5"] }), atMs: 1 }, () => "unknown", CHUNK);
  t.deepEqual(unknown.confirmed, [["dn5"]], "a chunk allocated before a restart keeps the replicas its writer saw");
});

test("a dropped replica bumps the version once; a retry after a lost reply is recognised", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [100]);
  step(checkLease(ns, { fileId: "fa", chunkId: "fac0", primary: "dn1", atMs: 5 }));
  const req = { chunkId: "fac0", epoch: 1, version: 1, failed: ["dn3"], atMs: 6 };
  const r = checkDropReplica(ns, req, () => false);
  t.true("entry" in r);
  if ("entry" in r) {
    t.deepEqual(r.entry, { op: "chunkVersion", chunkId: "fac0", version: 2, atMs: 6 });
    step(r.entry);
  }
  t.is(ns.chunk("fac0")?.version, 2);
  t.deepEqual(checkDropReplica(ns, req, () => false), { retry: { version: 2 } });
  code(t, () => checkDropReplica(ns, req, (dn, v) => dn === "dn3" && v === 2), "STALE");
  code(t, () => checkDropReplica(ns, { ...req, epoch: 7 }, () => false), "NOT_PRIMARY");
  t.throws(() => ns.apply({ op: "chunkVersion", chunkId: "fac0", version: 2, atMs: 7 }), { message: /does not follow/ });
});

test("appends go only to complete files: NOT_FOUND says how to create one, EXISTS while written, IS_DIRECTORY", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/d/a", "fa", [1]);
  step(ns.checkCreate({ path: "/w", replication: 2, fileId: "fw", atMs: 1 }));
  const nf = code(t, () => ns.appendTarget("/nope"), "NOT_FOUND");
  t.regex(nf?.message ?? "", /woods put - \/nope < \/dev\/null/);
  code(t, () => ns.appendTarget("/w"), "EXISTS");
  code(t, () => ns.appendTarget("/d"), "IS_DIRECTORY");
  t.is(ns.appendTarget("/d/a").fileId, "fa");
});

test("deleting a file forgets its append keys and its lease; old keys are pruned oldest first", (t) => {
  const { ns, log } = sample();
  t.is(ns.appendedKey("k5"), undefined, "/gone was deleted with its key");
  t.is(ns.chunkLease("fgc0"), undefined);
  t.is(ns.leaseEpoch, 4);
  t.is(ns.appendKeyCount, 4);
  t.is(ns.pruneAppendKeys(22), 2, "k1 and k2 were logged at 21");
  t.deepEqual(["k1", "k2", "k3", "k4"].map((k) => ns.appendedKey(k) !== undefined), [false, false, true, true]);
  t.true(log.length > 0);
});

test("replaying the log into a fresh namespace reproduces files, keys, leases and the lease epoch", (t) => {
  const { ns, log } = sample();
  const again = new Namespace();
  for (const e of log) again.apply(e);
  t.deepEqual(observe(again), observe(ns));
  t.like(observe(ns) as object, { leaseEpoch: 4 });
  const a = ns.fileAt("/logs/a")!;
  t.is(a.sizeBytes, CHUNK + 115);
  const b = ns.fileAt("/logs/b")!;
  t.deepEqual([b.sizeBytes, b.chunks[0]?.version, b.chunks[0]?.size], [57, 2, 57]);
});

test("a snapshot carries the key table, the leases and the lease epoch; replaying the tail after it gives the same state", async (t) => {
  const { ns, log } = sample();
  const cut = log.length - 4;
  const head = new Namespace();
  for (const e of log.slice(0, cut)) head.apply(e);
  for (const perPart of [1, 10_000]) {
    const enc = await encodeSnapshot({ ...head.capture(), logSeq: 9, createdAtMs: 1 }, { filesPerPart: perPart });
    t.like(enc.header, { v: 3, leaseEpoch: head.leaseEpoch, keys: head.appendKeyCount, leases: [...head.leases()].length });
    const { header, ns: back } = decodeSnapshot(Buffer.concat(enc.parts));
    t.is(header.v, 3);
    t.deepEqual(observe(back), observe(head));
    for (const e of log.slice(cut)) back.apply(e);
    t.deepEqual(observe(back), observe(ns));
  }
});

test("a snapshot with a lease on a chunk that is not a file's last is refused as corrupt", async (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "fa", [CHUNK, 1]);
  const cap = ns.capture();
  const enc = await encodeSnapshot({ ...cap, meta: { ...cap.meta, leaseEpoch: 1 }, leases: [{ chunkId: "fac0", fileId: "fa", epoch: 1, primary: "dn1" }], logSeq: 3, createdAtMs: 1 });
  const err = t.throws(() => decodeSnapshot(Buffer.concat(enc.parts)), { instanceOf: WoodsError });
  t.regex(err?.message ?? "", /corrupt snapshot: lease part 0/);
});

test("a format-1 snapshot, written before appends existed, still loads: no keys, no leases, lease epoch 0", (t) => {
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
  const header = { v: 1, logSeq: 7, epoch: 2, namenodeId: "nn1", applied: 12, files: 2, chunks: 3, parts: 1, createdAtMs: 5 };
  const files = [
    ["f1", "/x/one", 2, null, 1, 150, 1, 2, [["c1", 1, 100, "crc32:00000001"], ["c2", 1, 50, "crc32:00000002"]]],
    ["f2", "/two", 3, "w1", 0, 0, 3, 4, [["c3", 1, 9, "crc32:00000003"]]],
  ];
  const body = Buffer.concat([Buffer.from("WOODSNAP", "ascii"), framed(header), framed(files), u32(0)]);
  const bytes = Buffer.concat([body, createHash("sha256").update(body).digest()]);
  const { header: h, ns } = decodeSnapshot(bytes);
  t.is(h.v, 1);
  t.is(ns.leaseEpoch, 0);
  t.is(ns.appendKeyCount, 0);
  t.deepEqual([...ns.leases()], []);
  t.is(ns.fileAt("/x/one")?.sizeBytes, 150);
  t.is(ns.chunk("c2")?.size, 50);
  // The namespace goes on with appends after it.
  ns.apply(checkLease(ns, { fileId: "f1", chunkId: "c2", primary: "dn1", atMs: 9 }));
  ns.apply(checkAppendCommit(ns, commit({ chunkId: "c2", epoch: 1, fromBytes: 50, records: [{ key: "k", sizeBytes: 4 }] }), CHUNK));
  t.is(ns.fileAt("/x/one")?.sizeBytes, 154);
});
