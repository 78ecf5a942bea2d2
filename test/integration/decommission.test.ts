/**
 * Decommissioning a datanode end to end on a real local cluster (nats-server with per-role users,
 * namenode and four datanode processes, replication 3): `woods decommission` is refused to the
 * client role; a decommissioned node's chunks get enough copies elsewhere, so kill -9 of it leaves
 * fsck healthy at once and every file byte-identical; the decommissioning survives a namenode
 * kill -9 and restart; cancelling puts the node back and the extra copies are trimmed.
 */
import test from "ava";
import { startCluster, waitFor, replicationRestored, seededBytes, sha256, FAST_FAULT_CONFIG, mergeConfig, type TestCluster, type NodeJson } from "../helpers/cluster.js";
import type { DecommissionReply } from "../../messages/index.js";

const MiB = 1024 * 1024;
let cluster: TestCluster;
let admin: NodeJS.ProcessEnv;
const files = new Map<string, string>();

test.before(async () => {
  // Few repairs at a time, so a decommissioning takes a while and a namenode restart lands mid-way.
  cluster = await startCluster({
    datanodes: 4,
    replication: 3,
    config: mergeConfig(FAST_FAULT_CONFIG, { namenode: { repairInflightMax: 2, repairInflightPerNodeMax: 1 } }),
  });
  admin = { WOODS_CREDS: cluster.creds("admin") };
  for (let i = 0; i < 6; i++) {
    const data = seededBytes(3 * MiB + 4099 * i, 900 + i);
    const path = `/decom/f${i}.bin`;
    const put = await cluster.put(path, data);
    if (put.code !== 0) throw new Error(`put ${path}: ${put.stderr}`);
    files.set(path, sha256(data));
  }
});
test.after.always(async () => {
  await cluster?.down();
});

const nodeOf = async (id: string): Promise<NodeJson | undefined> => (await cluster.nodes()).find((n) => n.id === id);

async function decommission(args: string[]): Promise<DecommissionReply> {
  const r = await cluster.ok(["decommission", ...args, "--json"], { env: admin, timeoutMs: 180_000 });
  return JSON.parse(r.stdout.toString()) as DecommissionReply;
}

/** Chunks (of our files) that list `dn` among their replicas. */
async function chunksOn(dn: string): Promise<number> {
  let n = 0;
  for (const path of files.keys()) n += (await cluster.stat(path)).chunks.filter((c) => c.replicas.includes(dn)).length;
  return n;
}

async function assertFilesReadBack(t: import("ava").ExecutionContext): Promise<void> {
  for (const [path, sum] of files) {
    const got = await cluster.ok(["get", path, "-"]);
    t.is(sha256(got.stdout), sum, path);
  }
}

test.serial("the client role may not decommission: the server refuses the subject and nothing changes", async (t) => {
  const r = await cluster.woods(["decommission", "dn2"]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /admin credentials/);
  t.regex(r.stderr, /woods\.namenode\.decommission/);
  t.is((await nodeOf("dn2"))?.adminState, "in-service");
  const unknown = await cluster.woods(["decommission", "dn9"], { env: admin });
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /NOT_FOUND/);
});

test.serial("cancel puts a decommissioned node back in service and the extra copies are trimmed", async (t) => {
  const before = await chunksOn("dn2");
  t.true(before > 0);
  const started = await decommission(["dn2"]);
  t.is(started.adminState, "decommissioning");
  t.like(await decommission(["dn2"]), { id: "dn2" }, "repeating it is harmless");
  const done = await decommission(["dn2", "--wait", "--interval", "200"]);
  t.like(done, { adminState: "decommissioned", chunksLeft: 0 });
  t.is((await nodeOf("dn2"))?.adminState, "decommissioned");
  const back = await decommission(["dn2", "--cancel"]);
  t.is(back.adminState, "in-service");
  // dn2's copies count again: chunks copied away meanwhile have four, and the surplus ones are trimmed.
  await waitFor(() => replicationRestored(cluster, files.keys(), { exact: true }), 60_000, "surplus copies to be trimmed");
  t.is((await nodeOf("dn2"))?.adminState, "in-service");
  const fsck = await cluster.fsck();
  t.like(fsck, { healthy: true, overReplicated: 0, underReplicated: 0 });
  await assertFilesReadBack(t);
});

test.serial("a decommissioned datanode can be killed with nothing under-replicated; decommissioning survives a namenode restart", async (t) => {
  t.true((await chunksOn("dn1")) > 0);
  const started = await decommission(["dn1"]);
  t.is(started.adminState, "decommissioning");
  // Kill -9 the namenode at once (the copies take a while at one repair per node) and start it again.
  await cluster.ok(["cluster", "stop", "namenode", "--kill"]);
  await cluster.ok(["cluster", "start", "namenode"], { timeoutMs: 60_000 });
  const after = await waitFor(async (): Promise<NodeJson | undefined> => nodeOf("dn1"), 30_000, "dn1 to heartbeat the restarted namenode");
  t.not(after.adminState, "in-service", "the decommission entry was replayed from the log");
  // No new chunk goes to a decommissioning node.
  const late = seededBytes(2 * MiB + 5, 77);
  t.is((await cluster.put("/decom/late.bin", late)).code, 0);
  for (const c of (await cluster.stat("/decom/late.bin")).chunks) t.false(c.replicas.includes("dn1"), `${c.id} on ${c.replicas}`);
  files.set("/decom/late.bin", sha256(late));

  const waited = await cluster.ok(["decommission", "dn1", "--wait", "--interval", "200"], { env: admin, timeoutMs: 180_000 });
  t.regex(waited.stdout.toString(), /dn1 is decommissioned/);
  t.is((await nodeOf("dn1"))?.adminState, "decommissioned");

  await cluster.ok(["cluster", "stop", "dn1", "--kill"]);
  // At once (dn1 not even declared dead yet), and again once it is: every chunk has 3 copies elsewhere.
  const now = await cluster.fsck();
  t.like(now, { healthy: true, underReplicated: 0, missing: 0 });
  await waitFor(async () => ((await nodeOf("dn1"))?.state === "dead" ? true : "not yet: dn1 dead"), 30_000, "dn1 to be declared dead");
  const later = await cluster.fsck();
  t.like(later, { healthy: true, underReplicated: 0, missing: 0 });
  t.is((await nodeOf("dn1"))?.adminState, "decommissioned");
  await assertFilesReadBack(t);
});
