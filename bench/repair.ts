/**
 * Repair benchmark: a datanode holding `sizeMiB` of chunks is killed -9; how long until every
 * chunk has its replication factor again, and at what rate the watchdog copied the lost replicas.
 * Default timers (deadAfterMs 10 s) so the figure is what a user sees; detection and copy are
 * reported separately.
 */
import { writeFileSync, createReadStream } from "node:fs";
import { join } from "node:path";
import { clusterUp, clusterDown, clusterStop } from "../cli/cluster/commands.js";
import { loadConfig } from "../config/index.js";
import { WoodsClient } from "../actors/client/index.js";
import { adminCreds } from "./auth.js";

export interface RepairResult {
  lostMiB: number;
  detectMs: number;
  repairMs: number;
  totalMs: number;
  repairMiBs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function repairBench(work: string, port: number, file: string, sizeMiB: number): Promise<RepairResult> {
  const extra = join(work, "repair.yaml");
  // More repairs at once than the conservative defaults, still within what 4 small datanodes take.
  writeFileSync(extra, "namenode:\n  repairInflightPerNodeMax: 4\n");
  const state = await clusterUp({
    dir: join(work, "repair-cluster"), datanodes: 4, replication: 3, chunkSizeBytes: 64 * 1024 * 1024, port, detach: true, extraConfigFile: extra,
  });
  const config = loadConfig({ overrides: { nats: { url: state.nats, creds: adminCreds(state.dir) }, log: { level: "warn" } } });
  const client = await WoodsClient.connect(config, { name: "woods-bench-repair" });
  try {
    await client.put(createReadStream(file, { highWaterMark: 1 << 20 }), "/repair/big.bin", { replication: 3 });
    const stat = await client.stat("/repair/big.bin");
    const held = new Map<string, number>();
    for (const c of stat.chunks) for (const dn of c.replicas) held.set(dn, (held.get(dn) ?? 0) + c.size);
    const [victim, lostBytes] = [...held].sort((a, b) => b[1] - a[1])[0];
    const t0 = performance.now();
    await clusterStop(victim, state.dir, true);
    let detectMs = 0;
    for (;;) {
      const now = performance.now() - t0;
      if (!detectMs && (await client.nodes()).find((n) => n.id === victim)?.state === "dead") detectMs = now;
      if (detectMs) {
        const s = await client.stat("/repair/big.bin");
        if (s.chunks.every((c) => c.replicas.length >= 3 && !c.replicas.includes(victim))) break;
      }
      if (now > 15 * 60_000) throw new Error("replication was not restored within 15 minutes");
      await sleep(100);
    }
    const totalMs = performance.now() - t0;
    const repairMs = totalMs - detectMs;
    const lostMiB = lostBytes / 1024 / 1024;
    return { lostMiB, detectMs, repairMs, totalMs, repairMiBs: lostMiB / (repairMs / 1000) };
  } finally {
    await client.close();
    await clusterDown(state.dir);
  }
}
