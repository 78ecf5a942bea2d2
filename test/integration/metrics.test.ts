/**
 * Metrics of one put, get and append: a real nats-server, the namenode and three datanodes run in
 * this process with an OpenTelemetry MeterProvider whose reader the test collects by hand. The
 * namenode reports the namespace and its datanodes, the datanodes the bytes they wrote and served,
 * and the client the bytes it moved.
 */
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { metrics as api } from "@opentelemetry/api";
import { metrics as sdk } from "@opentelemetry/sdk-node";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { loadConfig } from "../../config/index.js";
import { runNamenode, type NamenodeHandle } from "../../actors/namenode/index.js";
import { runDatanode, type DatanodeHandle } from "../../actors/datanode/index.js";
import { WoodsClient } from "../../actors/client/index.js";
import { seededBytes, sha256, waitFor } from "../helpers/cluster.js";

/** A reader that exports nothing by itself: the test calls collect(). */
class ManualReader extends sdk.MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new ManualReader();
const provider = new sdk.MeterProvider({ readers: [reader] });
// Before any actor starts: instruments are created from the global provider at start.
api.setGlobalMeterProvider(provider);

type Point = { value: number; attributes: Record<string, unknown> };

/** Every data point of every metric, by name (sums and gauges). */
async function collect(): Promise<Map<string, Point[]>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, Point[]>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const m of scope.metrics) {
      const points = (m.dataPoints as { value: unknown; attributes: Record<string, unknown> }[])
        .filter((p) => typeof p.value === "number")
        .map((p) => ({ value: p.value as number, attributes: p.attributes }));
      out.set(m.descriptor.name, [...(out.get(m.descriptor.name) ?? []), ...points]);
    }
  }
  return out;
}

/** The value of `name` for the point whose attributes include `attrs` (0 when none). */
function valueOf(all: Map<string, Point[]>, name: string, attrs: Record<string, unknown> = {}): number {
  const p = (all.get(name) ?? []).find((x) => Object.entries(attrs).every(([k, v]) => x.attributes[k] === v));
  return p?.value ?? 0;
}

let nats: NatsServerHandle;
let nn: NamenodeHandle;
const dns: DatanodeHandle[] = [];
const dirs: string[] = [];
let client: WoodsClient;
const DNS = ["dn1", "dn2", "dn3"];

test.before(async () => {
  nats = await startNatsServer();
  const config = loadConfig({
    env: {},
    overrides: {
      nats: { url: nats.url },
      chunkSizeBytes: 1024 * 1024,
      log: { level: "silent" },
      namenode: { safeModeMaxMs: 500, safeModeExtensionMs: 0, tickIntervalMs: 200 },
      datanode: { heartbeatIntervalMs: 200 },
    },
  });
  nn = await runNamenode({ config });
  for (const id of DNS) {
    const dir = mkdtempSync(join(tmpdir(), `woods-metrics-${id}-`));
    dirs.push(dir);
    dns.push(await runDatanode({ id, dirs: [dir], config }));
  }
  client = await WoodsClient.connect(config);
  await waitFor(async () => (await client.nodes()).filter((n) => n.state === "alive").length === 3 || null, 15_000, "3 live datanodes");
});
test.after.always(async () => {
  await client?.close();
  for (const dn of dns) await dn.stop();
  await nn?.stop();
  await nats?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await provider.shutdown();
});

test.serial("after a put the namenode reports the file and its chunks, and every datanode the bytes it wrote", async (t) => {
  const before = await collect();
  t.is(valueOf(before, "woods.namenode.files"), 0);
  t.is(valueOf(before, "woods.namenode.datanodes", { "woods.datanode.state": "alive" }), 3);
  t.is(valueOf(before, "woods.namenode.datanodes", { "woods.datanode.state": "dead" }), 0);

  const data = seededBytes(2 * 1024 * 1024 + 4321, 5);
  await client.put((async function* () { yield data; })(), "/metrics/a.bin");

  const m = await collect();
  t.is(valueOf(m, "woods.namenode.files"), 1);
  t.is(valueOf(m, "woods.namenode.chunks"), 3);
  t.true(valueOf(m, "woods.namenode.metalog.seq") > 0);
  t.is(valueOf(m, "woods.client.put.bytes"), data.length);
  for (const id of DNS) {
    // Replication 3 on three datanodes: each wrote every byte of the file, once.
    t.is(valueOf(m, "woods.datanode.bytes.written", { "woods.datanode.id": id, "woods.write.kind": "chunk" }), data.length, `${id} wrote the file`);
    t.is(valueOf(m, "woods.datanode.chunks", { "woods.datanode.id": id }), 3);
    t.is(valueOf(m, "woods.datanode.writes.active", { "woods.datanode.id": id }), 0);
    t.true(valueOf(m, "woods.datanode.disk.used", { "woods.datanode.id": id }) >= data.length);
    t.true(valueOf(m, "woods.datanode.disk.available", { "woods.datanode.id": id }) > 0);
  }
  // The namenode learns each datanode's chunk count from its next heartbeat; the watchdog's health from its next tick.
  const settled = await waitFor(async () => {
    const now = await collect();
    return DNS.every((id) => valueOf(now, "woods.namenode.datanode.chunks", { "woods.datanode.id": id }) === 3) && valueOf(now, "woods.namenode.safe_mode") === 0 ? now : null;
  }, 10_000, "heartbeats with 3 chunks from every datanode");
  for (const name of ["under_replicated", "over_replicated", "corrupt", "missing"]) t.is(valueOf(settled, `woods.namenode.chunks.${name}`), 0, name);
  t.is(valueOf(settled, "woods.namenode.repairs.inflight"), 0);
  t.is(valueOf(settled, "woods.namenode.repairs.queued"), 0);
  t.is(valueOf(settled, "woods.namenode.metalog.lag"), 0);
});

test.serial("a get counts the bytes the datanodes served and the client read; an append the bytes appended", async (t) => {
  const before = await collect();
  const readBefore = DNS.reduce((s, id) => s + valueOf(before, "woods.datanode.bytes.read", { "woods.datanode.id": id }), 0);
  const parts: Buffer[] = [];
  const r = await client.get("/metrics/a.bin", new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
  const got = Buffer.concat(parts);
  t.is(sha256(got), sha256(seededBytes(2 * 1024 * 1024 + 4321, 5)));
  const after = await collect();
  const readAfter = DNS.reduce((s, id) => s + valueOf(after, "woods.datanode.bytes.read", { "woods.datanode.id": id }), 0);
  t.is(readAfter - readBefore, r.size, "every byte was served once by some replica");
  t.is(valueOf(after, "woods.client.get.bytes"), r.size);

  const record = seededBytes(1000, 6);
  const a = await client.append(record, "/metrics/a.bin");
  t.is(a.size, record.length);
  const m = await waitFor(async () => {
    const now = await collect();
    const appended = DNS.reduce((s, id) => s + valueOf(now, "woods.datanode.bytes.written", { "woods.datanode.id": id, "woods.write.kind": "append" }), 0);
    return appended === 3 * record.length ? now : null;
  }, 10_000, "every replica counting the appended record");
  t.is(valueOf(m, "woods.client.append.bytes"), record.length);
});
