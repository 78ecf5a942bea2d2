import test from "ava";
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkStore, isDirFault, type StoreOptions } from "../../actors/datanode/store.js";
import { createLogger } from "../../actors/logger.js";
import { chunkChecksum, WoodsError } from "../../messages/index.js";

const BLOCK = 4096;
const log = createLogger("datanode", "test", "silent");

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-dirs-"));
  t.teardown(() => {
    try {
      execFileSync("chattr", ["-i", dir], { stdio: "ignore" });
    } catch {
      /* not immutable */
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Replaces data dir `dir` with a plain file, as a disk swapped under a mount point might look. */
function replaceWithFile(dir: string): void {
  renameSync(dir, `${dir}.gone`);
  writeFileSync(dir, "not a directory any more");
  rmSync(`${dir}.gone`, { recursive: true, force: true });
}

interface Failure {
  dir: string;
  reason: string;
  lost: string[];
}

async function twoDirStore(t: { teardown(fn: () => void): void }, extra: Partial<StoreOptions> = {}) {
  const d1 = tempDir(t);
  const d2 = tempDir(t);
  const failures: Failure[] = [];
  // d1 has more free space, so new chunks land there first.
  const free: Record<string, number> = { [d1]: 9e9, [d2]: 1e9 };
  const store = new ChunkStore({
    dirs: [d1, d2],
    blockSizeBytes: BLOCK,
    reserveBytes: 0,
    readMaxBytes: 1 << 20,
    log,
    statfs: async (dir) => ({ capacityBytes: 1e10, availableBytes: free[dir], device: dir === d1 ? 1 : 2 }),
    onDirFailed: (dir, reason, lost) => failures.push({ dir, reason, lost: lost.map((l) => `${l.chunkId}:${l.version}`) }),
    ...extra,
  });
  await store.init();
  await store.scan();
  return { store, d1, d2, failures, free };
}

async function put(store: ChunkStore, id: string, data: Buffer): Promise<void> {
  const w = await store.openWrite(id, 1, data.length);
  await w.write(0, data);
  await w.close(data.length, chunkChecksum(crc32(data)));
}

test("dir faults are told apart from a full disk and from a missing file", (t) => {
  const sys = (code: string) => Object.assign(new Error(code), { code });
  t.true(isDirFault(sys("EIO")));
  t.true(isDirFault(sys("EROFS")));
  t.true(isDirFault(new WoodsError("IO", "wrapped", { cause: sys("ENOTDIR") })));
  t.false(isDirFault(sys("ENOSPC")));
  t.false(isDirFault(sys("ENOENT")));
  t.false(isDirFault(new Error("plain")));
});

test("a data dir replaced by a file is marked failed by the probe; its chunks are lost and writes go to the other dir", async (t) => {
  const { store, d1, d2, failures } = await twoDirStore(t);
  await put(store, "a", randomBytes(1000));
  await put(store, "b", randomBytes(2000));
  t.deepEqual(readdirSync(join(d1, "chunks")).sort(), ["a_v1.chunk", "b_v1.chunk"]);
  await store.checkDirs();
  t.is(failures.length, 0, "healthy dirs pass the probe");
  t.deepEqual(readdirSync(join(d1, "tmp")), [], "the probe leaves nothing behind");

  replaceWithFile(d1);
  await store.checkDirs();
  t.is(failures.length, 1);
  t.is(failures[0].dir, d1);
  t.regex(failures[0].reason, /no longer a directory/);
  t.deepEqual(failures[0].lost.sort(), ["a:1", "b:1"]);
  t.is(store.chunkCount, 0);
  const err = await t.throwsAsync(store.read("a", 1, 0, 10));
  t.is((err as WoodsError).code, "NOT_FOUND");
  const u = await store.usage();
  t.deepEqual(u.dirs.map((d) => [d.path, d.failed]), [[d1, true], [d2, false]]);
  t.is(u.dirs[0].availableBytes, 0);
  t.is(u.capacityBytes, 1e10);
  // New chunks go to the healthy dir even though the failed one claimed more space.
  await put(store, "c", randomBytes(10));
  t.deepEqual(readdirSync(join(d2, "chunks")), ["c_v1.chunk"]);
  // A second check does not report the same dir again.
  await store.checkDirs();
  t.is(failures.length, 1);
});

test("a read that hits a broken dir fails that dir (IO) instead of calling the chunk corrupt", async (t) => {
  const { store, d1, failures } = await twoDirStore(t);
  await put(store, "r", randomBytes(5000));
  replaceWithFile(d1);
  const err = await t.throwsAsync(store.read("r", 1, 0, 10));
  t.is((err as WoodsError).code, "IO");
  t.is(failures.length, 1);
  t.deepEqual(failures[0].lost, ["r:1"]);
  t.deepEqual(store.listCorrupt(), []);
});

test("a write that cannot create its temp file in a broken dir fails the dir and lands in the next one", async (t) => {
  const { store, d1, d2, failures } = await twoDirStore(t);
  rmSync(join(d1, "tmp"), { recursive: true });
  writeFileSync(join(d1, "tmp"), "x");
  await put(store, "w", randomBytes(100));
  t.deepEqual(readdirSync(join(d2, "chunks")), ["w_v1.chunk"]);
  t.is(failures.length, 1);
  t.is(failures[0].dir, d1);
});

test("a write in progress whose dir fails is not committed", async (t) => {
  const { store, d1, failures } = await twoDirStore(t);
  const w = await store.openWrite("inflight", 1, 100);
  await w.write(0, Buffer.alloc(100));
  replaceWithFile(d1);
  await store.checkDirs();
  t.is(failures.length, 1);
  const err = await t.throwsAsync(w.close(100, chunkChecksum(crc32(Buffer.alloc(100)))));
  t.is((err as WoodsError).code, "IO");
  t.is(store.get("inflight", 1), undefined);
});

test("when every dir has failed the node reports no capacity and refuses writes, without crashing", async (t) => {
  const { store, d1, d2, failures } = await twoDirStore(t);
  replaceWithFile(d1);
  replaceWithFile(d2);
  await store.checkDirs();
  t.is(failures.length, 2);
  const u = await store.usage();
  t.is(u.capacityBytes, 0);
  t.is(u.availableBytes, 0);
  t.true(u.dirs.every((d) => d.failed));
  const err = await t.throwsAsync(store.openWrite("x", 1, 10));
  t.is((err as WoodsError).code, "IO");
});

function chattrWorks(dir: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("chattr", ["+i", dir], { stdio: "ignore" });
    execFileSync("chattr", ["-i", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

test("an immutable (unwritable) data dir fails the probe", async (t) => {
  const { store, d1, failures } = await twoDirStore(t);
  if (!chattrWorks(d1)) {
    t.pass("chattr +i is not available here");
    return;
  }
  execFileSync("chattr", ["+i", d1]);
  await store.checkDirs();
  execFileSync("chattr", ["-i", d1]);
  t.is(failures.length, 1);
  t.regex(failures[0].reason, /probe failed/);
  t.false(readdirSync(d1).some((n) => n.startsWith(".woods-probe")));
});

test("a hung probe fails the dir after the probe timeout", async (t) => {
  const { store, d1, failures } = await twoDirStore(t);
  // Stand in for a disk that never answers.
  store.probeDir = () => new Promise(() => undefined);
  await store.checkDirs(50);
  t.is(failures.length, 2);
  t.regex(failures[0].reason, /did not finish within 50 ms/);
  t.true(existsSync(d1));
});
