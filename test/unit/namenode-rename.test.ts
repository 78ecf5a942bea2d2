/**
 * Renames in the namespace (`woods mv`): the `rename` entry, its validation,
 * implied directories, retries, appends across a rename, replay and snapshots.
 */
import test, { type ExecutionContext } from "ava";
import { Namespace } from "../../actors/namenode/namespace.js";
import { checkAppendCommit, checkLease } from "../../actors/namenode/append-checks.js";
import { decodeSnapshot, encodeSnapshot } from "../../actors/namenode/snapshot-format.js";
import { WoodsError, type ErrorCode, type LogEntry } from "../../messages/index.js";

const CHUNK = 1 << 20;

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

function writeFile(ns: Namespace, step: (e: LogEntry | null) => void, path: string, fileId: string, sizes: number[], complete = true): void {
  step(ns.checkCreate({ path, replication: 2, fileId, atMs: 10 }));
  sizes.forEach((size, index) => {
    const chunkId = `${fileId}c${index}`;
    step(ns.checkCommit({ fileId, index, chunkId, version: 1, sizeBytes: size, checksum: "crc32:00000000", atMs: 11 }, { fileId, index, version: 1 }, CHUNK));
  });
  if (complete) step(ns.checkComplete({ fileId, sizeBytes: sizes.reduce((a, b) => a + b, 0), chunkCount: sizes.length, atMs: 12 }));
}

function code(t: ExecutionContext, fn: () => unknown, expected: ErrorCode): WoodsError | undefined {
  const err = t.throws(fn, { instanceOf: WoodsError });
  t.is(err?.code, expected, err?.message);
  return err;
}

function lsOrCode(ns: Namespace, dir: string): unknown {
  try {
    return ns.ls(dir).map((e) => `${e.type}:${e.path}`);
  } catch (e) {
    return (e as WoodsError).code;
  }
}

/** Everything stat, ls and appends can observe. */
function observe(ns: Namespace): unknown {
  const files = [...ns.allFiles()]
    .map((f) => ({
      path: f.path,
      fileId: f.fileId,
      state: f.state,
      size: f.sizeBytes,
      ctimeMs: f.ctimeMs,
      mtimeMs: f.mtimeMs,
      chunks: f.chunks.map((c) => c && { id: c.id, index: c.index, version: c.version, size: c.size, file: c.file.path }),
    }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const ls: Record<string, unknown> = {};
  for (const d of ["/", "/a", "/a/b", "/b", "/c", "/c/d", "/w"]) ls[d] = lsOrCode(ns, d);
  const leases = [...ns.leases()].sort((a, b) => a.epoch - b.epoch);
  const keys = ["k1", "k2"].map((k) => ns.appendedKey(k) ?? null);
  return { files, ls, leases, keys, chunks: ns.chunkCount, fileCount: ns.fileCount, applied: ns.appliedCount };
}

test("a rename moves a complete file with its id and chunks, and the implied directories follow", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a/b/one", "f1", [CHUNK, 7]);
  writeFile(ns, step, "/a/two", "f2", [3]);
  const e = ns.checkRename({ src: "/a/b/one", dst: "/c/d/uno", atMs: 50 });
  t.deepEqual(e, { op: "rename", fileId: "f1", src: "/a/b/one", dst: "/c/d/uno", atMs: 50 });
  step(e);
  t.is(ns.fileAt("/a/b/one"), undefined);
  const f = ns.fileAt("/c/d/uno")!;
  t.like(f, { fileId: "f1", path: "/c/d/uno", state: "complete", sizeBytes: CHUNK + 7, mtimeMs: 12 });
  t.is(ns.fileById("f1"), f);
  t.deepEqual(
    f.chunks.map((c) => c?.file.path),
    ["/c/d/uno", "/c/d/uno"],
    "chunk records name the new path",
  );
  t.is(ns.chunk("f1c1")?.file, f);
  t.is(lsOrCode(ns, "/a/b"), "NOT_FOUND", "the directory that only held the file is gone");
  t.deepEqual(lsOrCode(ns, "/a"), ["file:/a/two"], "the old parent no longer lists it");
  t.deepEqual(lsOrCode(ns, "/"), ["dir:/a", "dir:/c"]);
  t.deepEqual(lsOrCode(ns, "/c/d"), ["file:/c/d/uno"]);
  t.false(ns.isDirectory("/a/b"));
  code(t, () => ns.stat("/a/b/one"), "NOT_FOUND");
  t.is(ns.stat("/c/d/uno").fileId, "f1");
  t.is(ns.fileCount, 2);
  t.is(ns.chunkCount, 3);
});

test("a rename within one directory, and to a new name beside a file being written, keeps the listings right", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/w/done", "f1", [5]);
  writeFile(ns, step, "/w/busy", "f2", [5], false);
  step(ns.checkRename({ src: "/w/done", dst: "/w/renamed", atMs: 20 }));
  t.deepEqual(lsOrCode(ns, "/w"), ["file:/w/renamed"]);
  step(ns.checkRename({ src: "/w/renamed", dst: "/top", atMs: 21 }));
  // /w still exists (a file is being written there) but holds no complete file: not listed.
  t.true(ns.isDirectory("/w"));
  t.deepEqual(lsOrCode(ns, "/"), ["file:/top"]);
  t.deepEqual(lsOrCode(ns, "/w"), []);
  // The writer can still finish its file; then /w is listed again.
  step(ns.checkComplete({ fileId: "f2", sizeBytes: 5, chunkCount: 1, atMs: 22 }));
  t.deepEqual(lsOrCode(ns, "/"), ["file:/top", "dir:/w"]);
});

test("rename refuses a missing source, a taken or directory destination, a destination under a file, and files being written", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a/one", "f1", [5]);
  writeFile(ns, step, "/a/two", "f2", [5]);
  writeFile(ns, step, "/d/x", "f3", [5]);
  writeFile(ns, step, "/w", "f4", [5], false);
  const check = (src: string, dst: string) => () => ns.checkRename({ src, dst, atMs: 30 });
  code(t, check("/nope", "/new"), "NOT_FOUND");
  code(t, check("/a/one", "/a/two"), "EXISTS");
  code(t, check("/a/one", "/w"), "EXISTS");
  t.regex(code(t, check("/a/one", "/d"), "IS_DIRECTORY")?.message ?? "", /e\.g\. \/d\/one/);
  code(t, check("/a", "/b"), "IS_DIRECTORY");
  code(t, check("/a/one", "/d/x/y"), "NOT_A_FILE");
  code(t, check("/a/one", "/a/one/under-itself"), "NOT_A_FILE");
  code(t, check("/w", "/w2"), "NOT_FOUND");
  code(t, check("/a/one", "/a"), "IS_DIRECTORY");
  t.is(ns.checkRename({ src: "/a/one", dst: "/a/one", atMs: 30 }), null, "onto itself: nothing to do");
  // Nothing changed.
  t.deepEqual(lsOrCode(ns, "/a"), ["file:/a/one", "file:/a/two"]);
});

test("a rename retried after it was applied is answered as done; a different request is not", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/src", "f1", [5]);
  writeFile(ns, step, "/other", "f2", [5]);
  step(ns.checkRename({ src: "/src", dst: "/dst", atMs: 40 }));
  t.is(ns.checkRename({ src: "/src", dst: "/dst", atMs: 41 }), null, "same src and dst: done");
  code(t, () => ns.checkRename({ src: "/src", dst: "/elsewhere", atMs: 41 }), "NOT_FOUND");
  code(t, () => ns.checkRename({ src: "/nope", dst: "/dst", atMs: 41 }), "NOT_FOUND");
  code(t, () => ns.checkRename({ src: "/other", dst: "/dst", atMs: 41 }), "EXISTS");
  // A new file at the old path is a new file: renaming it onto the taken path fails.
  writeFile(ns, step, "/src", "f3", [1]);
  code(t, () => ns.checkRename({ src: "/src", dst: "/dst", atMs: 42 }), "EXISTS");
});

test("apply refuses a rename entry that does not fit the state (the log and the code disagree)", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/a", "f1", [5]);
  writeFile(ns, step, "/b", "f2", [5]);
  t.throws(() => ns.apply({ op: "rename", fileId: "f1", src: "/zzz", dst: "/c", atMs: 1 }), { message: /not complete file/ });
  t.throws(() => ns.apply({ op: "rename", fileId: "f1", src: "/a", dst: "/b", atMs: 1 }), { message: /onto existing/ });
  t.throws(() => ns.apply({ op: "rename", fileId: "f1", src: "/a", dst: "/b/c", atMs: 1 }), { message: /under file/ });
});

test("append leases and keys are keyed by file id: appends carry on across a rename and land in the renamed file", (t) => {
  const { ns, step } = fresh();
  writeFile(ns, step, "/logs/a", "fa", [CHUNK, 100]);
  step(checkLease(ns, { fileId: "fa", chunkId: "fac1", primary: "dn1", atMs: 20 }));
  step(checkAppendCommit(ns, { chunkId: "fac1", epoch: 1, version: 1, fromBytes: 100, toBytes: 110, checksum: "crc32:0000abcd", records: [{ key: "k1", sizeBytes: 10 }], atMs: 21 }, CHUNK));
  step(ns.checkRename({ src: "/logs/a", dst: "/archive/a", atMs: 22 }));
  t.deepEqual(ns.chunkLease("fac1"), { chunkId: "fac1", fileId: "fa", epoch: 1, primary: "dn1" });
  t.deepEqual(ns.appendedKey("k1"), { key: "k1", fileId: "fa", offset: CHUNK + 100, sizeBytes: 10, atMs: 21 });
  // The primary's next commit (by chunk id and epoch) grows the file at its new path.
  step(checkAppendCommit(ns, { chunkId: "fac1", epoch: 1, version: 1, fromBytes: 110, toBytes: 115, checksum: "crc32:0000abce", records: [{ key: "k2", sizeBytes: 5 }], atMs: 23 }, CHUNK));
  t.is(ns.fileAt("/archive/a")?.sizeBytes, CHUNK + 115);
  t.is(ns.appendTarget("/archive/a").fileId, "fa");
  code(t, () => ns.appendTarget("/logs/a"), "NOT_FOUND");
  // Deleting the renamed file ends its lease and forgets its keys, as for any file.
  step(ns.checkRemove("/archive/a", 24));
  t.is(ns.chunkLease("fac1"), undefined);
  t.is(ns.appendedKey("k2"), undefined);
});

/** A log with renames among writes, appends and deletes. */
function sample() {
  const { ns, log, step } = fresh();
  writeFile(ns, step, "/a/b/one", "f1", [CHUNK, 9]);
  writeFile(ns, step, "/a/two", "f2", [4]);
  writeFile(ns, step, "/w/busy", "f3", [6], false);
  step(ns.checkRename({ src: "/a/b/one", dst: "/c/d/one", atMs: 30 }));
  step(checkLease(ns, { fileId: "f1", chunkId: "f1c1", primary: "dn2", atMs: 31 }));
  step(checkAppendCommit(ns, { chunkId: "f1c1", epoch: 1, version: 1, fromBytes: 9, toBytes: 12, checksum: "crc32:00000001", records: [{ key: "k1", sizeBytes: 3 }], atMs: 32 }, CHUNK));
  step(ns.checkRename({ src: "/a/two", dst: "/b", atMs: 33 }));
  step(ns.checkRename({ src: "/c/d/one", dst: "/a/b/back", atMs: 34 }));
  step(ns.checkRemove("/b", 35));
  step(ns.checkRename({ src: "/a/b/back", dst: "/c/d/one", atMs: 36 }));
  return { ns, log };
}

test("replaying a log with renames into a fresh namespace reproduces the same state", (t) => {
  const { ns, log } = sample();
  const again = new Namespace();
  for (const e of log) again.apply(e);
  t.deepEqual(observe(again), observe(ns));
  t.is(again.fileAt("/c/d/one")?.sizeBytes, CHUNK + 12);
  t.deepEqual(lsOrCode(again, "/"), ["dir:/c"]);
});

test("a snapshot carries renamed paths; one captured before a rename keeps the old path even if encoded after it", async (t) => {
  const { ns, log } = sample();
  for (const perPart of [1, 10_000]) {
    const enc = await encodeSnapshot({ ...ns.capture(), logSeq: log.length, createdAtMs: 1 }, { filesPerPart: perPart });
    const { ns: back } = decodeSnapshot(Buffer.concat(enc.parts));
    t.deepEqual(observe(back), observe(ns), `files per part ${perPart}`);
  }
  // Capture at a log boundary, then a rename lands before the (asynchronous) encoding.
  const cut = log.length - 1;
  const head = new Namespace();
  for (const e of log.slice(0, cut)) head.apply(e);
  const cap = head.capture();
  for (const e of log.slice(cut)) head.apply(e);
  const { ns: back } = decodeSnapshot(Buffer.concat((await encodeSnapshot({ ...cap, logSeq: cut, createdAtMs: 1 })).parts));
  t.truthy(back.fileAt("/a/b/back"), "the snapshot holds the state at its sequence");
  t.is(back.fileAt("/c/d/one"), undefined);
  // Replaying the tail after the snapshot gives the live state.
  for (const e of log.slice(cut)) back.apply(e);
  t.deepEqual(observe(back), observe(ns));
});
