/**
 * A full disk: dn1's data dir is an 8 MiB tmpfs, so writes to it hit a real ENOSPC.
 * Puts still succeed on the other datanodes, the full node is reported full and no
 * partial chunk is ever acknowledged. Skipped where tmpfs cannot be mounted (not root).
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, FAST_FAULT_CONFIG, mergeConfig, seededBytes, waitFor, partFiles, type TestCluster } from "../helpers/cluster.js";
import { AckedFiles, assertAllReadBack, assertReplicationRestored, readReplica, chunkChecksumOf, MiB } from "../helpers/faults.js";
import { canMountTmpfs } from "../helpers/tmpfs.js";


const FULL = "dn1";

const serial = canMountTmpfs() ? test.serial : test.serial.skip;
const repairTest = canMountTmpfs() ? test.serial : test.serial.skip;

let cluster: TestCluster | undefined;
let mountPoint = "";
const acked = new AckedFiles();

test.before(async () => {
  if (!canMountTmpfs()) return;
  const config = mergeConfig(FAST_FAULT_CONFIG, {
    // Round-robin so the small disk gets its share (free-space placement would never pick it),
    // and a small reserve so it is filled for real before it counts as full.
    namenode: { placementPolicy: "round-robin", fullReserveBytes: 512 * 1024 },
    datanode: { reserveBytes: 0 },
  });
  cluster = await startCluster({
    datanodes: 4,
    replication: 3,
    chunkSize: "1MiB",
    config,
    beforeUp: (dir) => {
      mountPoint = join(dir, FULL);
      mkdirSync(mountPoint, { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint]);
    },
  });
});
test.after.always(async () => {
  if (cluster) await cluster.woods(["cluster", "down"]);
  if (mountPoint) execFileSync("umount", ["-l", mountPoint], { stdio: "ignore" });
  await cluster?.down();
});

serial("puts keep succeeding while one datanode's disk fills up", async (t) => {
  // 12 files of 1.5 MiB at replication 3 put ~13 MiB on each of 4 nodes: far more than 8 MiB.
  for (let i = 0; i < 12; i++) {
    const path = `/full/f${i}`;
    t.true(await acked.put(cluster!, path, seededBytes(MiB + MiB / 2, 700 + i)), `${path}: ${acked.failed.get(path)}`);
  }
  await assertAllReadBack(t, cluster!, acked);
});

serial("the full datanode is reported full and gets no new chunks", async (t) => {
  await waitFor(async () => (await cluster!.nodes()).find((n) => n.id === FULL && n.state === "full"), 10_000, `${FULL} reported full`);
  for (let i = 0; i < 3; i++) {
    const path = `/full/after${i}`;
    t.true(await acked.put(cluster!, path, seededBytes(MiB, 800 + i)));
    for (const c of (await cluster!.stat(path)).chunks) t.false(c.replicas.includes(FULL), `${path} was placed on the full ${FULL}`);
  }
});

serial("no partial chunk on the full datanode is acknowledged, and no temp file is left", async (t) => {
  let checked = 0;
  for (const path of acked.paths()) {
    for (const c of (await cluster!.stat(path)).chunks) {
      if (!c.replicas.includes(FULL)) continue;
      const data = await readReplica(cluster!.url, FULL, c);
      t.is(await chunkChecksumOf(data), c.checksum, `${FULL}'s replica of ${c.id} is not the acknowledged chunk`);
      checked++;
    }
  }
  t.true(checked > 0, `${FULL} holds some acknowledged replicas`);
  await waitFor(() => partFiles(mountPoint).length === 0 || `not yet: ${partFiles(mountPoint).join(", ")}`, 10_000, "no .part files on the full disk");
});
repairTest("chunks that could not land on the full datanode get their third replica elsewhere", async (t) => {
  await assertReplicationRestored(t, cluster!, acked.paths(), 60_000);
  await assertAllReadBack(t, cluster!, acked);
});
