/**
 * A failed data dir: one of a datanode's two dirs is replaced by a plain file. The datanode marks
 * it failed and reports it, keeps serving from its healthy dir, and the failed dir's
 * chunks are re-replicated.
 */
import test from "ava";
import { renameSync, writeFileSync } from "node:fs";
import { startCluster, FAST_FAULT_CONFIG, waitFor, allChunkFiles, chunkFiles, seededBytes, type TestCluster } from "../helpers/cluster.js";
import { recordEvents, type EventRecorder } from "../helpers/events.js";
import { AckedFiles, assertAllReadBack, assertReplicationRestored, readReplica, chunkChecksumOf, MiB } from "../helpers/faults.js";

const repairTest = test.serial;

/** The datanode that loses a dir: the first one found with chunks in both of its dirs. */
let victim = "";
let cluster: TestCluster;
let events: EventRecorder;
let failedDir = "";
let healthyDir = "";
/** Chunk ids whose dn1 replica was in the failed dir. */
let lostChunks: string[] = [];
const acked = new AckedFiles();

test.before(async () => {
  cluster = await startCluster({ datanodes: 4, replication: 3, chunkSize: "1MiB", dirsPerDatanode: 2, config: FAST_FAULT_CONFIG });
  events = await recordEvents(cluster.url);
});
test.after.always(async () => {
  await events?.stop();
  await cluster?.down();
});

test.serial("a datanode whose data dir is replaced by a file marks it failed and stays alive", async (t) => {
  // Write until some datanode holds chunks in both of its dirs (placement decides where).
  for (let i = 0; i < 20 && !victim; i++) {
    t.true(await acked.put(cluster, `/dirs/f${i}`, seededBytes(2 * MiB + 500 * i, 900 + i)));
    for (const d of (await cluster.status()).datanodes) {
      if (d.dirs.length === 2 && d.dirs.every((dir) => allChunkFiles(dir).length > 0)) {
        victim = d.id;
        [failedDir, healthyDir] = d.dirs;
        break;
      }
    }
  }
  t.truthy(victim, "some datanode holds chunks in both dirs");
  const files = allChunkFiles(failedDir);
  lostChunks = files.map((f) => f.split("/").pop()!.replace(/_v\d+\.chunk$/, ""));
  renameSync(failedDir, `${failedDir}.gone`);
  writeFileSync(failedDir, "this data dir failed\n");
  const node = await waitFor(async () => (await cluster.nodes()).find((n) => n.id === victim && (n.failedDirs ?? 0) >= 1), 10_000, `${victim} to report a failed dir`);
  t.is(node.state, "alive");
  await events.waitFor("datanode.dir.failed", 5000, (e) => JSON.stringify(e).includes(victim));
});

test.serial("reads never use the failed dir and the datanode keeps serving its healthy dir", async (t) => {
  await assertAllReadBack(t, cluster, acked);
  const healthy = new Set(allChunkFiles(healthyDir).map((f) => f.split("/").pop()!.replace(/_v\d+\.chunk$/, "")));
  let served = 0;
  for (const path of acked.paths()) {
    for (const c of (await cluster.stat(path)).chunks) {
      if (!healthy.has(c.id)) continue;
      t.true(c.replicas.includes(victim), `${victim} still lists its healthy-dir replica of ${c.id}`);
      t.is(await chunkChecksumOf(await readReplica(cluster.url, victim, c)), c.checksum);
      served++;
    }
  }
  t.true(served > 0);
});

test.serial("new puts succeed after the dir failure", async (t) => {
  for (let i = 0; i < 3; i++) t.true(await acked.put(cluster, `/dirs/after${i}`, seededBytes(MiB + 3, 950 + i)));
  await assertAllReadBack(t, cluster, acked);
});
repairTest("the failed dir's chunks are re-replicated and the victim no longer lists them", async (t) => {
  await assertReplicationRestored(t, cluster, acked.paths(), 60_000);
  const lost = new Set(lostChunks);
  t.true(lost.size > 0, "the failed dir held chunks");
  for (const path of acked.paths()) {
    for (const c of (await cluster.stat(path)).chunks) {
      // The victim may list it again only with a new copy in its healthy dir (a repair may pick it as target).
      if (lost.has(c.id) && c.replicas.includes(victim)) t.is(chunkFiles(healthyDir, c.id).length, 1, `${c.id} was in the failed dir and ${victim} lists it without a new copy`);
    }
  }
});
