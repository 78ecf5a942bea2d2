import test, { type ExecutionContext } from "ava";
import { Namespace } from "../../actors/namenode/namespace.js";
import { WoodsError, type ErrorCode, type LogEntry } from "../../messages/index.js";

/** Creates, commits and completes a file through the validation functions, as the namenode does. */
function writeFile(ns: Namespace, path: string, fileId: string, sizes: number[], log: LogEntry[] = []): LogEntry[] {
  const step = (e: LogEntry | null) => {
    if (!e) return;
    ns.apply(e);
    log.push(e);
  };
  step(ns.checkCreate({ path, replication: 3, fileId, atMs: 1 }));
  sizes.forEach((size, index) => {
    const chunkId = `${fileId}c${index}`;
    step(ns.checkCommit({ fileId, index, chunkId, version: 1, sizeBytes: size, checksum: "crc32:00000000", atMs: 2 }, { fileId, index, version: 1 }, 1 << 20));
  });
  step(ns.checkComplete({ fileId, sizeBytes: sizes.reduce((a, b) => a + b, 0), chunkCount: sizes.length, atMs: 3 }));
  return log;
}

/** Asserts `fn` throws a WoodsError with this code. */
function code(t: ExecutionContext, fn: () => unknown, expected: ErrorCode): void {
  const err = t.throws(fn, { instanceOf: WoodsError });
  t.is(err?.code, expected, err?.message);
}

test("a created file blocks a second create of the same path while it is being written", (t) => {
  const ns = new Namespace();
  ns.apply(ns.checkCreate({ path: "/a/b", replication: 3, fileId: "f1", atMs: 1 }));
  t.is(ns.fileAt("/a/b")?.state, "writing");
  code(t, () => ns.checkCreate({ path: "/a/b", replication: 3, fileId: "f2", atMs: 1 }), "EXISTS");
});

test("a complete file blocks a second create with EXISTS", (t) => {
  const ns = new Namespace();
  writeFile(ns, "/x", "f1", [10]);
  code(t, () => ns.checkCreate({ path: "/x", replication: 3, fileId: "f2", atMs: 1 }), "EXISTS");
});

test("creating under a path that is a file fails with NOT_A_FILE", (t) => {
  const ns = new Namespace();
  writeFile(ns, "/a/file", "f1", [10]);
  code(t, () => ns.checkCreate({ path: "/a/file/child", replication: 3, fileId: "f2", atMs: 1 }), "NOT_A_FILE");
});

test("creating a file where a directory is implied fails with IS_DIRECTORY", (t) => {
  const ns = new Namespace();
  ns.apply(ns.checkCreate({ path: "/d/e/f", replication: 3, fileId: "f1", atMs: 1 }));
  code(t, () => ns.checkCreate({ path: "/d/e", replication: 3, fileId: "f2", atMs: 1 }), "IS_DIRECTORY");
  code(t, () => ns.checkCreate({ path: "/d", replication: 3, fileId: "f3", atMs: 1 }), "IS_DIRECTORY");
  code(t, () => ns.stat("/d"), "IS_DIRECTORY");
  code(t, () => ns.stat("/nope"), "NOT_FOUND");
});

test("ls lists complete files and directories holding complete files, sorted by name", (t) => {
  const ns = new Namespace();
  writeFile(ns, "/z", "f1", [5]);
  writeFile(ns, "/a/one", "f2", [1, 2]);
  writeFile(ns, "/m", "f3", [7]);
  ns.apply(ns.checkCreate({ path: "/w/only-writing", replication: 1, fileId: "f4", atMs: 1 }));
  ns.apply(ns.checkCreate({ path: "/b", replication: 1, fileId: "f5", atMs: 1 }));
  t.deepEqual(ns.ls("/"), [
    { name: "a", path: "/a", type: "dir" },
    { name: "m", path: "/m", type: "file", size: 7 },
    { name: "z", path: "/z", type: "file", size: 5 },
  ]);
  t.deepEqual(ns.ls("/a"), [{ name: "one", path: "/a/one", type: "file", size: 3 }]);
  t.deepEqual(ns.ls("/w"), [], "a directory holding only files being written lists nothing");
  t.deepEqual(ns.ls("/z"), [{ name: "z", path: "/z", type: "file", size: 5 }]);
  code(t, () => ns.ls("/nope"), "NOT_FOUND");
  code(t, () => ns.ls("/b"), "NOT_FOUND");
});

test("complete requires every index committed and sizes adding up", (t) => {
  const ns = new Namespace();
  ns.apply(ns.checkCreate({ path: "/f", replication: 3, fileId: "f1", atMs: 1 }));
  const commit = (index: number, size: number) =>
    ns.apply(
      ns.checkCommit({ fileId: "f1", index, chunkId: `c${index}`, version: 1, sizeBytes: size, checksum: "crc32:00000000", atMs: 1 }, { fileId: "f1", index, version: 1 }, 100)!,
    );
  commit(0, 100);
  commit(2, 50);
  code(t, () => ns.checkComplete({ fileId: "f1", sizeBytes: 150, chunkCount: 3, atMs: 1 }), "BAD_REQUEST");
  commit(1, 100);
  code(t, () => ns.checkComplete({ fileId: "f1", sizeBytes: 999, chunkCount: 3, atMs: 1 }), "BAD_REQUEST");
  code(t, () => ns.checkComplete({ fileId: "f1", sizeBytes: 200, chunkCount: 2, atMs: 1 }), "BAD_REQUEST");
  const e = ns.checkComplete({ fileId: "f1", sizeBytes: 250, chunkCount: 3, atMs: 1 });
  t.truthy(e);
  ns.apply(e!);
  t.is(ns.fileAt("/f")?.state, "complete");
  t.is(ns.checkComplete({ fileId: "f1", sizeBytes: 250, chunkCount: 3, atMs: 1 }), null, "a retried complete is a no-op");
});

test("commit checks the allocation: unknown chunk, wrong index, wrong version, oversized", (t) => {
  const ns = new Namespace();
  ns.apply(ns.checkCreate({ path: "/f", replication: 3, fileId: "f1", atMs: 1 }));
  const req = { fileId: "f1", index: 0, chunkId: "c0", version: 1, sizeBytes: 10, checksum: "crc32:00000000", atMs: 1 };
  code(t, () => ns.checkCommit(req, undefined, 100), "NOT_FOUND");
  code(t, () => ns.checkCommit(req, { fileId: "f1", index: 1, version: 1 }, 100), "BAD_REQUEST");
  code(t, () => ns.checkCommit(req, { fileId: "f1", index: 0, version: 2 }, 100), "STALE");
  code(t, () => ns.checkCommit({ ...req, sizeBytes: 101 }, { fileId: "f1", index: 0, version: 1 }, 100), "BAD_REQUEST");
  code(t, () => ns.checkCommit({ ...req, fileId: "nope" }, { fileId: "nope", index: 0, version: 1 }, 100), "NOT_FOUND");
  ns.apply(ns.checkCommit(req, { fileId: "f1", index: 0, version: 1 }, 100)!);
  t.is(ns.checkCommit(req, undefined, 100), null, "a retried commit of the same chunk is a no-op");
  t.is(ns.chunk("c0")?.file.path, "/f");
});

test("re-committing an index drops the old chunk", (t) => {
  const ns = new Namespace();
  ns.apply(ns.checkCreate({ path: "/f", replication: 3, fileId: "f1", atMs: 1 }));
  const c = (chunkId: string) => ({ fileId: "f1", index: 0, chunkId, version: 1, sizeBytes: 10, checksum: "crc32:00000000", atMs: 1 });
  ns.apply(ns.checkCommit(c("old"), { fileId: "f1", index: 0, version: 1 }, 100)!);
  const dropped = ns.apply(ns.checkCommit(c("new"), { fileId: "f1", index: 0, version: 1 }, 100)!);
  t.deepEqual(dropped, [{ id: "old", version: 1 }]);
  t.is(ns.chunk("old"), undefined);
  t.is(ns.chunk("new")?.index, 0);
});

test("delete removes the file, its chunks and directories left empty", (t) => {
  const ns = new Namespace();
  writeFile(ns, "/a/b/c", "f1", [1, 2]);
  writeFile(ns, "/a/x", "f2", [3]);
  const dropped = ns.apply(ns.checkRemove("/a/b/c", 9));
  t.deepEqual(dropped.map((d) => d.id).sort(), ["f1c0", "f1c1"]);
  t.is(ns.fileAt("/a/b/c"), undefined);
  t.is(ns.fileById("f1"), undefined);
  t.is(ns.chunk("f1c0"), undefined);
  t.false(ns.isDirectory("/a/b"));
  t.true(ns.isDirectory("/a"));
  t.deepEqual(ns.ls("/a"), [{ name: "x", path: "/a/x", type: "file", size: 3 }]);
  // The path is free again, and so is the removed directory name (now creatable as a file).
  ns.apply(ns.checkCreate({ path: "/a/b", replication: 1, fileId: "f3", atMs: 1 }));
  code(t, () => ns.checkRemove("/missing", 1), "NOT_FOUND");
  code(t, () => ns.checkRemove("/a", 1), "IS_DIRECTORY");
});

test("replaying the log into a fresh namespace reproduces the same state", (t) => {
  const ns = new Namespace();
  const log: LogEntry[] = [{ op: "epoch", epoch: 1, namenodeId: "nn1", atMs: 0 }];
  ns.apply(log[0]);
  writeFile(ns, "/a/1", "f1", [4, 4], log);
  writeFile(ns, "/a/2", "f2", [8], log);
  writeFile(ns, "/b/3", "f3", [1], log);
  const del = ns.checkRemove("/a/1", 5);
  ns.apply(del);
  log.push(del);
  const create = ns.checkCreate({ path: "/w", replication: 2, fileId: "f4", atMs: 6 });
  ns.apply(create);
  log.push(create);

  const replayed = new Namespace();
  for (const e of log) replayed.apply(e);
  t.is(replayed.epoch, 1);
  t.deepEqual(replayed.ls("/"), ns.ls("/"));
  t.deepEqual(replayed.ls("/a"), ns.ls("/a"));
  t.is(replayed.fileCount, ns.fileCount);
  t.is(replayed.chunkCount, ns.chunkCount);
  t.is(replayed.fileAt("/w")?.state, "writing");
  t.is(replayed.stat("/a/2").chunks[0]?.id, "f2c0");
  t.is(replayed.fileAt("/a/1"), undefined);
});

test("a create retried by the same writer finds its file; another writer or a complete file does not", (t) => {
  const ns = new Namespace();
  ns.apply(ns.checkCreate({ path: "/r", replication: 2, fileId: "f1", atMs: 1, clientId: "w1" }));
  t.is(ns.retriedCreate("/r", "w1")?.fileId, "f1");
  t.is(ns.retriedCreate("/r", "w2"), undefined);
  t.is(ns.retriedCreate("/r", undefined), undefined);
  t.is(ns.retriedCreate("/other", "w1"), undefined);
  ns.apply({ op: "complete", fileId: "f1", sizeBytes: 0, atMs: 2 });
  t.is(ns.retriedCreate("/r", "w1"), undefined, "a complete file is not being written any more");
});
