/**
 * Disk rot: a flipped byte, a truncated chunk file, a damaged or swapped checksum trailer.
 * A bad replica is never served (not even by a direct read of that datanode), fsck counts
 * it, it is re-replicated from a good copy and fsck comes back to healthy. When every
 * replica is bad, `woods get` fails fast and clearly, leaving no output file.
 */
import test, { type ExecutionContext } from "ava";
import { openSync, writeSync, readSync, closeSync, statSync, truncateSync, existsSync, readdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, FAST_FAULT_CONFIG, mergeConfig, seededBytes, waitFor, chunkFiles, type TestCluster, type StatJson } from "../helpers/cluster.js";
import { AckedFiles, assertAllReadBack, assertReplicationRestored, readReplica, MiB } from "../helpers/faults.js";

const repairTest = test.serial;

/** Bytes after the data: one CRC32 per 64 KiB block, then the 44-byte footer. */
const FOOTER_BYTES = 44;
const ALL_BAD_BOUND_MS = 30_000;
let cluster: TestCluster;
const acked = new AckedFiles();
const work = mkdtempSync(join(tmpdir(), "woods-corrupt-"));

test.before(async () => {
  // A fast scrubber finds rot nobody reads.
  const config = mergeConfig(FAST_FAULT_CONFIG, { datanode: { scrubIntervalMs: 1000, scrubBytesPerSecond: 512 * MiB } });
  cluster = await startCluster({ datanodes: 4, replication: 3, chunkSize: "1MiB", config });
});
test.after.always(async () => {
  await cluster?.down();
});

/** The replica file of `chunk` on datanode `dn`. */
async function replicaFile(dn: string, chunkId: string): Promise<string> {
  const dirs = await cluster.dataDirs(dn);
  const files = dirs.flatMap((d) => chunkFiles(d, chunkId));
  if (files.length !== 1) throw new Error(`expected one file of ${chunkId} on ${dn}, found ${files.length}`);
  return files[0];
}

function patch(file: string, at: number, bytes: Buffer): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

function readAt(file: string, at: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(file, "r");
  try {
    readSync(fd, out, 0, length, at);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Puts a file, damages one replica of its first chunk with `damage`, and checks the invariants. */
async function damageOneReplica(t: ExecutionContext, name: string, seed: number, damage: (file: string, st: StatJson) => Promise<void> | void): Promise<{ st: StatJson; dn: string }> {
  const path = `/rot/${name}`;
  t.true(await acked.put(cluster, path, seededBytes(2 * MiB + 777, seed)), acked.failed.get(path));
  const st = await cluster.stat(path);
  const chunk = st.chunks[0];
  const dn = chunk.replicas[0];
  await damage(await replicaFile(dn, chunk.id), st);
  // Never served: neither through the client (which checks the whole-chunk CRC) nor by the datanode itself.
  await assertAllReadBack(t, cluster, acked);
  await t.throwsAsync(readReplica(cluster.url, dn, chunk), undefined, `${dn} served its damaged replica of ${chunk.id}`);
  return { st, dn };
}

test.serial("a flipped byte in a replica is never served", async (t) => {
  await damageOneReplica(t, "flipped", 1, (file) => {
    const at = 300_000;
    const b = readAt(file, at, 1);
    patch(file, at, Buffer.from([b[0] ^ 0x40]));
  });
});

test.serial("a truncated replica is never served", async (t) => {
  await damageOneReplica(t, "truncated", 2, (file) => truncateSync(file, Math.floor(statSync(file).size / 2)));
});

test.serial("a replica whose checksum trailer is damaged or removed is never served", async (t) => {
  await damageOneReplica(t, "trailer-damaged", 3, (file) => patch(file, statSync(file).size - FOOTER_BYTES + 10, Buffer.from("GARBAGE!")));
  await damageOneReplica(t, "trailer-removed", 4, (file) => truncateSync(file, statSync(file).size - FOOTER_BYTES));
});

test.serial("a replica carrying another chunk's valid checksum trailer is never served", async (t) => {
  // Two files of the same size: copy the trailer (block CRCs + footer) of one chunk over the other's.
  t.true(await acked.put(cluster, "/rot/donor", seededBytes(2 * MiB + 777, 99)));
  const donor = (await cluster.stat("/rot/donor")).chunks[0];
  const donorFile = await replicaFile(donor.replicas[0], donor.id);
  await damageOneReplica(t, "trailer-swapped", 5, (file) => {
    const size = statSync(file).size;
    t.is(size, statSync(donorFile).size);
    const trailerBytes = (MiB / (64 * 1024)) * 4 + FOOTER_BYTES;
    patch(file, size - trailerBytes, readAt(donorFile, size - trailerBytes, trailerBytes));
  });
});
repairTest("every damaged replica is counted by fsck, re-replicated from a good copy, and fsck is healthy again", async (t) => {
  const fsckSeen = await waitFor(async () => {
    const f = await cluster.fsck();
    return f.corrupt > 0 || f.healthy ? f : undefined;
  }, 10_000, "fsck to count or have repaired the corrupt replicas");
  t.log(`fsck saw ${JSON.stringify(fsckSeen)}`);
  await assertReplicationRestored(t, cluster, acked.paths(), 60_000, true);
  const f = await cluster.fsck();
  t.is(f.corrupt, 0);
  // Every replica the namenode lists is good, read straight from its datanode.
  for (const path of acked.paths()) {
    for (const c of (await cluster.stat(path)).chunks) {
      for (const dn of c.replicas) t.is((await readReplica(cluster.url, dn, c)).length, c.size);
    }
  }
  await assertAllReadBack(t, cluster, acked);
});

test.serial("when every replica of a chunk is corrupt, get fails with a clear error in bounded time and writes no file", async (t) => {
  t.true(await acked.put(cluster, "/rot/all-bad", seededBytes(MiB + 5, 6)));
  acked.hashes.delete("/rot/all-bad"); // about to be destroyed on purpose
  // All three copies reported (a copy reported late would look missing and be repaired elsewhere,
  // leaving a good fourth copy this test does not damage).
  const chunk = (await waitFor(async () => {
    const st = await cluster.stat("/rot/all-bad");
    return st.chunks[0]!.replicas.length === 3 ? st : null;
  }, 20_000, "three reported replicas of /rot/all-bad")).chunks[0]!;
  // Freeze the holders while their copies rot, so the fast scrubber cannot find one bad copy
  // and repair it from another that is still good before all are damaged.
  for (const dn of chunk.replicas) await cluster.signal(dn, "SIGSTOP");
  try {
    for (const dn of chunk.replicas) {
      const file = await replicaFile(dn, chunk.id);
      const b = readAt(file, 1000, 1);
      patch(file, 1000, Buffer.from([b[0] ^ 0xff]));
    }
  } finally {
    for (const dn of chunk.replicas) await cluster.signal(dn, "SIGCONT");
  }
  const out = join(work, "all-bad.out");
  const started = Date.now();
  const r = await cluster.woods(["get", "/rot/all-bad", out], { timeoutMs: ALL_BAD_BOUND_MS + 10_000 });
  const ms = Date.now() - started;
  t.is(r.code, 1, `get of an unreadable file exited ${r.code} (${existsSync(out) ? `wrote ${statSync(out).size} bytes` : "no file"}): ${r.stderr}`);
  t.regex(r.stderr, /^woods: .*(ALL_REPLICAS_FAILED|could not be read|no live replica)/m);
  t.true(ms < ALL_BAD_BOUND_MS, `get took ${ms} ms to give up`);
  t.false(existsSync(out), "no output file");
  t.deepEqual(readdirSync(work), [], "no partial temp file either");
  // Streaming to stdout fails the same way.
  const r2 = await cluster.woods(["get", "/rot/all-bad", "-"], { timeoutMs: ALL_BAD_BOUND_MS + 10_000 });
  t.is(r2.code, 1);
  t.is(r2.stdout.length, 0, "not one byte of the bad chunk reached stdout");
  await cluster.ok(["rm", "/rot/all-bad"]);
});
