/**
 * OpenTelemetry across real processes, switched on only by the standard OTEL_* variables: a
 * cluster started with an OTLP/HTTP (JSON) endpoint exports spans from the namenode and the
 * datanodes, and `woods put` exports the client's; they share one trace id.
 */
import test from "ava";
import { createServer, type Server } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../helpers/nats-server.js";
import { startCluster, seededBytes, waitFor, type TestCluster } from "../helpers/cluster.js";

interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
}

const spans: ExportedSpan[] = [];
let server: Server;
let cluster: TestCluster;

function collect(body: string): void {
  const doc = JSON.parse(body) as {
    resourceSpans?: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string }[] }[] }[];
  };
  for (const rs of doc.resourceSpans ?? []) {
    const service = rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "?";
    for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? "", name: s.name });
  }
}

test.before(async () => {
  const port = await freePort();
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.url === "/v1/traces") collect(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "200",
    OTEL_METRIC_EXPORT_INTERVAL: "1000",
    OTEL_LOGS_EXPORTER: "none",
  });
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB" });
});
test.after.always(async () => {
  await cluster?.down();
  server?.close();
});

test("one woods put is one trace over the client, namenode and datanode processes; log lines carry its id", async (t) => {
  await cluster.ok(["put", "-", "/otel/a.bin"], { input: seededBytes(1536 * 1024, 3) });
  const root = await waitFor(() => spans.find((s) => s.service === "woods-client" && s.name === "woods.put"), 15_000, "the client's put span");
  const wanted = ["woods-namenode woods.create", "woods-namenode woods.commit", "woods-namenode woods.complete", "woods-datanode woods.close"];
  // Each process exports in its own batches: wait until every wanted span has arrived (or time out and say which are missing).
  const inTrace = () => spans.filter((s) => s.traceId === root.traceId);
  const trace = await waitFor(() => {
    const names = new Set(inTrace().map((s) => `${s.service} ${s.name}`));
    return wanted.every((w) => names.has(w)) ? inTrace() : null;
  }, 15_000, "namenode and datanode spans in the put's trace").catch(() => inTrace());
  const names = new Set(trace.map((s) => `${s.service} ${s.name}`));
  for (const want of wanted) {
    t.true(names.has(want), `${want} in ${[...names].join(", ")}`);
  }
  // Spans arrive in batches from several processes (and background work started inside the put, such
  // as a datanode's chunk report, may end after it): wait until every parent has arrived.
  const connected = await waitFor(() => {
    const all = spans.filter((s) => s.traceId === root.traceId);
    const ids = new Set(all.map((s) => s.spanId));
    return all.every((s) => s === root || ids.has(s.parentSpanId)) ? all : null;
  }, 15_000, "every span's parent exported").catch(() => undefined);
  const all = connected ?? spans.filter((s) => s.traceId === root.traceId);
  const ids = new Set(all.map((s) => s.spanId));
  for (const s of all) if (s !== root) t.true(ids.has(s.parentSpanId), `${s.service} ${s.name} has its parent in the trace`);
  // Log lines written while serving the put name its trace.
  const logs = readdirSync(join(cluster.dir, "logs")).map((f) => readFileSync(join(cluster.dir, "logs", f), "utf8")).join("\n");
  t.true(logs.includes(`"traceId":"${root.traceId}"`), "some actor log line carries the put's trace id");
});
