import test from "ava";
import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkStore, type StoreOptions } from "../../actors/datanode/store.js";
import { AppendStore, SimulatedCrash, type AppendChange, type AppendCrashPoint } from "../../actors/datanode/append-store.js";
import { createLogger } from "../../actors/logger.js";
import { chunkChecksum } from "../../messages/index.js";

const BLOCK = 4096;
const log = createLogger("datanode", "test", "silent");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const code = (e: unknown) => (e as { code?: string } | undefined)?.code;

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-append-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Opened {
  store: ChunkStore;
  appends: AppendStore;
  changes: AppendChange[];
  corrupt: string[];
}

async function open(dir: string, extra: { store?: Partial<StoreOptions>; crashAt?: (p: AppendCrashPoint) => boolean } = {}): Promise<Opened> {
  const corrupt: string[] = [];
  const store = new ChunkStore({
    dirs: [dir],
    blockSizeBytes: BLOCK,
    reserveBytes: 0,
    readMaxBytes: 1 << 20,
    log,
    onCorrupt: (c, reason) => corrupt.push(`${c.chunkId}: ${reason}`),
    ...extra.store,
  });
  await store.init();
  await store.scan();
  const changes: AppendChange[] = [];
  const appends = new AppendStore({ store, log, onChange: (c) => changes.push(c), crashAt: extra.crashAt });
  return { store, appends, changes, corrupt };
}

async function put(store: ChunkStore, id: string, data: Buffer, version = 1) {
  const w = await store.openWrite(id, version, data.length);
  for (let at = 0; at < data.length; at += 10_000) await w.write(at, data.subarray(at, at + 10_000));
  return w.close(data.length, chunkChecksum(crc32(data)));
}

async function readAll(store: ChunkStore, id: string, version?: number): Promise<Buffer> {
  const c = store.get(id, version);
  if (!c) throw new Error(`${id} not held`);
  const parts: Buffer[] = [];
  for (let at = 0; at < c.sizeBytes; at += 7000) parts.push((await store.read(id, c.version, at, 7000)).data);
  return Buffer.concat(parts);
}

async function verifyAll(store: ChunkStore, id: string): Promise<Buffer> {
  const c = store.get(id);
  if (!c) throw new Error(`${id} not held`);
  const parts: Buffer[] = [];
  for await (const s of store.readVerified(c, 3 * BLOCK)) parts.push(Buffer.from(s));
  return Buffer.concat(parts);
}

/** The bytes of a chunk file that the ordinary write path produces for `data` at `version`. */
async function referenceFile(t: { teardown(fn: () => void): void }, data: Buffer, version: number): Promise<Buffer> {
  const dir = tempDir(t);
  const { store } = await open(dir);
  await put(store, "ref", data, version);
  return readFileSync(join(dir, "chunks", `ref_v${version}.chunk`));
}

const fileOf = (dir: string, id: string, version: number) => readFileSync(join(dir, "chunks", `${id}_v${version}.chunk`));

test("appends after a put-written chunk read back, and the file is what a put of all the bytes writes", async (t) => {
  const dir = tempDir(t);
  const { store, appends, changes } = await open(dir);
  let data = randomBytes(BLOCK * 3 + 100);
  await put(store, "a1", data);
  // Sizes that end inside a block, exactly on a block boundary, span many blocks, and nothing.
  for (const n of [1, BLOCK - 101, BLOCK, 3 * BLOCK + 17, 0, 5]) {
    const piece = randomBytes(n);
    const r = await appends.appendAt({ chunkId: "a1", version: 1, epoch: 1, offset: data.length, crcBefore: crc32(data), data: piece });
    data = Buffer.concat([data, piece]);
    t.deepEqual(r, { sizeBytes: data.length, crc: crc32(data) >>> 0 });
  }
  t.is(sha(await readAll(store, "a1")), sha(data));
  t.is(sha(await verifyAll(store, "a1")), sha(data));
  const c = store.get("a1", 1);
  t.is(c?.sizeBytes, data.length);
  t.is(c?.checksum, chunkChecksum(crc32(data)));
  t.true(fileOf(dir, "a1", 1).equals(await referenceFile(t, data, 1)));
  // Size-only changes are not reported (the namenode's log has the sizes); only renames are.
  t.deepEqual(changes, []);
  t.deepEqual(readdirSync(join(dir, "append")).filter((f) => f.endsWith(".journal")), []);
  // A restart finds the grown chunk intact.
  const again = await open(dir);
  t.is(again.store.get("a1", 1)?.sizeBytes, data.length);
  t.is(sha(await readAll(again.store, "a1")), sha(data));
});

test("a lower epoch than one seen is refused, also after the store is reopened", async (t) => {
  const dir = tempDir(t);
  const { store, appends } = await open(dir);
  let data = randomBytes(1000);
  await put(store, "e1", data);
  const more = randomBytes(10);
  await appends.appendAt({ chunkId: "e1", version: 1, epoch: 5, offset: data.length, crcBefore: crc32(data), data: more });
  data = Buffer.concat([data, more]);
  const stale = await t.throwsAsync(appends.appendAt({ chunkId: "e1", version: 1, epoch: 4, offset: data.length, crcBefore: crc32(data), data: more }));
  t.is(code(stale), "STALE");
  const again = await open(dir);
  const stillStale = await t.throwsAsync(again.appends.appendAt({ chunkId: "e1", version: 1, epoch: 4, offset: data.length, crcBefore: crc32(data), data: more }));
  t.is(code(stillStale), "STALE");
  t.regex((stillStale as Error).message, /epoch 5/);
  const r = await again.appends.appendAt({ chunkId: "e1", version: 1, epoch: 6, offset: data.length, crcBefore: crc32(data), data: more });
  t.is(r.sizeBytes, data.length + more.length);
  t.is(await again.appends.highestEpoch("e1", dir), 6);
  // The fence goes with the chunk.
  await again.store.delete("e1", 1);
  t.false(existsSync(join(dir, "append", "e1.epoch")));
});

test("a higher version renames the copy; a lower one is refused", async (t) => {
  const dir = tempDir(t);
  const { store, appends, changes } = await open(dir);
  let data = randomBytes(BLOCK + 5);
  await put(store, "v1c", data);
  const more = randomBytes(300);
  await appends.appendAt({ chunkId: "v1c", version: 3, epoch: 1, offset: data.length, crcBefore: crc32(data), data: more });
  data = Buffer.concat([data, more]);
  t.deepEqual(readdirSync(join(dir, "chunks")), ["v1c_v3.chunk"]);
  t.is(store.get("v1c", 1), undefined);
  t.is(store.get("v1c", 3)?.sizeBytes, data.length);
  t.deepEqual(changes.at(-1)?.removed, [{ chunkId: "v1c", version: 1 }]);
  t.is(changes.at(-1)?.stored?.version, 3);
  t.true(fileOf(dir, "v1c", 3).equals(await referenceFile(t, data, 3)));
  const lower = await t.throwsAsync(appends.appendAt({ chunkId: "v1c", version: 2, epoch: 1, offset: data.length, crcBefore: crc32(data), data: more }));
  t.is(code(lower), "STALE");
  // A version bump alone (no bytes) renames too.
  await appends.appendAt({ chunkId: "v1c", version: 4, epoch: 1, offset: data.length, crcBefore: crc32(data), data: Buffer.alloc(0) });
  t.deepEqual(readdirSync(join(dir, "chunks")), ["v1c_v4.chunk"]);
  const again = await open(dir);
  t.is(sha(await readAll(again.store, "v1c", 4)), sha(data));
});

test("an append at an offset inside the copy cuts the uncommitted tail first", async (t) => {
  const dir = tempDir(t);
  const { store, appends, corrupt } = await open(dir);
  const base = randomBytes(BLOCK * 2 + 777);
  await put(store, "t1", base);
  const tail = randomBytes(BLOCK * 2);
  await appends.appendAt({ chunkId: "t1", version: 1, epoch: 1, offset: base.length, crcBefore: crc32(base), data: tail });
  // The batch holding `tail` was never committed; the next one starts at the committed length.
  const next = randomBytes(100);
  const r = await appends.appendAt({ chunkId: "t1", version: 1, epoch: 1, offset: base.length, crcBefore: crc32(base), data: next });
  const want = Buffer.concat([base, next]);
  t.deepEqual(r, { sizeBytes: want.length, crc: crc32(want) >>> 0 });
  t.is(sha(await readAll(store, "t1")), sha(want));
  t.true(fileOf(dir, "t1", 1).equals(await referenceFile(t, want, 1)));
  // Cutting back inside a block and at a block boundary, both to a shorter file.
  for (const cut of [BLOCK + 3, BLOCK]) {
    const prefix = want.subarray(0, cut);
    const piece = randomBytes(10);
    await appends.appendAt({ chunkId: "t1", version: 1, epoch: 1, offset: cut, crcBefore: crc32(prefix), data: piece });
    const now = Buffer.concat([prefix, piece]);
    t.is(sha(await verifyAll(store, "t1")), sha(now));
    t.true(fileOf(dir, "t1", 1).equals(await referenceFile(t, now, 1)));
  }
  t.deepEqual(corrupt, []);
});

test("a crcBefore that does not match the bytes here is refused and the copy stays as it was", async (t) => {
  const dir = tempDir(t);
  const { store, appends, corrupt } = await open(dir);
  const data = randomBytes(5000);
  await put(store, "k1", data);
  const before = fileOf(dir, "k1", 1);
  const wrong = await t.throwsAsync(appends.appendAt({ chunkId: "k1", version: 1, epoch: 1, offset: data.length, crcBefore: (crc32(data) ^ 1) >>> 0, data: randomBytes(9) }));
  t.is(code(wrong), "CHECKSUM");
  const wrongInside = await t.throwsAsync(appends.appendAt({ chunkId: "k1", version: 1, epoch: 1, offset: 100, crcBefore: crc32(data.subarray(0, 99)), data: randomBytes(9) }));
  t.is(code(wrongInside), "CHECKSUM");
  const behind = await t.throwsAsync(appends.appendAt({ chunkId: "k1", version: 1, epoch: 1, offset: data.length + 1, crcBefore: 0, data: randomBytes(9) }));
  t.is(code(behind), "STALE");
  const missing = await t.throwsAsync(appends.appendAt({ chunkId: "nope", version: 1, epoch: 1, offset: 0, crcBefore: 0, data: randomBytes(9) }));
  t.is(code(missing), "NOT_FOUND");
  t.true(fileOf(dir, "k1", 1).equals(before));
  t.is(store.get("k1", 1)?.sizeBytes, data.length);
  t.deepEqual(corrupt, []);
});

/** Appends `piece` and stops dead at `point`; returns the file bytes from before. */
async function crashDuringAppend(dir: string, id: string, data: Buffer, piece: Buffer, point: AppendCrashPoint, version = 1, newVersion = version) {
  const { store } = await open(dir);
  await put(store, id, data, version);
  const before = fileOf(dir, id, version);
  const crashing = await open(dir, { crashAt: (p) => p === point });
  await crashingAppend(crashing.appends, { chunkId: id, version: newVersion, epoch: 1, offset: data.length, crcBefore: crc32(data), data: piece });
  return before;
}

async function crashingAppend(appends: AppendStore, a: Parameters<AppendStore["appendAt"]>[0]): Promise<void> {
  try {
    await appends.appendAt(a);
  } catch (e) {
    if (e instanceof SimulatedCrash) return;
    throw e;
  }
  throw new Error("the append did not reach its crash point");
}

test("a crash after the data overwrote the footer is rolled back from the journal at the next start", async (t) => {
  const dir = tempDir(t);
  const data = randomBytes(BLOCK * 4 + 10);
  const before = await crashDuringAppend(dir, "j1", data, randomBytes(BLOCK * 2), "after-data");
  t.true(existsSync(join(dir, "append", "j1.journal")));
  t.false(fileOf(dir, "j1", 1).equals(before));
  const { store, corrupt } = await open(dir);
  t.true(fileOf(dir, "j1", 1).equals(before));
  t.is(store.get("j1", 1)?.sizeBytes, data.length);
  t.is(sha(await verifyAll(store, "j1")), sha(data));
  t.false(existsSync(join(dir, "append", "j1.journal")));
  t.deepEqual(corrupt, []);
});

test("a crash that left the old footer valid over a half-written CRC table is rolled back too", async (t) => {
  // The data lands where the old CRC table was; the old footer still parses and matches the file
  // size, so "the footer is valid" alone would wrongly keep a copy whose table no longer matches.
  const dir = tempDir(t);
  const data = randomBytes(BLOCK * 8);
  const before = await crashDuringAppend(dir, "j2", data, randomBytes(8), "after-data");
  const { store, corrupt } = await open(dir);
  t.true(fileOf(dir, "j2", 1).equals(before));
  t.is(sha(await verifyAll(store, "j2")), sha(data));
  t.deepEqual(corrupt, []);
});

test("a crash after the new trailer is complete keeps the append, and finishes a version rename", async (t) => {
  const dir = tempDir(t);
  const data = randomBytes(BLOCK + 1);
  const piece = randomBytes(BLOCK);
  await crashDuringAppend(dir, "j3", data, piece, "after-trailer");
  const { store } = await open(dir);
  const want = Buffer.concat([data, piece]);
  t.is(sha(await verifyAll(store, "j3")), sha(want));

  const dir2 = tempDir(t);
  await crashDuringAppend(dir2, "j4", data, piece, "before-rename", 1, 2);
  t.deepEqual(readdirSync(join(dir2, "chunks")), ["j4_v1.chunk"]);
  const reopened = await open(dir2);
  t.deepEqual(readdirSync(join(dir2, "chunks")), ["j4_v2.chunk"]);
  t.is(sha(await readAll(reopened.store, "j4", 2)), sha(want));

  // Right after the journal, nothing was touched: the copy is as before.
  const dir3 = tempDir(t);
  const before = await crashDuringAppend(dir3, "j5", data, piece, "after-journal", 1, 2);
  await open(dir3);
  t.deepEqual(readdirSync(join(dir3, "chunks")), ["j5_v1.chunk"]);
  t.true(fileOf(dir3, "j5", 1).equals(before));
});

test("an append without the free space it needs fails with NO_SPACE and changes nothing", async (t) => {
  const dir = tempDir(t);
  let available = 1 << 30;
  const { store, appends } = await open(dir, { store: { statfs: async () => ({ capacityBytes: 1 << 30, availableBytes: available, device: 1 }) } });
  const data = randomBytes(3000);
  await put(store, "s1", data);
  const before = fileOf(dir, "s1", 1);
  available = 100;
  const err = await t.throwsAsync(appends.appendAt({ chunkId: "s1", version: 1, epoch: 1, offset: data.length, crcBefore: crc32(data), data: randomBytes(5000) }));
  t.is(code(err), "NO_SPACE");
  t.true(fileOf(dir, "s1", 1).equals(before));
});

test("reads and verifying passes running during appends never see a half-written trailer", async (t) => {
  const dir = tempDir(t);
  const { store, appends, corrupt } = await open(dir);
  let data = randomBytes(BLOCK * 5 + 3);
  await put(store, "r1", data);
  let done = false;
  const failures: string[] = [];
  const readers = [0, 1, 2].map(async (k) => {
    let reads = 0;
    while (!done || reads < 5) {
      try {
        const c = store.get("r1")!;
        if (k === 2) {
          // A scrub-like pass over whatever entry was current when it started.
          for await (const _ of store.readVerified(c, BLOCK)) void _;
        } else {
          const len = Math.min(c.sizeBytes, 3 * BLOCK);
          const r = await store.read("r1", c.version, c.sizeBytes - len, len);
          if (r.data.length !== len) failures.push(`short read ${r.data.length} of ${len}`);
        }
      } catch (e) {
        // A verifying pass over a copy whose tail was cut meanwhile is asked to read again.
        if (!(k === 2 && code(e) === "UNAVAILABLE")) failures.push(`${code(e)}: ${(e as Error).message}`);
      }
      reads++;
      await new Promise((r) => setImmediate(r));
    }
  });
  for (let i = 0; i < 60; i++) {
    const piece = randomBytes(1 + ((i * 997) % (2 * BLOCK)));
    // Every fifth batch cuts back into the previous one's bytes, like a retried uncommitted batch.
    const offset = i % 5 === 4 ? data.length - 50 : data.length;
    const prefix = data.subarray(0, offset);
    await appends.appendAt({ chunkId: "r1", version: 1, epoch: 1, offset, crcBefore: crc32(prefix), data: piece });
    data = Buffer.concat([prefix, piece]);
  }
  done = true;
  await Promise.all(readers);
  t.deepEqual(failures, []);
  t.deepEqual(corrupt, []);
  t.is(sha(await verifyAll(store, "r1")), sha(data));
  t.is(store.locks.size, 0);
});
