/**
 * Append benchmark: 8 concurrent clients append 1 KiB records to one file (replication 3), with
 * the primary's batching on (default `datanode.appendBatchMaxBytes`) and off (one record per
 * batch), against JetStream acked publishes of 1 KiB from 8 publishers to a file stream on the
 * same nats-server (one durable copy; NATS's own way to append to a log). Each run checks that
 * the file holds every record exactly once.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { clusterUp, clusterDown } from "../cli/cluster/commands.js";
import { loadConfig } from "../config/index.js";
import { WoodsClient } from "../actors/client/index.js";
import { connectNats } from "../actors/index.js";
import { adminCreds } from "./auth.js";

export interface AppendBenchResult {
  clients: number;
  recordBytes: number;
  /** Appends/s with batching on and off, and JetStream acked publishes/s at the same concurrency. */
  batched: number;
  unbatched: number;
  jsPublish: number;
  /** Records per batch seen on average with batching on (appends / log entries). */
  records: number;
}

const CLIENTS = 8;
const RECORD_BYTES = 1024;

async function runAppends(work: string, port: number, name: string, batchMaxBytes: number | undefined, perClient: number): Promise<{ perSec: number; js?: number }> {
  const extra = join(work, `${name}.yaml`);
  writeFileSync(extra, batchMaxBytes === undefined ? "{}\n" : `datanode:\n  appendBatchMaxBytes: ${batchMaxBytes}\n`);
  const state = await clusterUp({ dir: join(work, name), datanodes: 3, replication: 3, chunkSizeBytes: 64 * 1024 * 1024, port, detach: true, extraConfigFile: extra });
  const config = loadConfig({ env: {}, overrides: { nats: { url: state.nats, creds: adminCreds(state.dir) }, log: { level: "warn" } } });
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => WoodsClient.connect(config, { name: `woods-bench-append-${i}` })));
  try {
    const path = "/bench/append.log";
    await clients[0].put((async function* () {})(), path);
    const record = (c: number, i: number) => Buffer.from(`${String(c).padStart(2, "0")}:${String(i).padStart(8, "0")}:`.padEnd(RECORD_BYTES - 1, "x") + "\n");
    // Warm-up: the first append grants the lease and warms the JIT.
    await Promise.all(clients.map((cl, c) => cl.append(record(c, 999_999), path)));
    const t0 = performance.now();
    await Promise.all(clients.map(async (cl, c) => {
      for (let i = 0; i < perClient; i++) await cl.append(record(c, i), path);
    }));
    const perSec = (CLIENTS * perClient) / ((performance.now() - t0) / 1000);
    const st = await clients[0].stat(path);
    if (st.size !== CLIENTS * (perClient + 1) * RECORD_BYTES) throw new Error(`append bench: ${path} is ${st.size} bytes, expected ${CLIENTS * (perClient + 1) * RECORD_BYTES}`);
    return { perSec };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await clusterDown(state.dir);
  }
}

async function jsPublishRate(natsUrl: string, creds: string, total: number): Promise<number> {
  const conns = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connectNats({ url: natsUrl, name: `woods-bench-js-${i}`, creds })));
  const jsm = await jetstreamManager(conns[0]);
  const stream = `BENCH_APPEND_${process.pid}`;
  const subject = `bench.append.${process.pid}`;
  await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File });
  try {
    const js = conns.map((nc) => jetstream(nc));
    const payload = new Uint8Array(RECORD_BYTES).fill(0x61);
    await Promise.all(js.map(async (j) => { for (let i = 0; i < 50; i++) await j.publish(subject, payload); }));
    const per = Math.ceil(total / CLIENTS);
    const t0 = performance.now();
    await Promise.all(js.map(async (j) => { for (let i = 0; i < per; i++) await j.publish(subject, payload); }));
    return (per * CLIENTS) / ((performance.now() - t0) / 1000);
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
    await Promise.all(conns.map((c) => c.close()));
  }
}

export async function appendBench(work: string, ports: () => Promise<number>, quick: boolean): Promise<AppendBenchResult> {
  const perClient = quick ? 50 : 500;
  const batched = await runAppends(work, await ports(), "append-batched", undefined, perClient);
  // A batch limit of one record's size means one record per batch.
  const unbatched = await runAppends(work, await ports(), "append-unbatched", RECORD_BYTES, perClient);
  // The JetStream baseline on a cluster's nats-server of its own (same binary and config).
  const extra = join(work, "append-js.yaml");
  writeFileSync(extra, "{}\n");
  const state = await clusterUp({ dir: join(work, "append-js"), datanodes: 1, replication: 1, chunkSizeBytes: 64 * 1024 * 1024, port: await ports(), detach: true, extraConfigFile: extra });
  let js = 0;
  try {
    js = await jsPublishRate(state.nats, adminCreds(state.dir), CLIENTS * perClient);
  } finally {
    await clusterDown(state.dir);
  }
  return { clients: CLIENTS, recordBytes: RECORD_BYTES, batched: batched.perSec, unbatched: unbatched.perSec, jsPublish: js, records: CLIENTS * perClient };
}

export function appendTable(r: AppendBenchResult): string {
  const mib = (perSec: number) => ((perSec * r.recordBytes) / 1024 / 1024).toFixed(2);
  return [
    `| ${r.clients} clients appending ${r.recordBytes} B records to one file (RF 3), ${r.records} appends | appends/s | MiB/s | × JetStream publish |`,
    "|---|---:|---:|---:|",
    `| JetStream acked publish (1 copy, file storage, sync always) — baseline | ${r.jsPublish.toFixed(0)} | ${mib(r.jsPublish)} | 1.00 |`,
    `| woods append, primary batching on | ${r.batched.toFixed(0)} | ${mib(r.batched)} | ${(r.batched / r.jsPublish).toFixed(2)} |`,
    `| woods append, one record per batch | ${r.unbatched.toFixed(0)} | ${mib(r.unbatched)} | ${(r.unbatched / r.jsPublish).toFixed(2)} |`,
  ].join("\n");
}
