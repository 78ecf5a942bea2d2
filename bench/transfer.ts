/**
 * Put and get of one file: the Object Store's own put/get (the baseline), woods put/get with replication 3 and 1,
 * a staged put, and `cp` + `sync`, in rounds; every woods get is checked by SHA-256 against the source.
 */
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { fileSource, type WoodsClient } from "../actors/client/index.js";
import { objectStorePutGet } from "./objectstore.js";
import { cpuTable, type CpuMeter } from "./cpu-split.js";
import { median } from "./stats.js";

export type TransferKey = "os_put" | "os_get" | "rf3_put" | "rf3_get" | "rf1_put" | "rf1_get" | "staged_put" | "cp" | "transport";

export interface TransferOptions {
  /** Direct-path client and staged-path client, both connected to the cluster. */
  client: WoodsClient;
  staged: WoodsClient;
  /** A plain connection for the Object Store baseline and the transport ceiling. */
  nc: NatsConnection;
  /** A second plain connection: the transport ceiling's subscriber. */
  nc2: NatsConnection;
  work: string;
  file: string;
  sizeMiB: number;
  rounds: number;
  /** Measures where the CPU goes in each timed operation (absent: not measured). */
  cpu?: CpuMeter;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(path, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest("hex");
}

/** MiB/s of each transfer, one figure per round. */
export async function transferBench(o: TransferOptions): Promise<Record<TransferKey, number[]>> {
  const { client, staged, nc, work, file, sizeMiB: mib } = o;
  const around = <T>(key: string, fn: () => Promise<T>): Promise<T> => (o.cpu ? o.cpu.measure(key, fn) : fn());
  const out = join(work, "output.bin");
  const want = await sha256File(file);
  const results: Record<TransferKey, number[]> = { os_put: [], os_get: [], rf3_put: [], rf3_get: [], rf1_put: [], rf1_get: [], staged_put: [], cp: [], transport: [] };
  for (let r = 0; r < o.rounds; r++) {
    results.transport.push(await transportCeiling(nc, o.nc2, mib));
    const os = await objectStorePutGet(nc, file, out, mib * 1024 * 1024, around);
    results.os_put.push(os.putMiBs);
    results.os_get.push(os.getMiBs);
    for (const rf of [3, 1] as const) {
      const remote = `/bench/r${r}-rf${rf}.bin`;
      let t = performance.now();
      // As `woods put FILE` reads it: whole chunks straight from the file.
      await around(`rf${rf}_put`, () => client.put(fileSource(file, client.config.chunkSizeBytes), remote, { replication: rf }));
      results[`rf${rf}_put`].push(mib / ((performance.now() - t) / 1000));
      t = performance.now();
      await around(`rf${rf}_get`, async () => {
        const sink = createWriteStream(out);
        await client.get(remote, sink);
        await new Promise<void>((res, rej) => sink.end((e?: Error | null) => (e ? rej(e) : res())));
      });
      results[`rf${rf}_get`].push(mib / ((performance.now() - t) / 1000));
      if ((await sha256File(out)) !== want) throw new Error(`woods get of ${remote} returned different bytes`);
      await client.rm(remote);
    }
    {
      const t = performance.now();
      await around("staged_put", () => staged.put(fileSource(file, staged.config.chunkSizeBytes), `/bench/r${r}-staged.bin`, { replication: 3 }));
      results.staged_put.push(mib / ((performance.now() - t) / 1000));
      await client.rm(`/bench/r${r}-staged.bin`);
    }
    const t = performance.now();
    execFileSync("cp", [file, join(work, "copy.bin")]);
    execFileSync("sync");
    results.cp.push(mib / ((performance.now() - t) / 1000));
    rmSync(join(work, "copy.bin"));
  }
  return results;
}

/**
 * The transport ceiling: core NATS publishes of `max_payload`-sized messages from one connection
 * to a subscriber on another, through the same server; MiB/s until the subscriber has them all.
 */
export async function transportCeiling(pub: NatsConnection, subConn: NatsConnection, mib: number): Promise<number> {
  const size = pub.info?.max_payload ?? 1024 * 1024;
  const count = Math.max(1, Math.ceil((mib * 1024 * 1024) / size));
  const payload = new Uint8Array(size).fill(0x5a);
  const subject = `bench.ceiling.${process.pid}.${Date.now()}`;
  // Core NATS drops messages for a subscriber that falls too far behind (a slow consumer), so the
  // publisher stays at most WINDOW messages ahead of what the subscriber has taken.
  const WINDOW = 8;
  const STALL_MS = 30_000;
  let got = 0;
  let wake: (() => void) | null = null;
  const sub = subConn.subscribe(subject, {
    callback: () => {
      got++;
      wake?.();
    },
  });
  await subConn.flush();
  const until = async (n: number) => {
    while (got < n) {
      const before = got;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        wake = r;
        timer = setTimeout(r, STALL_MS);
      });
      clearTimeout(timer);
      wake = null;
      if (got === before) throw new Error(`transport ceiling: the subscriber got ${got} of ${count} messages and nothing for ${STALL_MS} ms (dropped as a slow consumer?)`);
    }
  };
  const t = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      await until(i - WINDOW);
      pub.publish(subject, payload);
    }
    await until(count);
  } finally {
    sub.unsubscribe();
  }
  const ms = performance.now() - t;
  return (count * size) / 1024 / 1024 / (ms / 1000);
}

/** Where the CPU went in the last round of each transfer. */
export function transferCpuTable(cpu: CpuMeter): string {
  return cpuTable(cpu, [
    ["os_put", "Object Store put"],
    ["rf3_put", "woods put, replication 3"],
    ["rf1_put", "woods put, replication 1"],
    ["staged_put", "woods put, replication 3, staged"],
    ["os_get", "Object Store get"],
    ["rf3_get", "woods get, replication 3"],
    ["rf1_get", "woods get, replication 1"],
  ]);
}

/** The put/get table: median MiB/s and the ratio to the Object Store's figure of the same direction. */
export function transferTable(results: Record<TransferKey, number[]>, sizeMiB: number, rounds: number): { table: string; m: Record<TransferKey, number> } {
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<TransferKey, number>;
  const put = (v: number) => (v / m.os_put).toFixed(2);
  const get = (v: number) => (v / m.os_get).toFixed(2);
  const ceil = (v: number) => (v / m.transport).toFixed(2);
  const rows: [string, number, string, string, string][] = [
    ["Object Store put (native SHA-256, 1 MiB chunks)", m.os_put, "1.00 (baseline)", ceil(m.os_put), ""],
    ["woods put, replication 3 (direct)", m.rf3_put, put(m.rf3_put), ceil(m.rf3_put), `≥ 1.0 (${m.rf3_put >= m.os_put ? "met" : "not met"})`],
    ["woods put, replication 1 (direct)", m.rf1_put, put(m.rf1_put), ceil(m.rf1_put), `≥ 1.5 (${m.rf1_put >= 1.5 * m.os_put ? "met" : "not met"})`],
    ["woods put, replication 3 (staged via Object Store)", m.staged_put, put(m.staged_put), ceil(m.staged_put), ""],
    ["Object Store get", m.os_get, "1.00 (baseline)", ceil(m.os_get), ""],
    ["woods get, replication 3", m.rf3_get, get(m.rf3_get), ceil(m.rf3_get), `≥ 1.0 (${m.rf3_get >= m.os_get ? "met" : "not met"})`],
    ["woods get, replication 1", m.rf1_get, get(m.rf1_get), ceil(m.rf1_get), `≥ 1.0 (${m.rf1_get >= m.os_get ? "met" : "not met"})`],
    ["core NATS publish of max_payload messages to one subscriber (transport ceiling)", m.transport, "-", "1.00", ""],
    ["cp + sync of the file (disk)", m.cp, "-", "-", ""],
  ];
  const table = [
    `| what (${sizeMiB} MiB file, median of ${rounds}) | MiB/s | ratio to Object Store (same direction) | ratio to transport ceiling | target |`,
    "|---|---:|---:|---:|---|",
    ...rows.map(([w, v, r, c, tg]) => `| ${w} | ${v.toFixed(1)} | ${r} | ${c} | ${tg} |`),
  ].join("\n");
  return { table, m };
}
