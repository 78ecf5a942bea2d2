import test from "ava";
import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync, truncateSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkStore, type StoreOptions } from "../../actors/datanode/store.js";
import { createLogger } from "../../actors/logger.js";
import { chunkChecksum } from "../../messages/index.js";
import { canMountTmpfs } from "../helpers/tmpfs.js";

const BLOCK = 4096;
const log = createLogger("datanode", "test", "silent");

function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-store-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function newStore(dirs: string[], extra: Partial<StoreOptions> = {}): Promise<ChunkStore> {
  const store = new ChunkStore({ dirs, blockSizeBytes: BLOCK, reserveBytes: 0, readMaxBytes: 1 << 20, log, ...extra });
  await store.init();
  await store.scan();
  return store;
}

/** Writes `data` in frames of `frame` bytes and commits it. */
async function put(store: ChunkStore, id: string, data: Buffer, frame = 10_000, version = 1) {
  const w = await store.openWrite(id, version, data.length + 1000);
  for (let at = 0; at < data.length; at += frame) await w.write(at, data.subarray(at, at + frame));
  return w.close(data.length, chunkChecksum(crc32(data)));
}

test("a chunk written in unaligned frames reads back byte-identical", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  const data = randomBytes(BLOCK * 20 + 123);
  const r = await put(store, "c1", data, 7777);
  t.deepEqual(r, { sizeBytes: data.length, checksum: chunkChecksum(crc32(data)) });
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += 30_000) chunks.push((await store.read("c1", 1, at, 30_000)).data);
  t.is(sha(Buffer.concat(chunks)), sha(data));
  t.is(store.chunkCount, 1);
  t.deepEqual(readdirSync(join(dir, "chunks")), ["c1_v1.chunk"]);
  t.deepEqual(readdirSync(join(dir, "tmp")), []);
});

test("a read range crossing block boundaries returns exactly that range", async (t) => {
  const store = await newStore([tempDir(t)]);
  const data = randomBytes(BLOCK * 5);
  await put(store, "c2", data);
  const r = await store.read("c2", undefined, BLOCK - 10, BLOCK + 20);
  t.true(r.data.equals(data.subarray(BLOCK - 10, BLOCK * 2 + 10)));
  t.is(r.sizeBytes, data.length);
  // A read past the end is clamped; one starting past the end is refused.
  t.is((await store.read("c2", 1, data.length - 5, 100)).data.length, 5);
  await t.throwsAsync(store.read("c2", 1, data.length + 1, 1), { message: /outside/ });
  await t.throwsAsync(store.read("c2", 2, 0, 1), { message: /not stored/ });
});

test("a flipped byte on disk makes the read fail with CHECKSUM and the replica leaves service", async (t) => {
  const dir = tempDir(t);
  const corrupted: string[] = [];
  const store = await newStore([dir], { onCorrupt: (c) => corrupted.push(c.chunkId) });
  const data = randomBytes(BLOCK * 3);
  await put(store, "c3", data);
  const path = join(dir, "chunks", "c3_v1.chunk");
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.from([data[BLOCK * 2 + 5] ^ 0xff]), 0, 1, BLOCK * 2 + 5);
  closeSync(fd);
  // Block 0 is intact and still verifies.
  t.true((await store.read("c3", 1, 0, 100)).data.equals(data.subarray(0, 100)));
  await t.throwsAsync(store.read("c3", 1, BLOCK * 2, 10), { message: /block 2/ });
  t.deepEqual(corrupted, ["c3"]);
  await t.throwsAsync(store.read("c3", 1, 0, 10), { message: /not stored/ });
  t.deepEqual(readdirSync(join(dir, "corrupt")), ["c3_v1.chunk"]);
});

test("a read error after corruption carries code CHECKSUM", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  const data = randomBytes(BLOCK * 2);
  await put(store, "c4", data);
  const path = join(dir, "chunks", "c4_v1.chunk");
  const bytes = readFileSync(path);
  bytes[3] ^= 1;
  writeFileSync(path, bytes);
  const err = await t.throwsAsync(store.read("c4", 1, 0, 10));
  t.is((err as { code?: string }).code, "CHECKSUM");
});

test("abort removes the temp file and leaves nothing behind", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  const w = await store.openWrite("c5", 1, 1 << 20);
  await w.write(0, randomBytes(1000));
  t.is(readdirSync(join(dir, "tmp")).length, 1);
  await w.abort();
  t.deepEqual(readdirSync(join(dir, "tmp")), []);
  t.deepEqual(readdirSync(join(dir, "chunks")), []);
  await t.throwsAsync(w.write(1000, Buffer.alloc(1)));
  // The same chunk can be opened again after an abort.
  const again = await store.openWrite("c5", 1, 10);
  await again.abort();
});

test("gaps, overlaps and oversize frames are rejected with typed errors", async (t) => {
  const store = await newStore([tempDir(t)]);
  const w = await store.openWrite("c6", 1, 100);
  await w.write(0, Buffer.alloc(50));
  const gap = await t.throwsAsync(w.write(60, Buffer.alloc(10)), { message: /gap/ });
  t.is((gap as { code?: string }).code, "BAD_REQUEST");
  await t.throwsAsync(w.write(40, Buffer.alloc(10)), { message: /overlaps/ });
  const big = await t.throwsAsync(w.write(50, Buffer.alloc(51)), { message: /limit of 100/ });
  t.is((big as { code?: string }).code, "TOO_LARGE");
  // The writer is still usable after a rejected frame.
  await w.write(50, Buffer.alloc(50));
  const r = await w.close(100, chunkChecksum(crc32(Buffer.alloc(100))));
  t.is(r.sizeBytes, 100);
});

test("close with a wrong length or checksum fails and commits nothing", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  const data = randomBytes(5000);
  const w1 = await store.openWrite("c7", 1, 10_000);
  await w1.write(0, data);
  const e1 = await t.throwsAsync(w1.close(5001, chunkChecksum(crc32(data))));
  t.is((e1 as { code?: string }).code, "CHECKSUM");
  const w2 = await store.openWrite("c7", 1, 10_000);
  await w2.write(0, data);
  await t.throwsAsync(w2.close(5000, "crc32:00000000"), { message: /checksum/ });
  t.deepEqual(readdirSync(join(dir, "chunks")), []);
  t.deepEqual(readdirSync(join(dir, "tmp")), []);
  t.is(store.chunkCount, 0);
});

test("a committed chunk cannot be written again at the same version", async (t) => {
  const store = await newStore([tempDir(t)]);
  await put(store, "c8", randomBytes(10));
  const err = await t.throwsAsync(store.openWrite("c8", 1, 10));
  t.is((err as { code?: string }).code, "EXISTS");
});

test("scan finds committed chunks, removes temp files and quarantines corrupt or truncated ones", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  const a = randomBytes(BLOCK * 2 + 1);
  const b = randomBytes(10);
  const c = randomBytes(BLOCK * 3);
  await put(store, "a", a);
  await put(store, "b", b, 10, 4);
  await put(store, "c", c);
  const d = await store.openWrite("d", 1, 100);
  await d.write(0, Buffer.alloc(10)); // left open as if the process crashed
  writeFileSync(join(dir, "chunks", "junk.txt"), "x");
  truncateSync(join(dir, "chunks", "c_v1.chunk"), statSync(join(dir, "chunks", "c_v1.chunk")).size - 3);
  symlinkSync("/etc/passwd", join(dir, "chunks", "e_v1.chunk"));

  const fresh = await newStore([dir]);
  const found = fresh.list().map((x) => `${x.chunkId}:${x.version}:${x.sizeBytes}:${x.checksum}`).sort();
  t.deepEqual(found, [`a:1:${a.length}:${chunkChecksum(crc32(a))}`, `b:4:10:${chunkChecksum(crc32(b))}`]);
  t.deepEqual(readdirSync(join(dir, "tmp")), []);
  t.deepEqual(readdirSync(join(dir, "corrupt")), ["c_v1.chunk"]);
  t.true((await fresh.read("a", undefined, 0, a.length)).data.equals(a));
  t.true((await fresh.read("b", undefined, 0, 10)).data.equals(b));
});

test("delete removes the file and the index entry", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  await put(store, "del", randomBytes(100));
  t.true(await store.delete("del", 1));
  t.false(await store.delete("del", 1));
  t.deepEqual(readdirSync(join(dir, "chunks")), []);
  await t.throwsAsync(store.read("del", 1, 0, 1), { message: /not stored/ });
});

test("usage counts chunk file bytes and each file system once", async (t) => {
  const d1 = tempDir(t);
  const d2 = tempDir(t);
  const store = await newStore([d1, d2]);
  await put(store, "u", randomBytes(BLOCK));
  const u = await store.usage();
  t.is(u.usedBytes, BLOCK + 4 + 40);
  t.is(u.dirs.length, 2);
  // Both dirs live on the same file system, so capacity is not doubled.
  t.is(u.capacityBytes, u.dirs[0].capacityBytes);
  t.true(u.availableBytes > 0);
});

test("a new chunk goes to the data dir with the most available space", async (t) => {
  const d1 = tempDir(t);
  const d2 = tempDir(t);
  const free: Record<string, number> = { [d1]: 1e6, [d2]: 5e6 };
  const store = await newStore([d1, d2], {
    statfs: async (dir) => ({ capacityBytes: 1e7, availableBytes: free[dir], device: dir === d1 ? 1 : 2 }),
  });
  await put(store, "p1", randomBytes(10));
  t.deepEqual(readdirSync(join(d2, "chunks")), ["p1_v1.chunk"]);
  free[d1] = 9e6;
  await put(store, "p2", randomBytes(10));
  t.deepEqual(readdirSync(join(d1, "chunks")), ["p2_v1.chunk"]);
  free[d1] = free[d2] = 100;
  const err = await t.throwsAsync(store.openWrite("p3", 1, 1000));
  t.is((err as { code?: string }).code, "NO_SPACE");
});


(canMountTmpfs() ? test : test.skip)("a full disk during a write gives NO_SPACE and removes the temp file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir]);
  t.teardown(() => {
    execFileSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  // statfs lies about free space so the write starts and then meets the real ENOSPC.
  const store = await newStore([dir], { statfs: async () => ({ capacityBytes: 1e9, availableBytes: 1e9, device: 1 }) });
  const w = await store.openWrite("full", 1, 8 << 20);
  const frame = randomBytes(256 * 1024);
  let err: unknown;
  try {
    for (let at = 0; at < 8 << 20; at += frame.length) await w.write(at, frame);
  } catch (e) {
    err = e;
  }
  t.is((err as { code?: string })?.code, "NO_SPACE");
  t.deepEqual(readdirSync(join(dir, "tmp")), []);
  await t.throwsAsync(w.close(0, "crc32:00000000"), { message: /ENOSPC|space/i });
  t.is(store.chunkCount, 0);
});
