/**
 * Metrics from real processes, switched on only by the standard OTEL_* variables: a cluster
 * started with an OTLP/HTTP (JSON) endpoint exports the namenode's and datanodes' metrics, and
 * `woods put` the client's (flushed when the command exits).
 */
import test from "ava";
import { createServer, type Server } from "node:http";
import { freePort } from "../helpers/nats-server.js";
import { startCluster, seededBytes, waitFor, type TestCluster } from "../helpers/cluster.js";

interface ExportedPoint {
  service: string;
  node: string;
  name: string;
  value: number;
  attributes: Record<string, string>;
}

type OtlpAttr = { key: string; value: { stringValue?: string; intValue?: string | number } };
type OtlpPoint = { asInt?: string | number; asDouble?: number; attributes?: OtlpAttr[] };

const points: ExportedPoint[] = [];
let server: Server;
let cluster: TestCluster;

function attrs(list: OtlpAttr[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, String(a.value.stringValue ?? a.value.intValue ?? "")]));
}

function collect(body: string): void {
  const doc = JSON.parse(body) as {
    resourceMetrics?: {
      resource?: { attributes?: OtlpAttr[] };
      scopeMetrics?: { metrics?: { name: string; gauge?: { dataPoints?: OtlpPoint[] }; sum?: { dataPoints?: OtlpPoint[] }; histogram?: { dataPoints?: ({ count?: string | number } & OtlpPoint)[] } }[] }[];
    }[];
  };
  for (const rm of doc.resourceMetrics ?? []) {
    const res = attrs(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const dps = m.gauge?.dataPoints ?? m.sum?.dataPoints ?? [];
        for (const p of dps) points.push({ service: res["service.name"], node: res["woods.node.id"], name: m.name, value: Number(p.asInt ?? p.asDouble ?? 0), attributes: attrs(p.attributes) });
        for (const p of m.histogram?.dataPoints ?? []) points.push({ service: res["service.name"], node: res["woods.node.id"], name: m.name, value: Number(p.count ?? 0), attributes: attrs(p.attributes) });
      }
    }
  }
}

/** The latest exported value of `name` from `service` whose attributes include `want`. */
function latest(service: string, name: string, want: Record<string, string> = {}): number | undefined {
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i];
    if (p.service === service && p.name === name && Object.entries(want).every(([k, v]) => p.attributes[k] === v)) return p.value;
  }
  return undefined;
}

test.before(async () => {
  const port = await freePort();
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.url === "/v1/metrics") collect(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_TRACES_EXPORTER: "none",
    OTEL_METRICS_EXPORTER: "otlp",
    OTEL_METRIC_EXPORT_INTERVAL: "500",
    OTEL_METRIC_EXPORT_TIMEOUT: "400",
    OTEL_LOGS_EXPORTER: "none",
  });
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: { datanode: { heartbeatIntervalMs: 300 } } });
});
test.after.always(async () => {
  await cluster?.down();
  server?.close();
});

test("the namenode, datanodes and a woods put export their metrics over OTLP", async (t) => {
  const data = seededBytes(2 * 1024 * 1024 + 100, 4);
  const put = await cluster.put("/otel/m.bin", data);
  t.is(put.code, 0, put.stderr);
  // The CLI flushes its metrics as it exits.
  t.is(latest("woods-client", "woods.client.put.bytes"), data.length);
  await waitFor(() => latest("woods-namenode", "woods.namenode.files") === 1 && latest("woods-namenode", "woods.namenode.chunks") === 3, 20_000, "the namenode's file and chunk counts");
  t.is(latest("woods-namenode", "woods.namenode.datanodes", { "woods.datanode.state": "alive" }), 3);
  for (const id of ["dn1", "dn2", "dn3"]) {
    await waitFor(() => latest("woods-datanode", "woods.datanode.bytes.written", { "woods.datanode.id": id, "woods.write.kind": "chunk" }) === data.length, 20_000, `${id}'s bytes written`);
  }
  // Instruments created when a module loads, before the SDK started, record too.
  await waitFor(() => (latest("woods-namenode", "woods.rpc.server.duration") ?? 0) > 0, 20_000, "the namenode's request durations");
});
