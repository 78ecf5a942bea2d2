import test from "ava";
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { mkdtempSync, readdirSync, rmSync, openSync, writeSync, closeSync, readFileSync, writeFileSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkStore, type StoreOptions } from "../../actors/datanode/store.js";
import { Scrubber, scrubDelayMs, scrubSliceBytes } from "../../actors/datanode/scrubber.js";
import { createLogger } from "../../actors/logger.js";
import { chunkChecksum } from "../../messages/index.js";

const BLOCK = 4096;
const log = createLogger("datanode", "test", "silent");

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-scrub-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function newStore(dirs: string[], extra: Partial<StoreOptions> = {}): Promise<ChunkStore> {
  const store = new ChunkStore({ dirs, blockSizeBytes: BLOCK, reserveBytes: 0, readMaxBytes: 1 << 20, log, ...extra });
  await store.init();
  await store.scan();
  return store;
}

async function put(store: ChunkStore, id: string, data: Buffer): Promise<void> {
  const w = await store.openWrite(id, 1, data.length);
  for (let at = 0; at < data.length; at += 50_000) await w.write(at, data.subarray(at, at + 50_000));
  await w.close(data.length, chunkChecksum(crc32(data)));
}

/** A virtual clock: sleeping advances it, nothing really waits. */
function virtualTime() {
  let nowMs = 0;
  const sleeps: number[] = [];
  return {
    now: () => nowMs,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      nowMs += ms;
    },
    sleeps,
  };
}

function scrubberFor(store: ChunkStore, bytesPerSecond: number, extra: Partial<ConstructorParameters<typeof Scrubber>[0]> = {}) {
  const clock = virtualTime();
  const scrubber = new Scrubber({
    store,
    log,
    bytesPerSecond,
    intervalMs: 60_000,
    maxSliceBytes: 64 * 1024,
    blockSizeBytes: BLOCK,
    now: clock.now,
    sleep: clock.sleep,
    ...extra,
  });
  return { scrubber, clock };
}

test("the pacing waits just long enough to stay within the rate", (t) => {
  t.is(scrubDelayMs(1_000_000, 0, 1_000_000), 1000);
  t.is(scrubDelayMs(1_000_000, 400, 1_000_000), 600);
  t.is(scrubDelayMs(1_000_000, 1500, 1_000_000), 0);
  t.is(scrubDelayMs(123, 0, 0), 0);
  t.is(scrubSliceBytes(16 << 20, 1 << 20, BLOCK), 1 << 20);
  t.is(scrubSliceBytes(400_000, 1 << 20, BLOCK), 100_000);
  t.is(scrubSliceBytes(100, 1 << 20, BLOCK), BLOCK);
});

test("a scrub pass finds a flipped byte, takes that replica out of service and leaves the good ones", async (t) => {
  const dir = tempDir(t);
  const corrupted: string[] = [];
  const store = await newStore([dir], { onCorrupt: (c, reason) => corrupted.push(`${c.chunkId}:${reason}`) });
  const data = [randomBytes(BLOCK * 10 + 7), randomBytes(BLOCK * 3), randomBytes(100)];
  for (const [i, d] of data.entries()) await put(store, `s${i}`, d);
  const fd = openSync(join(dir, "chunks", "s0_v1.chunk"), "r+");
  writeSync(fd, Buffer.from([data[0][BLOCK * 7 + 3] ^ 0x01]), 0, 1, BLOCK * 7 + 3);
  closeSync(fd);

  const { scrubber } = scrubberFor(store, 1 << 30);
  const r = await scrubber.runPass();
  t.is(r.corrupt, 1);
  t.is(r.chunks, 2);
  t.is(corrupted.length, 1);
  t.regex(corrupted[0], /^s0:.*block 7/);
  t.is(store.get("s0", 1), undefined);
  t.deepEqual(store.listCorrupt().map((c) => `${c.chunkId}:${c.version}`), ["s0:1"]);
  t.deepEqual(readdirSync(join(dir, "corrupt")), ["s0_v1.chunk"]);
  t.deepEqual(readdirSync(join(dir, "chunks")).sort(), ["s1_v1.chunk", "s2_v1.chunk"]);
  // A second pass finds nothing more.
  const again = await scrubber.runPass();
  t.deepEqual([again.chunks, again.corrupt], [2, 0]);
});

test("a scrub pass catches swapped blocks whose CRC table was swapped too (whole-chunk CRC) and a truncated file", async (t) => {
  const dir = tempDir(t);
  const store = await newStore([dir]);
  const a = randomBytes(BLOCK * 4);
  const b = randomBytes(BLOCK * 4);
  await put(store, "swap", a);
  await put(store, "trunc", b);
  // Swap blocks 0 and 1 and their table entries: every block still matches its CRC.
  const path = join(dir, "chunks", "swap_v1.chunk");
  const bytes = readFileSync(path);
  const blk0 = Buffer.from(bytes.subarray(0, BLOCK));
  bytes.copy(bytes, 0, BLOCK, 2 * BLOCK);
  blk0.copy(bytes, BLOCK);
  const t0 = bytes.readUInt32LE(a.length);
  bytes.writeUInt32LE(bytes.readUInt32LE(a.length + 4), a.length);
  bytes.writeUInt32LE(t0, a.length + 4);
  writeFileSync(path, bytes);
  // The block-level read still verifies; only the whole-chunk CRC can tell.
  t.true((await store.read("swap", 1, 0, 10)).data.equals(a.subarray(BLOCK, BLOCK + 10)));
  const tp = join(dir, "chunks", "trunc_v1.chunk");
  truncateSync(tp, statSync(tp).size - 1);

  const r = await scrubberFor(store, 1 << 30).scrubber.runPass();
  t.is(r.corrupt, 2);
  t.is(store.chunkCount, 0);
  t.deepEqual(store.listCorrupt().map((c) => c.chunkId).sort(), ["swap", "trunc"]);
  t.regex(store.listCorrupt().find((c) => c.chunkId === "swap")!.reason, /footer says/);
});

test("a scrub pass keeps to the configured rate (virtual clock)", async (t) => {
  const store = await newStore([tempDir(t)]);
  const total = 1 << 20; // 1 MiB over 4 chunks
  for (let i = 0; i < 4; i++) await put(store, `r${i}`, randomBytes(total / 4));
  const rate = 256 * 1024; // 256 KiB/s → ~4 s for 1 MiB
  const { scrubber, clock } = scrubberFor(store, rate);
  const r = await scrubber.runPass();
  t.is(r.bytes, total);
  t.is(r.chunks, 4);
  // Reading 1 MiB at 256 KiB/s takes 4 s of (virtual) time, in many small waits.
  t.true(r.elapsedMs >= 3900 && r.elapsedMs <= 4100, `elapsed ${r.elapsedMs} ms`);
  t.true(clock.sleeps.length >= 8, `${clock.sleeps.length} sleeps`);
  t.true(Math.max(...clock.sleeps) <= 1000 / 4 + 1, "no single wait longer than one slice's budget");
});

test("a scrubber with rate 0 never runs a pass; with a rate it runs one shortly after start", async (t) => {
  const store = await newStore([tempDir(t)]);
  let lists = 0;
  const counting = { list: () => (lists++, store.list()), get: store.get.bind(store), readVerified: store.readVerified.bind(store) };
  const off = new Scrubber({ store: counting, log, bytesPerSecond: 0, intervalMs: 5, maxSliceBytes: 65536, blockSizeBytes: BLOCK });
  off.start();
  await new Promise((r) => setTimeout(r, 100));
  await off.stop();
  t.is(lists, 0);
  const on = new Scrubber({ store: counting, log, bytesPerSecond: 1 << 20, intervalMs: 5, maxSliceBytes: 65536, blockSizeBytes: BLOCK });
  on.start();
  await new Promise((r) => setTimeout(r, 100));
  await on.stop();
  t.true(lists >= 2, `${lists} passes`);
});

test("stopping the scrubber interrupts a slow pass", async (t) => {
  const store = await newStore([tempDir(t)]);
  await put(store, "slow", randomBytes(BLOCK * 64));
  const s = new Scrubber({ store, log, bytesPerSecond: BLOCK, intervalMs: 1, maxSliceBytes: 65536, blockSizeBytes: BLOCK });
  s.start();
  await new Promise((r) => setTimeout(r, 50));
  const began = Date.now();
  await s.stop();
  t.true(Date.now() - began < 1000);
  // The interrupted pass did not mistake the stop for corruption.
  t.truthy(store.get("slow", 1));
});
