import test from "ava";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, sha256, seededBytes, type TestCluster } from "../helpers/cluster.js";

const MiB = 1024 * 1024;
let cluster: TestCluster;
const work = mkdtempSync(join(tmpdir(), "woods-dnkill-"));

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB" });
});
test.after.always(async () => {
  await cluster?.down();
});

test.serial("reads fall over to another replica when the preferred datanode is killed -9", async (t) => {
  const data = seededBytes(3 * MiB + 17, 42);
  const local = join(work, "a");
  writeFileSync(local, data);
  await cluster.ok(["put", local, "/faults/a.bin"]);
  const stat = JSON.parse((await cluster.ok(["stat", "/faults/a.bin", "--json"])).stdout.toString());
  const victim = stat.chunks[0].replicas[0];
  await cluster.ok(["cluster", "stop", victim, "--kill"]);
  // Right after the kill the namenode still lists the victim (no heartbeat timeout yet): the client must fall over.
  const r = await cluster.ok(["get", "/faults/a.bin", "-"]);
  t.is(sha256(r.stdout), sha256(data));
  await cluster.ok(["cluster", "start", victim]);
});

test.serial("a put succeeds while a datanode is down, on the live replicas", async (t) => {
  const status = await cluster.status();
  const victim = status.datanodes[1].id;
  await cluster.ok(["cluster", "stop", victim, "--kill"]);
  const data = seededBytes(2 * MiB + 5, 7);
  const local = join(work, "b");
  writeFileSync(local, data);
  await cluster.ok(["put", local, "/faults/b.bin"]);
  const stat = JSON.parse((await cluster.ok(["stat", "/faults/b.bin", "--json"])).stdout.toString());
  for (const c of stat.chunks) {
    t.false(c.replicas.includes(victim), "a killed datanode holds no acknowledged replica");
    t.true(c.replicas.length >= 2);
  }
  const back = await cluster.ok(["get", "/faults/b.bin", "-"]);
  t.is(sha256(back.stdout), sha256(data));
  await cluster.ok(["cluster", "start", victim]);
  // The restarted node re-registers with a full report and serves its old chunks again.
  const again = JSON.parse((await cluster.ok(["stat", "/faults/a.bin", "--json"])).stdout.toString());
  t.true(again.chunks.every((c: { replicas: string[] }) => c.replicas.length === 3));
});

test.serial("a corrupted chunk file is never served: the read falls over to a good replica", async (t) => {
  const { readdirSync, openSync, writeSync, closeSync, statSync } = await import("node:fs");
  const data = seededBytes(MiB + 100, 9);
  const local = join(work, "c");
  writeFileSync(local, data);
  await cluster.ok(["put", local, "/faults/c.bin"]);
  const stat = JSON.parse((await cluster.ok(["stat", "/faults/c.bin", "--json"])).stdout.toString());
  const status = await cluster.status();
  // Corrupt the first chunk on the replica a reader tries first: flip bytes in the middle of the data.
  const chunk = stat.chunks[0];
  const dn = status.datanodes.find((d) => d.id === chunk.replicas[0])!;
  const find = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const f = find(p);
        if (f) return f;
      } else if (e.name.startsWith(chunk.id) && e.name.endsWith(".chunk")) return p;
    }
    return undefined;
  };
  const file = find(dn.dir);
  t.truthy(file, "chunk file exists");
  t.true(statSync(file!).size > 1000);
  const fd = openSync(file!, "r+");
  writeSync(fd, Buffer.from("CORRUPTED!"), 0, 10, 500);
  closeSync(fd);
  const r = await cluster.ok(["get", "/faults/c.bin", "-"]);
  t.is(sha256(r.stdout), sha256(data), "bytes read back are the ones written, not the corrupted ones");
});
