/**
 * Zones end to end (HDFS's rack awareness) on a real local cluster: nats-server, namenode and six
 * datanode processes in three zones (`cluster up --zones a,b,c`: dn1 a, dn2 b, dn3 c, dn4 a, ...).
 * Every chunk of replication 3 gets one replica per zone; after kill -9 of a datanode the
 * repairs restore replication with the spread kept, and every file reads back byte for byte.
 */
import test from "ava";
import { startCluster, waitFor, replicationRestored, seededBytes, sha256, FAST_FAULT_CONFIG, type TestCluster, type NodeJson } from "../helpers/cluster.js";

const MiB = 1024 * 1024;
const ZONES = ["a", "b", "c"];
let cluster: TestCluster;
const files = new Map<string, string>();

test.before(async () => {
  cluster = await startCluster({ datanodes: 6, replication: 3, zones: ZONES, config: FAST_FAULT_CONFIG });
});
test.after.always(async () => {
  await cluster?.down();
});

/** Zone of every datanode, from `woods nodes --json`. */
async function zonesOfNodes(): Promise<Map<string, string>> {
  const nodes: NodeJson[] = await cluster.nodes();
  return new Map(nodes.map((n) => [n.id, n.zone ?? ""]));
}

/** For every chunk of every file: "not yet: …" unless its live replicas cover `want` distinct zones. */
async function spread(want: number, dead: ReadonlySet<string> = new Set()): Promise<true | string> {
  const zones = await zonesOfNodes();
  for (const path of files.keys()) {
    const st = await cluster.stat(path);
    for (const c of st.chunks) {
      const live = c.replicas.filter((dn) => !dead.has(dn));
      const covered = new Set(live.map((dn) => zones.get(dn)));
      if (covered.size < want) return `not yet: ${path} chunk ${c.id} on ${live.join(", ")} covers zones ${[...covered].join(", ")}`;
    }
  }
  return true;
}

test.serial("datanodes report their zones, and every chunk of replication 3 gets one replica in each of three zones", async (t) => {
  const zones = await waitFor(async (): Promise<Map<string, string> | undefined> => {
    const z = await zonesOfNodes();
    return z.size === 6 ? z : undefined;
  }, 30_000, "six datanodes to register");
  t.deepEqual(Object.fromEntries([...zones].sort()), { dn1: "a", dn2: "b", dn3: "c", dn4: "a", dn5: "b", dn6: "c" });
  const human = (await cluster.ok(["nodes"])).stdout.toString();
  t.regex(human, /dn1 +alive +zone a /);
  for (let i = 0; i < 6; i++) {
    const data = seededBytes(2 * MiB + 1000 * i + 17, 100 + i);
    const path = `/zones/f${i}.bin`;
    const put = await cluster.put(path, data);
    t.is(put.code, 0, put.stderr);
    files.set(path, sha256(data));
  }
  t.is(await spread(3), true);
  let chunks = 0;
  for (const path of files.keys()) chunks += (await cluster.stat(path)).chunks.length;
  t.true(chunks >= 18, `${chunks} chunks`);
});

test.serial("after kill -9 of a datanode the repairs restore replication with one replica per zone, and files read back", async (t) => {
  await cluster.ok(["cluster", "stop", "dn3", "--kill"]);
  const dead = new Set(["dn3"]);
  await waitFor(async () => ((await cluster.nodes()).find((n) => n.id === "dn3")?.state === "dead" ? true : "not yet: dn3 dead"), 30_000, "dn3 to be declared dead");
  // dn6 is zone c's only live node now: every chunk that lost its copy on dn3 gets one there. A repair
  // made while dn6 was busy with others lands in a crowded zone first and is re-spread after.
  await waitFor(
    async () => {
      const restored = await replicationRestored(cluster, files.keys(), { exact: true });
      return restored === true ? spread(3, dead) : restored;
    },
    90_000,
    "replication to be restored with one replica per zone",
  );
  t.is(await spread(3, dead), true);
  for (const [path, sum] of files) {
    const got = await cluster.ok(["get", path, "-"]);
    t.is(sha256(got.stdout), sum, path);
  }
  const fsck = await cluster.fsck();
  t.true(fsck.healthy, JSON.stringify(fsck));
});
