/**
 * One `put` is one trace across the three actor kinds: a real nats-server, the namenode and
 * three datanodes run in this process with an in-memory span exporter, and the trace context
 * travels only in NATS headers (each actor has its own NATS connection).
 */
import test from "ava";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { node, tracing } from "@opentelemetry/sdk-node";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { loadConfig } from "../../config/index.js";
import { runNamenode, type NamenodeHandle } from "../../actors/namenode/index.js";
import { runDatanode, type DatanodeHandle } from "../../actors/datanode/index.js";
import { WoodsClient } from "../../actors/client/index.js";
import { telemetryWanted } from "../../actors/telemetry.js";
import { seededBytes, sha256, waitFor } from "../helpers/cluster.js";
import { Writable } from "node:stream";

const exporter = new tracing.InMemorySpanExporter();
const provider = new node.NodeTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] });
provider.register();

let nats: NatsServerHandle;
let nn: NamenodeHandle;
const dns: DatanodeHandle[] = [];
const dirs: string[] = [];
let client: WoodsClient;

test.before(async () => {
  nats = await startNatsServer();
  const config = loadConfig({
    env: {},
    overrides: { nats: { url: nats.url }, chunkSizeBytes: 1024 * 1024, log: { level: "silent" }, namenode: { safeModeMaxMs: 500, safeModeExtensionMs: 0 } },
  });
  nn = await runNamenode({ config });
  for (const id of ["dn1", "dn2", "dn3"]) {
    const dir = mkdtempSync(join(tmpdir(), `woods-otel-${id}-`));
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

test.serial("telemetry is off unless an OTEL_* exporter variable is set", (t) => {
  t.false(telemetryWanted({}));
  t.true(telemetryWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }));
  t.false(telemetryWanted({ OTEL_TRACES_EXPORTER: "none" }));
  t.false(telemetryWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_SDK_DISABLED: "true" }));
});

test.serial("one put is one connected trace: client → namenode → every datanode", async (t) => {
  exporter.reset();
  const data = seededBytes(2 * 1024 * 1024 + 12345, 7);
  await client.put((async function* () { yield data; })(), "/traced/file.bin");
  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === "woods.put");
  t.truthy(root, "the client's put span");
  const traceId = root!.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const ids = new Set(inTrace.map((s) => s.spanContext().spanId));
  // Connected: every span but the root has its parent in the same trace.
  for (const s of inTrace) {
    if (s === root) continue;
    const parentId = s.parentSpanContext?.spanId;
    t.true(parentId !== undefined && ids.has(parentId), `span ${s.name} hangs off the trace`);
  }
  const served = (actor: string) => inTrace.filter((s) => s.attributes["woods.actor"] === actor).map((s) => `${s.attributes["woods.node.id"]}:${s.name}`);
  const nnSpans = served("namenode");
  for (const verb of ["create", "allocate", "commit", "complete"]) t.true(nnSpans.some((n) => n.endsWith(`woods.${verb}`)), `namenode served ${verb} in the trace: ${nnSpans.join(", ")}`);
  const dnNodes = new Set(inTrace.filter((s) => s.attributes["woods.actor"] === "datanode").map((s) => s.attributes["woods.node.id"]));
  t.deepEqual([...dnNodes].sort(), ["dn1", "dn2", "dn3"], "every replica's datanode served part of the put");
  // The reads of a get form their own trace and return the same bytes.
  exporter.reset();
  const parts: Buffer[] = [];
  await client.get("/traced/file.bin", new Writable({ write(c, _e, cb) { parts.push(c); cb(); } }));
  t.is(sha256(Buffer.concat(parts)), sha256(data));
  const get = exporter.getFinishedSpans().find((s) => s.name === "woods.get");
  t.truthy(get);
  t.true(exporter.getFinishedSpans().some((s) => s.attributes["woods.actor"] === "datanode" && s.name === "woods.read" && s.spanContext().traceId === get!.spanContext().traceId));
});
