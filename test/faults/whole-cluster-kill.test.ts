/**
 * kill -9 of every process at once (nats-server, namenode, datanodes) during a stream of
 * writes, then `woods cluster up` again on the same dir: every acknowledged file reads
 * back, the cluster is healthy again and no unfinished write is left behind.
 */
import test from "ava";
import { startCluster, FAST_FAULT_CONFIG, mergeConfig, waitFor, type TestCluster } from "../helpers/cluster.js";
import { AckedFiles, writeStream, assertAllReadBack, assertNoPartFiles, MiB } from "../helpers/faults.js";

const LEASE_MS = 4000;
let cluster: TestCluster;
const acked = new AckedFiles();

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: mergeConfig(FAST_FAULT_CONFIG, { namenode: { leaseMs: LEASE_MS } }) });
});
test.after.always(async () => {
  await cluster?.down();
});

test.serial("after every process is killed -9 mid-write and the cluster is brought up again, every acknowledged file reads back", async (t) => {
  const writer = writeStream(cluster, acked, { prefix: "/all", seed: 5, minBytes: 10_000, maxBytes: 3 * MiB });
  await waitFor(() => acked.hashes.size >= 5, 30_000, "5 acknowledged puts");
  await cluster.killAll();
  await writer.stop();
  const status = await cluster.status();
  t.is(status.natsServer.pid, null);
  t.is(status.namenode.pid, null);
  t.true(status.datanodes.every((d) => d.pid === null));
  t.log(`${acked.hashes.size} puts acknowledged before the kill`);

  await cluster.up();
  await assertAllReadBack(t, cluster, acked);
  // The file being written at the kill is abandoned when its lease expires; nothing else is unhealthy.
  await waitFor(async () => (await cluster.fsck()).healthy || `not yet: ${JSON.stringify(await cluster.fsck())}`, LEASE_MS + 20_000, "fsck healthy");
  await assertNoPartFiles(t, cluster);
  const ls = JSON.parse((await cluster.ok(["ls", "/all", "--json"])).stdout.toString()) as { path: string }[];
  for (const e of ls) t.true(acked.hashes.has(e.path) || acked.failed.has(e.path), `${e.path} listed but never put`);
});

test.serial("the restarted cluster takes new writes", async (t) => {
  const before = acked.hashes.size;
  for (let i = 0; i < 3; i++) t.true(await acked.put(cluster, `/all/after${i}`, Buffer.alloc(MiB + i, i + 1)));
  t.is(acked.hashes.size, before + 3);
  await assertAllReadBack(t, cluster, acked);
});
