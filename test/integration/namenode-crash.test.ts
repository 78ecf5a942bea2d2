import test from "ava";
import { writeFileSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, sha256, seededBytes, type TestCluster } from "../helpers/cluster.js";

const MiB = 1024 * 1024;
let cluster: TestCluster;
const work = mkdtempSync(join(tmpdir(), "woods-crash-"));

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB" });
});
test.after.always(async () => {
  await cluster?.down();
});

test.serial("namenode kill -9 and restart keeps every acknowledged file", async (t) => {
  const files = new Map<string, string>();
  for (let i = 0; i < 6; i++) {
    const data = seededBytes(i * 700_000 + 1, 1000 + i);
    const local = join(work, `f${i}`);
    writeFileSync(local, data);
    await cluster.ok(["put", local, `/crash/f${i}`]);
    files.set(`/crash/f${i}`, sha256(data));
  }
  await cluster.ok(["cluster", "stop", "namenode", "--kill"]);
  t.is((await cluster.status()).namenode.pid, null);
  await cluster.ok(["cluster", "start", "namenode"]);
  for (const [remote, hash] of files) {
    const r = await cluster.ok(["get", remote, "-"]);
    t.is(sha256(r.stdout), hash, `${remote} changed after the namenode restart`);
  }
  const stat = JSON.parse((await cluster.ok(["stat", "/crash/f5", "--json"])).stdout.toString());
  t.is(stat.chunks.length, Math.ceil((5 * 700_000 + 1) / MiB));
  for (const c of stat.chunks) t.is(c.replicas.length, 3, "replica locations are rebuilt from datanode reports");
});

test.serial("a namenode killed during a stream of puts loses no acknowledged put", async (t) => {
  const acked = new Map<string, string>();
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop && i < 200; i++) {
      const data = seededBytes(50_000 + i * 1000, 5000 + i);
      const local = join(work, `s${i}`);
      writeFileSync(local, data);
      const r = await cluster.woods(["put", local, `/stream/s${i}`]);
      if (r.code === 0) acked.set(`/stream/s${i}`, sha256(data));
    }
  })();
  await new Promise((r) => setTimeout(r, 1500));
  await cluster.ok(["cluster", "stop", "namenode", "--kill"]);
  await new Promise((r) => setTimeout(r, 500));
  await cluster.ok(["cluster", "start", "namenode"]);
  await new Promise((r) => setTimeout(r, 1500));
  stop = true;
  await writer;
  t.true(acked.size > 0);
  for (const [remote, hash] of acked) {
    const r = await cluster.woods(["get", remote, "-"]);
    t.is(r.code, 0, `${remote} was acknowledged but cannot be read: ${r.stderr}`);
    t.is(sha256(r.stdout), hash);
  }
});
