/**
 * A datanode cut off from NATS (through the test's TCP proxy), not killed: its process runs
 * on. Cut cleanly or stalled (gray), it is declared dead and repaired around; while it is
 * away a file it holds is deleted and rewritten; when it comes back its stale and surplus
 * replicas are trimmed and reads never return the old data.
 */
import test from "ava";
import { startCluster, FAST_FAULT_CONFIG, seededBytes, sha256, waitFor, chunkFiles, type TestCluster } from "../helpers/cluster.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { AckedFiles, assertAllReadBack, assertReplicationRestored, MiB } from "../helpers/faults.js";

const repairTest = test.serial;

const VICTIM = "dn1";
/** A read that meets the partitioned node waits requestTimeoutMs (5 s) before falling over. */
const READ_BOUND_MS = 15_000;
let cluster: TestCluster;
let proxy: TcpProxy;
const acked = new AckedFiles();

test.before(async () => {
  cluster = await startCluster({ datanodes: 4, replication: 3, chunkSize: "1MiB", config: FAST_FAULT_CONFIG });
  proxy = await startTcpProxy(cluster.port);
  await cluster.ok(["cluster", "stop", VICTIM]);
  await cluster.ok(["cluster", "start", VICTIM, "--nats", proxy.url]);
});
test.after.always(async () => {
  proxy?.restore();
  await cluster?.down();
  await proxy?.close();
});

const isState = (state: string) => async () => (await cluster.nodes()).find((n) => n.id === VICTIM && n.state === state);

/** Puts files until `VICTIM` holds a replica of one; returns that file's path and its victim chunk ids. */
async function putUntilVictimHolds(prefix: string, seed: number): Promise<{ path: string; chunkIds: string[] }> {
  for (let i = 0; i < 10; i++) {
    const path = `${prefix}/f${i}`;
    if (!(await acked.put(cluster, path, seededBytes(2 * MiB + 99 * i, seed + i)))) throw new Error(`${path}: ${acked.failed.get(path)}`);
    const ids = (await cluster.stat(path)).chunks.filter((c) => c.replicas.includes(VICTIM)).map((c) => c.id);
    if (ids.length > 0) return { path, chunkIds: ids };
  }
  throw new Error(`${VICTIM} got no replica in 10 puts`);
}

test.serial("the launcher keeps a datanode behind the proxy, and it works through it", async (t) => {
  const st = (await cluster.status()).datanodes.find((d) => d.id === VICTIM)!;
  t.is(st.nats, proxy.url);
  // `cluster start` may return while the namenode still lists the node from before its restart.
  await waitFor(() => proxy.connections() >= 1, 15_000, `${VICTIM} to connect through the proxy`);
  t.true(proxy.connections() >= 1);
  await putUntilVictimHolds("/part/warm", 10);
  await assertAllReadBack(t, cluster, acked);
});

for (const how of ["cut", "stall"] as const) {
  test.serial(`a datanode whose connection is ${how === "cut" ? "cut" : "stalled"} is declared dead; reads and writes go on; on return it serves no stale data`, async (t) => {
    const { path: rewritten, chunkIds: oldChunks } = await putUntilVictimHolds(`/part/${how}`, how === "cut" ? 100 : 200);
    const victimDirs = await cluster.dataDirs(VICTIM);
    t.true(oldChunks.every((id) => victimDirs.some((d) => chunkFiles(d, id).length === 1)), "the victim holds the old chunks on disk");

    if (how === "cut") proxy.cut();
    else proxy.stall();
    await waitFor(isState("dead"), 10_000, `${VICTIM} dead after the ${how}`);

    // Reads of everything acknowledged go on, in bounded time.
    for (const [path, hash] of acked.hashes) {
      const started = Date.now();
      const r = await cluster.woods(["get", path, "-"], { timeoutMs: READ_BOUND_MS + 5000 });
      t.is(r.code, 0, `${path}: ${r.stderr}`);
      t.is(sha256(r.stdout), hash);
      t.true(Date.now() - started < READ_BOUND_MS, `reading ${path} took ${Date.now() - started} ms`);
    }
    // While it is away, a file it holds is deleted and written again with other bytes.
    await cluster.ok(["rm", rewritten]);
    acked.hashes.delete(rewritten);
    t.true(await acked.put(cluster, rewritten, seededBytes(MiB + 5, how === "cut" ? 111 : 222)));
    for (const c of (await cluster.stat(rewritten)).chunks) t.false(c.replicas.includes(VICTIM));

    proxy.restore();
    await waitFor(isState("alive"), 30_000, `${VICTIM} alive after the ${how} ends`);
    // Reads never return the old data, before or after the node's report is digested.
    for (let i = 0; i < 3; i++) {
      await assertAllReadBack(t, cluster, acked);
      await new Promise((r) => setTimeout(r, 500));
    }
    // The deleted file's old chunks are removed from the victim's disk once it is back.
    await waitFor(
      () => oldChunks.every((id) => victimDirs.every((d) => chunkFiles(d, id).length === 0)) || "not yet: old chunks still on disk",
      20_000,
      `${VICTIM} to delete the chunks of the removed file`,
    );
  });
}
repairTest("after the partitions heal, every chunk has exactly 3 replicas", async (t) => {
  await assertReplicationRestored(t, cluster, acked.paths(), 60_000, true);
  await assertAllReadBack(t, cluster, acked);
});
