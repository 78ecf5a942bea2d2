/**
 * Reads from several replicas at once: a chunk's slices are dealt over its replicas, and a replica
 * holding other (self-consistent) bytes of the chunk is caught by the chunk checksum and read around.
 */
import test from "ava";
import { readFileSync, writeFileSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startCluster, authFor, seededBytes, sha256, chunkFiles, type TestCluster } from "../helpers/cluster.js";
import { buildTrailer, BlockCrcAccumulator } from "../../actors/datanode/chunk-file.js";

const SLICE = 256 * 1024;
const BLOCK = 64 * 1024;
let cluster: TestCluster;
let monitor: NatsConnection;

test.before(async () => {
  // Small slices: one 4 MiB chunk is 16 read requests. No scrubber: the replica given other bytes below must
  // be caught by the client's chunk checksum, not moved aside by a scrub pass first (one did, in a CI run).
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "4MiB", config: { frameSizeBytes: SLICE, datanode: { scrubBytesPerSecond: 0 } } });
  monitor = await connect({ servers: cluster.url, name: "woods-test-read-monitor", ...authFor(cluster.url, "admin") });
});
test.after.always(async () => {
  await monitor?.close();
  await cluster?.down();
});

/** Counts read requests per datanode while `run` runs (a plain subscriber sees every request). */
async function countReads(run: () => Promise<void>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const sub = monitor.subscribe("woods.datanode.*.read", {
    callback: (_err, msg) => {
      const dn = msg.subject.split(".")[2];
      counts.set(dn, (counts.get(dn) ?? 0) + 1);
    },
  });
  await monitor.flush();
  try {
    await run();
    await monitor.flush();
  } finally {
    sub.unsubscribe();
  }
  return counts;
}

test.serial("a get deals one chunk's slices over all three replicas and returns the exact bytes", async (t) => {
  const data = seededBytes(4 * 1024 * 1024 - 1000, 41);
  await cluster.put("/spread/a.bin", data);
  let got = Buffer.alloc(0);
  const counts = await countReads(async () => {
    got = (await cluster.ok(["get", "/spread/a.bin", "-"])).stdout;
  });
  t.is(sha256(got), sha256(data));
  t.deepEqual([...counts.keys()].sort(), ["dn1", "dn2", "dn3"], `reads per datanode: ${JSON.stringify([...counts])}`);
  for (const [dn, n] of counts) t.true(n >= 4, `${dn} served ${n} of 16 slices`);
  t.is([...counts.values()].reduce((a, b) => a + b, 0), 16);
});

test.serial("with client.readFromAllReplicas false every slice of a chunk comes from one replica", async (t) => {
  const data = seededBytes(3 * 1024 * 1024, 42);
  await cluster.put("/spread/b.bin", data);
  let got = Buffer.alloc(0);
  const counts = await countReads(async () => {
    got = (await cluster.ok(["get", "/spread/b.bin", "-"], { env: { ...cluster.env, WOODS_CLIENT_READ_FROM_ALL_REPLICAS: "false" } })).stdout;
  });
  t.is(sha256(got), sha256(data));
  t.is(counts.size, 1, `reads per datanode: ${JSON.stringify([...counts])}`);
  t.is([...counts.values()][0], 12);
});

test.serial("a replica holding other bytes with a valid trailer is read around, one replica at a time", async (t) => {
  const data = seededBytes(2 * 1024 * 1024, 43);
  await cluster.put("/spread/c.bin", data);
  const st = await cluster.stat("/spread/c.bin");
  const chunk = st.chunks[0];
  const victim = chunk.replicas[1];
  const [file] = (await cluster.dataDirs(victim)).flatMap((d) => chunkFiles(d, chunk.id));
  // Other bytes of the same length and a trailer made for them: every block CRC checks out on the
  // datanode, so only the chunk checksum the namenode recorded can tell.
  const other = seededBytes(data.length, 44);
  const acc = new BlockCrcAccumulator(BLOCK);
  acc.update(other);
  const sums = acc.finish();
  const trailer = buildTrailer({ dataLength: other.length, chunkVersion: chunk.version, blockSizeBytes: BLOCK, blockCrcs: sums.blockCrcs, dataCrc: sums.dataCrc });
  t.is(readFileSync(file).length, other.length + trailer.length);
  writeFileSync(file, Buffer.concat([other, trailer]));
  const r = await cluster.ok(["get", "/spread/c.bin", "-"]);
  t.is(sha256(r.stdout), sha256(data));
  t.regex(r.stderr, /failed its checksum/);
});
