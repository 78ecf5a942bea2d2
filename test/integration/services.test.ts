/**
 * Discovery through the NATS services framework: `$SRV.PING`, `$SRV.INFO` and
 * `$SRV.STATS` see the namenode and every datanode, with their verbs as
 * endpoints, and count the requests they serve.
 */
import test from "ava";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Svcm, type ServiceClient, type ServiceIdentity, type ServiceInfo, type ServiceStats } from "@nats-io/services";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { loadConfig } from "../../config/index.js";
import { runNamenode, type NamenodeHandle } from "../../actors/namenode/index.js";
import { runDatanode, type DatanodeHandle } from "../../actors/datanode/index.js";
import { decode, encode, DATANODE_VERBS, NAMENODE_VERBS, DATANODE_SELF_VERBS } from "../../messages/index.js";

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

let server: NatsServerHandle;
let nc: NatsConnection;
let svc: ServiceClient;
let nn: NamenodeHandle;
const dns: DatanodeHandle[] = [];
const dirs: string[] = [];

test.before(async () => {
  server = await startNatsServer();
  const config = loadConfig({
    env: {},
    overrides: { nats: { url: server.url }, log: { level: "silent" }, datanode: { heartbeatIntervalMs: 200 } },
  });
  nn = await runNamenode({ config });
  for (const id of ["dn1", "dn2"]) {
    const dir = mkdtempSync(join(tmpdir(), `woods-svc-${id}-`));
    dirs.push(dir);
    dns.push(await runDatanode({ id, dirs: [dir], config }));
  }
  nc = await connect({ servers: server.url });
  svc = new Svcm(nc).client({ strategy: "timer", maxWait: 2000 });
});

test.after.always(async () => {
  await Promise.all(dns.map((d) => d.stop()));
  await nn?.stop();
  await nc?.close();
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Repeats a `$SRV` request until `n` services answered or 10 s pass: on a loaded machine one may miss the window. */
async function atLeast<T>(n: number, ask: () => Promise<AsyncIterable<T>>): Promise<T[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await collect(await ask());
    if (got.length >= n || Date.now() > deadline) return got;
  }
}

test.serial("$SRV.PING lists the namenode and every datanode with the package version", async (t) => {
  const pongs = await atLeast<ServiceIdentity>(3, () => svc.ping());
  const names = pongs.map((p) => `${p.name}/${p.metadata?.nodeId}`).sort();
  t.deepEqual(names, ["woods-datanode/dn1", "woods-datanode/dn2", `woods-namenode/nn1`]);
  t.true(pongs.every((p) => p.version === VERSION));
});

test.serial("$SRV.INFO of woods-datanode lists every datanode verb as an endpoint", async (t) => {
  const infos = await atLeast<ServiceInfo>(2, () => svc.info("woods-datanode"));
  t.is(infos.length, 2);
  for (const info of infos) {
    const id = info.metadata?.nodeId;
    t.deepEqual(
      info.endpoints.map((e) => `${e.name} ${e.subject}`).sort(),
      DATANODE_VERBS.map((v) => `${v} woods.datanode.${id}.${v}`).sort(),
    );
    // Plain subscriptions, as before: every datanode gets its own requests.
    t.true(info.endpoints.every((e) => !e.queue_group));
  }
  const [nnInfo] = await atLeast<ServiceInfo>(1, () => svc.info("woods-namenode"));
  // Plus the per-datanode heartbeat/report subjects (woods.namenode.dn.*.<verb>).
  t.deepEqual(nnInfo.endpoints.map((e) => e.name).sort(), [...NAMENODE_VERBS, ...DATANODE_SELF_VERBS.map((v) => `dn_${v}`)].sort());
});

test.serial("$SRV.STATS counts requests served, and errors in the endpoint data", async (t) => {
  const before = await atLeast<ServiceStats>(1, () => svc.stats("woods-namenode"));
  const statsBefore = before[0].endpoints?.find((e) => e.name === "stat");
  for (let i = 0; i < 3; i++) {
    const r = decode((await nc.request("woods.namenode.stat", encode({ path: `/missing-${i}` }), { timeout: 5000 })).data).value as { ok: boolean };
    t.false(r.ok);
  }
  const ping = decode((await nc.request("woods.datanode.dn2.ping", encode({}), { timeout: 5000 })).data).value as { ok: boolean };
  t.true(ping.ok);

  const [after] = await atLeast<ServiceStats>(1, () => svc.stats("woods-namenode"));
  const stat = after.endpoints?.find((e) => e.name === "stat");
  t.is(stat?.num_requests, (statsBefore?.num_requests ?? 0) + 3);
  const data = stat?.data as { completed: number; errors: number; last_error?: string };
  t.is(data.errors, ((statsBefore?.data as { errors: number } | undefined)?.errors ?? 0) + 3);
  t.regex(data.last_error ?? "", /NOT_FOUND/);

  const dnStats = await atLeast<ServiceStats>(2, () => svc.stats("woods-datanode"));
  const dn2 = dnStats.find((s) => s.metadata?.nodeId === "dn2");
  t.true((dn2?.endpoints?.find((e) => e.name === "ping")?.num_requests ?? 0) >= 1);
});

/** Pings woods-datanode until `want(ids)` holds or 10 s pass (a loaded machine answers slowly); returns the last ids. */
async function pingUntil(want: (ids: (string | undefined)[]) => boolean): Promise<(string | undefined)[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ids = (await collect<ServiceIdentity>(await svc.ping("woods-datanode"))).map((p) => p.metadata?.nodeId);
    if (want(ids) || Date.now() > deadline) return ids;
  }
}

test.serial("a stopped datanode leaves $SRV.PING", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "woods-svc-dn3-"));
  dirs.push(dir);
  const config = loadConfig({ env: {}, overrides: { nats: { url: server.url }, log: { level: "silent" } } });
  const dn3 = await runDatanode({ id: "dn3", dirs: [dir], config });
  let stopped = false;
  try {
    t.true((await pingUntil((ids) => ids.includes("dn3"))).includes("dn3"));
    await dn3.stop();
    stopped = true;
    const later = await pingUntil((ids) => !ids.includes("dn3"));
    t.false(later.includes("dn3"));
    t.true(later.includes("dn1") && later.includes("dn2"));
  } finally {
    if (!stopped) await dn3.stop();
  }
});
