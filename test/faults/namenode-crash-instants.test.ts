/**
 * The namenode killed at the three instants of a mutation (before its log append, after the
 * PubAck, after the reply), for each of create / commit / complete, with a put in flight.
 * The put either completes exactly once on retry or fails cleanly; afterwards every
 * acknowledged file reads back and nothing half-written is left behind.
 * The crash is armed with WOODS_FAULT_NAMENODE_CRASH in the namenode's environment.
 */
import test from "ava";
import { startCluster, FAST_FAULT_CONFIG, mergeConfig, seededBytes, sha256, waitFor, allChunkFiles, type TestCluster } from "../helpers/cluster.js";
import { AckedFiles, assertAllReadBack, assertNoPartFiles, assertNothingStaged, MiB } from "../helpers/faults.js";

const repairTest = test.serial;

const LEASE_MS = 4000;
/** Every instant × verb; WOODS_TEST_SPECS=before-append:commit,… runs only those (to reproduce one). */
const SPECS = process.env.WOODS_TEST_SPECS?.split(",") ?? ["create", "commit", "complete"].flatMap((verb) => ["before-append", "after-puback", "after-reply"].map((point) => `${point}:${verb}`));
let cluster: TestCluster;
const acked = new AckedFiles();
/** Paths whose put failed: they must vanish (lease expiry), not stay half-written. */
const failedCleanly: string[] = [];

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: mergeConfig(FAST_FAULT_CONFIG, { namenode: { leaseMs: LEASE_MS } }) });
});
test.after.always(async () => {
  await cluster?.down();
});

/** Restarts the namenode with `crashSpec` armed (or disarmed when empty). */
async function restartNamenode(crashSpec: string): Promise<void> {
  await cluster.ok(["cluster", "stop", "namenode"]);
  await cluster.ok(["cluster", "start", "namenode"], { env: { WOODS_FAULT_NAMENODE_CRASH: crashSpec } });
}

for (const [i, spec] of SPECS.entries()) {
  test.serial(`a put survives the namenode being killed at ${spec}: it completes once or fails cleanly`, async (t) => {
    await restartNamenode(spec);
    const path = `/instants/f${i}`;
    const data = seededBytes(2 * MiB + 1000 * i, 1200 + i);
    const put = cluster.put(path, data, { timeoutMs: 90_000 });
    await waitFor(async () => (await cluster.status()).namenode.pid === null, 20_000, `the namenode to crash at ${spec}`);
    await cluster.ok(["cluster", "start", "namenode"], { env: { WOODS_FAULT_NAMENODE_CRASH: "" } });
    const r = await put;
    if (r.code === 0) {
      acked.hashes.set(path, sha256(data));
      const back = await cluster.ok(["get", path, "-"]);
      t.is(sha256(back.stdout), sha256(data));
      const ls = JSON.parse((await cluster.ok(["ls", "/instants", "--json"])).stdout.toString()) as { name: string }[];
      t.is(ls.filter((e) => e.name === `f${i}`).length, 1, "the file exists exactly once");
      t.log(`${spec}: put completed on retry`);
    } else {
      t.regex(r.stderr, /^woods: .+\(\w+\)$/m, "a failed put says why, with an error code");
      failedCleanly.push(path);
      t.log(`${spec}: put failed cleanly: ${r.stderr.trim()}`);
    }
  });
}

test.serial("every acknowledged put reads back after the crashes, and failed puts left no file", async (t) => {
  t.true(acked.hashes.size > 0);
  await assertAllReadBack(t, cluster, acked);
  for (const path of failedCleanly) {
    await waitFor(async () => (await cluster.woods(["stat", path])).code !== 0, LEASE_MS + 10_000, `${path} (failed put) to be gone`);
  }
  await assertNoPartFiles(t, cluster);
});
repairTest("no orphan replica or staged object is left behind", async (t) => {
  await assertNothingStaged(t, cluster);
  const status = await cluster.status();
  await waitFor(async () => {
    let listed = 0;
    for (const path of acked.paths()) listed += (await cluster.stat(path)).chunks.reduce((n, c) => n + c.replicas.length, 0);
    const onDisk = status.datanodes.reduce((n, d) => n + allChunkFiles(d.dir).length, 0);
    return onDisk === listed || `not yet: ${onDisk} replica files on disk, ${listed} listed`;
  }, 30_000, "replica files on disk to match the namenode's");
  t.true((await cluster.fsck()).healthy);
});
