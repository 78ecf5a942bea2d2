/**
 * `woods cluster up --nats-servers 3 --namenodes 2 --zones a,b`: three routed nats-servers, an active
 * and a standby namenode, datanodes in zones; what `cluster status --json` says about them; stopping
 * and starting one nats-server or the active namenode by name. And the same three servers with
 * `--tls`: routes use TLS with the cluster's CA too.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startCluster, authFor, seededBytes, sha256, waitFor, type TestCluster, type ClusterStatus } from "../helpers/cluster.js";
import { subjects } from "../../messages/index.js";

/** Other servers each server is routed to, by id, from its own /routez (pooled routes counted once). */
async function routedPeers(status: ClusterStatus): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const s of status.natsServers.filter((n) => n.running)) {
    const routez = (await (await fetch(`http://127.0.0.1:${s.httpPort}/routez`)).json()) as { server_name: string; routes: { remote_name: string }[] };
    if (routez.server_name !== `woods-${s.id}`) throw new Error(`the server on port ${s.httpPort} is ${routez.server_name}, not woods-${s.id}`);
    out[s.id] = [...new Set(routez.routes.map((r) => r.remote_name))].sort();
  }
  return out;
}

async function putGet(t: import("ava").ExecutionContext, cluster: TestCluster, path: string, seed: number): Promise<void> {
  const data = seededBytes(700_000 + seed, seed);
  const put = await cluster.put(path, data);
  t.is(put.code, 0, put.stderr);
  const got = await cluster.woods(["get", path, "-"]);
  t.is(got.code, 0, got.stderr);
  t.is(sha256(got.stdout), sha256(data), `${path} reads back`);
}

test.serial("three nats-servers, two namenodes, zones: status, routes, replicas; stop/start of a nats-server and of the active namenode", async (t) => {
  const cluster = await startCluster({ natsServers: 3, namenodes: 2, datanodes: 3, replication: 3, zones: ["a", "b"] });
  t.teardown(() => cluster.down());

  const raw = await cluster.woods(["cluster", "status", "--json"]);
  const status = JSON.parse(raw.stdout.toString()) as ClusterStatus;
  t.deepEqual(status.natsServers.map((s) => s.id), ["nats-1", "nats-2", "nats-3"]);
  t.true(status.natsServers.every((s) => s.running && typeof s.pid === "number" && s.routes === 2 && typeof s.routePort === "number"));
  t.is(status.nats, status.natsServers.map((s) => s.url).join(","));
  t.is(cluster.env.WOODS_NATS, status.nats, "client commands get every server's URL");
  t.deepEqual({ pid: status.natsServer.pid, url: status.natsServer.url }, { pid: status.natsServers[0]!.pid, url: status.natsServers[0]!.url });
  t.deepEqual(status.namenodes.map((n) => [n.id, n.role, n.running]), [["nn1", "active", true], ["nn2", "standby", true]]);
  t.like(status.namenode, { id: "nn1", role: "active", running: true });
  t.deepEqual(status.datanodes.map((d) => [d.id, d.zone]), [["dn1", "a"], ["dn2", "b"], ["dn3", "a"]]);
  // Every server is routed to both others.
  t.deepEqual(await routedPeers(status), {
    "nats-1": ["woods-nats-2", "woods-nats-3"],
    "nats-2": ["woods-nats-1", "woods-nats-3"],
    "nats-3": ["woods-nats-1", "woods-nats-2"],
  });
  // The route password stays in the 0600 files: not in status, not in woods.yaml.
  const route = JSON.parse(readFileSync(join(cluster.dir, "creds", "route.creds"), "utf8")) as { password: string };
  t.true(route.password.length >= 32);
  t.false(raw.stdout.toString().includes(route.password));
  const yamlText = readFileSync(join(cluster.dir, "woods.yaml"), "utf8");
  t.false(yamlText.includes(route.password));
  t.true(readFileSync(join(cluster.dir, "nats-server.conf"), "utf8").includes(route.password));
  const yaml = parseYaml(yamlText) as { nats: { url: string }; namenode: { logReplicas: number }; stagingReplicas: number };
  t.is(yaml.nats.url, status.nats);
  t.is(yaml.namenode.logReplicas, 3);
  t.is(yaml.stagingReplicas, 3);
  // The datanodes report their zones to the namenode.
  t.deepEqual((await cluster.nodes()).map((n) => [n.id, (n as { zone?: string }).zone]).sort(), [["dn1", "a"], ["dn2", "b"], ["dn3", "a"]]);

  await putGet(t, cluster, "/ha/a.bin", 1);
  // The metadata log is kept on all three servers.
  const nc = await connect({ servers: cluster.url.split(","), ...authFor(cluster.url, "admin") });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(subjects("woods").metaStream());
    t.is(info.config.num_replicas, 3);
    t.is(info.cluster?.replicas?.length, 2, JSON.stringify(info.cluster));
  } finally {
    await nc.close();
  }

  // One nats-server stopped: the others lose a route, the cluster keeps serving; started again, it rejoins.
  await cluster.ok(["cluster", "stop", "nats-2"]);
  const without = await cluster.status();
  t.deepEqual(without.natsServers.map((s) => [s.id, s.running]), [["nats-1", true], ["nats-2", false], ["nats-3", true]]);
  await waitFor(async () => {
    const s = await cluster.status();
    return s.natsServers.filter((n) => n.running).every((n) => n.routes === 1) || `not yet: ${JSON.stringify(s.natsServers.map((n) => n.routes))}`;
  }, 15_000, "routes to nats-2 gone");
  await putGet(t, cluster, "/ha/b.bin", 2);
  await cluster.ok(["cluster", "start", "nats-2"]);
  const rejoined = await cluster.status();
  t.true(rejoined.natsServers.every((s) => s.running && s.routes === 2), JSON.stringify(rejoined.natsServers));
  t.deepEqual((await routedPeers(rejoined))["nats-2"], ["woods-nats-1", "woods-nats-3"]);
  const again = await cluster.woods(["cluster", "start", "nats-2"]);
  t.is(again.code, 1, "starting a running server is refused");
  t.regex(again.stderr, /already running/);

  // `stop namenode` stops the active one; the standby takes over; `start namenode` brings it back as a standby.
  await cluster.ok(["cluster", "stop", "namenode"]);
  const takenOver = (await waitFor(async (): Promise<ClusterStatus | string> => {
    const s = await cluster.status();
    return s.namenode.id === "nn2" && s.namenode.role === "active" ? s : `not yet: ${JSON.stringify(s.namenodes)}`;
  }, 30_000, "nn2 active")) as ClusterStatus;
  t.deepEqual(takenOver.namenodes.map((n) => [n.id, n.role, n.running]), [["nn1", null, false], ["nn2", "active", true]]);
  await putGet(t, cluster, "/ha/c.bin", 3);
  await cluster.ok(["cluster", "start", "namenode"]);
  const both = await cluster.status();
  t.deepEqual(both.namenodes.map((n) => [n.id, n.role]), [["nn1", "standby"], ["nn2", "active"]]);
  // `woods namenodes` (any client, no cluster dir needed) names them too.
  const nns = JSON.parse((await cluster.ok(["namenodes", "--json"])).stdout.toString()) as { active: { id: string; epoch: number } | null; standby: { id: string; standby?: boolean } | null };
  t.is(nns.active?.id, "nn2");
  t.true(nns.active!.epoch >= 2, "a takeover bumped the epoch");
  t.like(nns.standby, { id: "nn1", standby: true });
  for (const [i, p] of ["/ha/a.bin", "/ha/b.bin", "/ha/c.bin"].entries()) {
    const got = await cluster.ok(["get", p, "-"]);
    t.is(sha256(got.stdout), sha256(seededBytes(700_001 + i, i + 1)));
  }
  const bad = await cluster.woods(["cluster", "stop", "nats-7"]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /no node nats-7 .*nats-1, nats-2, nats-3.*nn1, nn2/);
});

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

test.serial("with --tls, the routes between the three servers use TLS with the cluster's CA, and puts work", async (t) => {
  const pki = mkdtempSync(join(tmpdir(), "woods-pki-"));
  t.teardown(() => rmSync(pki, { recursive: true, force: true }));
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=woods-ca", "-keyout", "ca-key.pem", "-out", "ca.pem"], pki);
  for (const [out, cn] of [["server", "woods-nats"], ["client", "woods-client"]]) {
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${cn}`, "-keyout", `${out}-key.pem`, "-out", `${out}.csr`], pki);
    // Routes present the server certificate as a client too: it needs both usages.
    writeFileSync(join(pki, `${out}.ext`), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
    openssl(["x509", "-req", "-in", `${out}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", `${out}.ext`, "-out", `${out}-cert.pem`], pki);
  }
  const cluster = await startCluster({ natsServers: 3, datanodes: 2, replication: 2, tlsDir: pki });
  t.teardown(() => cluster.down());
  const status = await cluster.status();
  t.true(status.natsServers.every((s) => s.url.startsWith("tls://") && s.routes === 2), JSON.stringify(status.natsServers));
  for (const s of status.natsServers) {
    const varz = (await (await fetch(`http://127.0.0.1:${s.httpPort}/varz`)).json()) as { cluster: { tls_required?: boolean; tls_verify?: boolean } };
    t.true(varz.cluster.tls_required, `${s.id} requires TLS on routes`);
    t.true(varz.cluster.tls_verify, `${s.id} verifies route certificates`);
  }
  await putGet(t, cluster, "/tls/a.bin", 5);
});
