import test from "ava";
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { mkdtempSync, readdirSync, rmSync, openSync, readSync, writeSync, closeSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkStore } from "../../actors/datanode/store.js";
import { Reporter } from "../../actors/datanode/reports.js";
import { createLogger } from "../../actors/logger.js";
import { chunkChecksum, decode, encode, subjects } from "../../messages/index.js";

const BLOCK = 4096;
const log = createLogger("datanode", "test", "silent");

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-corrupt-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function newStore(dir: string): Promise<ChunkStore> {
  const store = new ChunkStore({ dirs: [dir], blockSizeBytes: BLOCK, reserveBytes: 0, readMaxBytes: 1 << 20, log });
  await store.init();
  await store.scan();
  return store;
}

async function put(store: ChunkStore, id: string, data: Buffer): Promise<void> {
  const w = await store.openWrite(id, 1, data.length);
  await w.write(0, data);
  await w.close(data.length, chunkChecksum(crc32(data)));
}

function flipByte(path: string, at: number): void {
  const fd = openSync(path, "r+");
  const old = Buffer.alloc(1);
  readSync(fd, old, 0, 1, at);
  writeSync(fd, Buffer.from([old[0] ^ 0xff]), 0, 1, at);
  closeSync(fd);
}

/** A NATS connection stand-in that answers every request ok and records the decoded bodies. */
function fakeNc() {
  const sent: Record<string, unknown>[] = [];
  const nc = {
    request: async (_subject: string, data: Uint8Array) => {
      sent.push(decode(data).value as Record<string, unknown>);
      return { data: encode({ ok: true }), headers: undefined };
    },
  };
  return { nc, sent };
}

test("a corrupt replica is kept aside, listed after a restart, and removed by deleteCorrupt", async (t) => {
  const dir = tempDir(t);
  const store = await newStore(dir);
  const data = randomBytes(BLOCK * 2);
  await put(store, "k", data);
  flipByte(join(dir, "chunks", "k_v1.chunk"), 10);
  await t.throwsAsync(store.read("k", 1, 0, 100), { message: /block 0/ });
  t.deepEqual(store.listCorrupt().map((c) => [c.chunkId, c.version]), [["k", 1]]);
  t.truthy(store.getCorrupt("k", 1));

  const again = await newStore(dir);
  t.is(again.chunkCount, 0);
  t.deepEqual(again.listCorrupt().map((c) => [c.chunkId, c.version, c.dir]), [["k", 1, dir]]);
  // Deleting the good copy (there is none) leaves the corrupt one; deleteCorrupt removes it.
  t.false(await again.delete("k", 1));
  t.deepEqual(readdirSync(join(dir, "corrupt")), ["k_v1.chunk"]);
  t.true(await again.deleteCorrupt("k", 1));
  t.false(await again.deleteCorrupt("k", 1));
  t.deepEqual(readdirSync(join(dir, "corrupt")), []);
  t.deepEqual(again.listCorrupt(), []);
});

test("a replica whose file vanished from a healthy dir is reported corrupt", async (t) => {
  const dir = tempDir(t);
  const seen: string[] = [];
  const store = new ChunkStore({ dirs: [dir], blockSizeBytes: BLOCK, reserveBytes: 0, readMaxBytes: 1 << 20, log, onCorrupt: (c, r) => seen.push(`${c.chunkId}:${r}`) });
  await store.init();
  await store.scan();
  await put(store, "gone", randomBytes(100));
  unlinkSync(join(dir, "chunks", "gone_v1.chunk"));
  const err = await t.throwsAsync(store.read("gone", 1, 0, 10));
  t.is((err as { code?: string }).code, "CHECKSUM");
  t.deepEqual(seen, ["gone:chunk file is missing"]);
  // Deleting a kept-aside record whose file is already gone still succeeds.
  t.true(await store.deleteCorrupt("gone", 1));
});

test("the reporter sends corrupt replicas in deltas and in every full report", async (t) => {
  const { nc, sent } = fakeNc();
  const corrupt = [{ id: "bad1", version: 2, reason: "block 3 does not match its CRC" }];
  const reporter = new Reporter({
    id: "dn9",
    nc: nc as never,
    subj: subjects("woods"),
    log,
    pageMaxChunks: 2,
    requestTimeoutMs: 1000,
    snapshot: () => [
      { id: "g1", version: 1, sizeBytes: 10 },
      { id: "g2", version: 1, sizeBytes: 10 },
      { id: "g3", version: 1, sizeBytes: 10 },
    ],
    corruptSnapshot: () => corrupt,
    newReportId: () => "r1",
  });
  t.true(await reporter.full());
  t.is(sent.length, 2);
  t.deepEqual(sent[0].corrupt, corrupt);
  t.is(sent[1].corrupt, undefined);
  t.deepEqual(sent.map((s) => (s.chunks as unknown[]).length), [2, 1]);
  sent.length = 0;
  await reporter.delta([], [{ id: "bad9", version: 1 }], [{ id: "bad9", version: 1, reason: "scrub" }]);
  t.deepEqual(sent, [
    { id: "dn9", full: false, reportId: "r1", page: 0, last: true, chunks: [], removed: [{ id: "bad9", version: 1 }], corrupt: [{ id: "bad9", version: 1, reason: "scrub" }] },
  ]);
  // A plain delta carries no corrupt field at all (older namenodes ignore it anyway).
  sent.length = 0;
  await reporter.delta([{ id: "n", version: 1, sizeBytes: 1 }], []);
  t.false("corrupt" in sent[0]);
});
