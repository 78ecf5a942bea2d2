/**
 * Gray failure: a datanode frozen with SIGSTOP keeps its TCP connection but answers
 * nothing. Reads and writes must keep working within a bounded time, the node must be
 * declared dead, and after SIGCONT it rejoins and surplus replicas are trimmed.
 */
import test from "ava";
import { startCluster, FAST_FAULT_CONFIG, seededBytes, sha256, waitFor, type TestCluster } from "../helpers/cluster.js";
import { AckedFiles, assertAllReadBack, assertReplicationRestored, MiB } from "../helpers/faults.js";

const repairTest = test.serial;

/** requestTimeoutMs (5 s in FAST_FAULT_CONFIG) per failover, plus process start and slack. */
const READ_BOUND_MS = 15_000;
/** frameAckTimeoutMs (5 s) to drop the frozen replica, plus slack. */
const WRITE_BOUND_MS = 20_000;
let cluster: TestCluster;
let victim = "";
const acked = new AckedFiles();

test.before(async () => {
  cluster = await startCluster({ datanodes: 4, replication: 3, chunkSize: "1MiB", config: FAST_FAULT_CONFIG });
});
test.after.always(async () => {
  if (victim) await cluster?.signal(victim, "SIGCONT").catch(() => undefined);
  await cluster?.down();
});

test.serial("reads fall over a SIGSTOPped datanode within a bounded time", async (t) => {
  for (let i = 0; i < 4; i++) t.true(await acked.put(cluster, `/gray/before${i}`, seededBytes(2 * MiB + i * 1000, 300 + i)));
  // Freeze the replica the namenode lists first for a chunk, so a reader meets it.
  victim = (await cluster.stat("/gray/before0")).chunks[0].replicas[0];
  await cluster.signal(victim, "SIGSTOP");
  for (const [path, hash] of acked.hashes) {
    const started = Date.now();
    const r = await cluster.woods(["get", path, "-"], { timeoutMs: READ_BOUND_MS + 5000 });
    const ms = Date.now() - started;
    t.is(r.code, 0, r.stderr);
    t.is(sha256(r.stdout), hash);
    t.true(ms < READ_BOUND_MS, `reading ${path} took ${ms} ms with ${victim} frozen`);
  }
});

test.serial("puts succeed within a bounded time while a datanode is frozen", async (t) => {
  for (let i = 0; i < 4; i++) {
    const started = Date.now();
    t.true(await acked.put(cluster, `/gray/during${i}`, seededBytes(MiB + 12345 * i, 400 + i)), acked.failed.get(`/gray/during${i}`));
    const ms = Date.now() - started;
    t.true(ms < WRITE_BOUND_MS, `put ${i} took ${ms} ms with ${victim} frozen`);
  }
  await assertAllReadBack(t, cluster, acked);
});

test.serial("the frozen datanode is declared dead, and rejoins after SIGCONT", async (t) => {
  await waitFor(async () => (await cluster.nodes()).find((n) => n.id === victim && n.state === "dead"), 10_000, `${victim} dead`);
  await cluster.signal(victim, "SIGCONT");
  await waitFor(async () => (await cluster.nodes()).find((n) => n.id === victim && n.state === "alive"), 20_000, `${victim} alive again`);
  t.is((await cluster.nodes()).filter((n) => n.state === "alive").length, 4);
  await assertAllReadBack(t, cluster, acked);
});
repairTest("after the rejoin every chunk has exactly 3 replicas (surplus trimmed)", async (t) => {
  await assertReplicationRestored(t, cluster, acked.paths(), 60_000, true);
  await assertAllReadBack(t, cluster, acked);
});
