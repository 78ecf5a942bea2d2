/**
 * `npm run bench [-- --quick] [-- --size-mib N] [-- --only put|metadata|append|restart]`: woods put/get with
 * replication 3 and 1 against the NATS Object Store's own put/get of the same file on the same
 * nats-server, metadata operations/s against core request/reply and JetStream publishes, repair,
 * appends, and namenode restart time and heap (bench/restart.ts), all in one run. Prints tables and writes docs/benchmarks.md (full run only).
 */
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { freePort } from "../cli/cluster/ports.js";
import { clusterUp, clusterDown } from "../cli/cluster/commands.js";
import { loadConfig } from "../config/index.js";
import { WoodsClient } from "../actors/client/index.js";
import { connectNats } from "../actors/index.js";
import { adminCreds } from "./auth.js";
import { transferBench, transferTable, transferCpuTable } from "./transfer.js";
import { CpuMeter } from "./cpu-split.js";
import { repairBench } from "./repair.js";
import { metadataBench, metadataTable, METADATA_NOTES } from "./metadata.js";
import { appendBench, appendTable, type AppendBenchResult } from "./append.js";
import { restartBench, restartTable, RESTART_NOTES } from "./restart.js";
import { ratioChart, type RatioBar } from "./chart.js";
import type { MetadataRow } from "./metadata.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const sizeArg = args.indexOf("--size-mib");
const sizeMiB = sizeArg >= 0 ? Number(args[sizeArg + 1]) : quick ? 16 : 1024;
const rounds = quick ? 1 : 3;
const onlyArg = args.indexOf("--only");
const only = onlyArg >= 0 ? args[onlyArg + 1] : undefined;

function makeFile(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  const buf = Buffer.alloc(4 * 1024 * 1024);
  for (let done = 0; done < bytes; done += buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(buf.length, bytes - done));
  }
  closeSync(fd);
}

/** `--only metadata`: a cluster, the metadata benchmark, its table; docs/benchmarks.md untouched. */
async function metadataOnly() {
  const work = mkdtempSync(join(tmpdir(), "woods-bench-"));
  const state = await clusterUp({ dir: join(work, "cluster"), datanodes: 3, replication: 3, chunkSizeBytes: 64 * 1024 * 1024, port: await freePort(), detach: true });
  try {
    console.log(metadataTable(await metadataBench({ natsUrl: state.nats, creds: adminCreds(state.dir), quick })));
  } finally {
    await clusterDown(state.dir);
    rmSync(work, { recursive: true, force: true });
  }
}

/** `--only append`: the append benchmark and its table; docs/benchmarks.md untouched. */
async function appendOnly() {
  const work = mkdtempSync(join(tmpdir(), "woods-bench-"));
  try {
    console.log(appendTable(await appendBench(work, freePort, quick)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `--only restart [--files N] [--profile DIR]`: namenode restart time and heap, its tables;
 * docs/benchmarks.md untouched. `--files N`: one data set of N files; `--profile DIR`: CPU and heap
 * profiles of every namenode start (with window.json: the start's span on the profile's clock).
 */
async function restartOnly() {
  const work = mkdtempSync(join(tmpdir(), "woods-bench-"));
  const profArg = args.indexOf("--profile");
  const filesArg = args.indexOf("--files");
  try {
    const opts = { quick, work, ...(profArg >= 0 ? { profileDir: args[profArg + 1] } : {}), ...(filesArg >= 0 ? { files: Number(args[filesArg + 1]) } : {}) };
    console.log("\n" + restartTable(await restartBench(opts)));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A 3-datanode cluster, the put/get rounds on it and (with `withMetadata`) the metadata benchmark;
 * the cluster is taken down before returning.
 */
async function transferAndMetadata(work: string, port: number, file: string, withMetadata: boolean) {
  const state = await clusterUp({ dir: join(work, "cluster"), datanodes: 3, replication: 3, chunkSizeBytes: 64 * 1024 * 1024, port, detach: true });
  const creds = adminCreds(state.dir);
  const config = loadConfig({ overrides: { nats: { url: state.nats, creds }, log: { level: "warn" } } });
  const client = await WoodsClient.connect(config, { name: "woods-bench" });
  const staged = await WoodsClient.connect({ ...config, writePath: "staged" }, { name: "woods-bench-staged" });
  const nc = await connectNats({ url: state.nats, name: "woods-bench-baseline", creds });
  const nc2 = await connectNats({ url: state.nats, name: "woods-bench-ceiling", creds });
  try {
    const pids: Record<string, number> = {};
    if (state.natsServer.pid) pids.nats = state.natsServer.pid;
    if (state.namenode.pid) pids.namenode = state.namenode.pid;
    for (const d of state.datanodes) if (d.pid) pids[d.id] = d.pid;
    const cpu = new CpuMeter(pids);
    const transfer = await transferBench({ client, staged, nc, nc2, work, file, sizeMiB, rounds, cpu });
    const metaRows = withMetadata ? await metadataBench({ natsUrl: state.nats, creds, quick }) : [];
    return { transfer, metaRows, natsBinary: state.natsServer.binary, cpuMd: transferCpuTable(cpu) };
  } finally {
    await client.close();
    await staged.close();
    await nc.close();
    await nc2.close();
    await clusterDown(state.dir);
  }
}

/** `--only put [--size-mib N]`: the put/get table alone; docs/benchmarks.md untouched. */
async function transferOnly() {
  const work = mkdtempSync(join(tmpdir(), "woods-bench-"));
  try {
    const file = join(work, "input.bin");
    makeFile(file, sizeMiB * 1024 * 1024);
    const { transfer, cpuMd } = await transferAndMetadata(work, await freePort(), file, false);
    console.log(transferTable(transfer, sizeMiB, rounds).table + "\n\n" + cpuMd);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  if (only === "metadata") return metadataOnly();
  if (only === "append") return appendOnly();
  if (only === "restart") return restartOnly();
  if (only === "put") return transferOnly();
  if (only !== undefined) throw new Error(`--only takes "put", "metadata", "append" or "restart", not ${JSON.stringify(only)}`);
  const work = mkdtempSync(join(tmpdir(), "woods-bench-"));
  const port = await freePort();
  const file = join(work, "input.bin");
  makeFile(file, sizeMiB * 1024 * 1024);
  const { transfer, metaRows, natsBinary, cpuMd } = await transferAndMetadata(work, port, file, true);
  const metaTable = metadataTable(metaRows);
  const { table, m } = transferTable(transfer, sizeMiB, rounds);
  // Repair: a datanode holding its share of a 1 GiB file (64 MiB with --quick) dies.
  const repairMiB = quick ? 64 : 1024;
  const repairFile = join(work, "repair-input.bin");
  makeFile(repairFile, repairMiB * 1024 * 1024);
  const rep = await repairBench(work, await freePort(), repairFile, repairMiB);
  const repairTable = [
    `| repair after kill -9 of the datanode holding the most of a ${repairMiB} MiB file (4 datanodes, RF 3) | |`,
    "|---|---:|",
    `| replicas lost | ${rep.lostMiB.toFixed(0)} MiB |`,
    `| detection (heartbeat timeout, namenode.deadAfterMs) | ${(rep.detectMs / 1000).toFixed(1)} s |`,
    `| copying the lost replicas (staged repair) | ${(rep.repairMs / 1000).toFixed(1)} s |`,
    `| kill to replication restored | ${(rep.totalMs / 1000).toFixed(1)} s |`,
    `| repair throughput | ${rep.repairMiBs.toFixed(1)} MiB/s |`,
  ].join("\n");
  console.log("\n" + repairTable);
  const appendResult = await appendBench(work, freePort, quick);
  const appendMd = appendTable(appendResult);
  const chart = ratioChart(`woods vs. same-run baselines (${sizeMiB} MiB file; metadata at 64 clients)`, chartBars(m, metaRows, appendResult));
  writeFileSync(join(quick ? work : join(process.cwd(), "docs"), "benchmarks.svg"), chart);
  console.log("\n" + appendMd);
  // Namenode restart and heap (issue 5): its own nats-server and namenode processes; 100k files with --quick.
  const restartMd = restartTable(await restartBench({ quick, work }));
  console.log("\n" + restartMd);
  const natsVersion = execFileSync(natsBinary, ["--version"], { encoding: "utf8" }).trim();
  console.log(table);
  console.log("\n" + cpuMd);
  console.log("\n" + metaTable);
  if (!quick) {
    const doc = [
      "# Benchmarks",
      "",
      `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${natsVersion}.`,
      "Client, nats-server, namenode and 3 datanodes on one machine; every replica is written and fsynced.",
      "The baseline is measured in the same run on the same nats-server (`sync_interval: always`).",
      "",
      table,
      "",
      "![ratios against the same-run baselines, with targets](benchmarks.svg)",
      "",
      "Where the CPU went (each process's CPU time over the operation; the rest is the kernel's own threads, mostly page-cache",
      "writeback; why the figures are what they are: [write-path.md](write-path.md)):",
      "",
      cpuMd,
      "",
      "Metadata operations/s: raw namenode requests (msgpack via `call()`, no client retries), callers spread over up to 4 NATS connections;",
      "create is one request (`create {empty: true}`: created and completed in one log batch, as `woods put` of an empty source does).",
      "Every figure is the median of three runs after a warm-up of each operation. Baselines at the same concurrency on the same",
      "connections: core request/reply of 100 B to an echo subscriber in the bench process, and JetStream acked publishes of 100 B",
      "to a file-storage stream.",
      "",
      metaTable,
      "",
      METADATA_NOTES,
      "",
      repairTable,
      "",
      "Appends (docs/append.md): each client waits for its append before sending the next; batching on means the primary writes every",
      "record that arrived while its previous batch was in flight as one write per replica and one log entry.",
      "",
      appendMd,
      "",
      "Namenode restart and memory: a restart loads the newest snapshot and replays the log after it (targets: < 5 s with 1M files in the",
      "log, ≤ 300 bytes of namenode heap per chunk).",
      "",
      restartMd,
      "",
      RESTART_NOTES,
      "",
      "Where the time goes in puts and gets, and why repairs pass through memory: [write-path.md](write-path.md).",
      "",
    ].join("\n");
    writeFileSync(join(process.cwd(), "docs", "benchmarks.md"), doc);
  }
  rmSync(work, { recursive: true, force: true });
}

/** The ratio bars of docs/benchmarks.svg, with the targets of the performance issue. */
function chartBars(m: Record<string, number>, meta: MetadataRow[], app: AppendBenchResult): RatioBar[] {
  const at64 = (op: string) => meta.find((r) => r.clients === 64 && r.op.startsWith(op));
  const bars: RatioBar[] = [
    { label: "put RF 3 ÷ Object Store put", ratio: m.rf3_put / m.os_put, target: 1.0 },
    { label: "put RF 1 ÷ Object Store put", ratio: m.rf1_put / m.os_put, target: 1.5 },
    { label: "put RF 3 staged ÷ Object Store put", ratio: m.staged_put / m.os_put },
    { label: "get RF 3 ÷ Object Store get", ratio: m.rf3_get / m.os_get, target: 1.0 },
    { label: "get RF 1 ÷ Object Store get", ratio: m.rf1_get / m.os_get, target: 1.0 },
  ];
  const stat = at64("stat");
  if (stat) bars.push({ label: "stat ÷ request/reply (64 clients)", ratio: stat.opsPerSec / stat.reqReply, target: 0.7 });
  const create = at64("create");
  if (create) bars.push({ label: "creates/s ÷ 10,000 (64 clients)", ratio: create.opsPerSec / 10_000, target: 1.0 });
  if (create) bars.push({ label: "create ÷ JetStream acked publish (64)", ratio: create.opsPerSec / create.jsPublish });
  bars.push({ label: "append 1 KiB × 8 ÷ JetStream publish", ratio: app.batched / app.jsPublish });
  return bars;
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
