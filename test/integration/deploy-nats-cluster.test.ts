/**
 * The docker-compose.yml deployment run as processes (no Docker engine here): the secrets generator
 * (cli/deploy-secrets.ts) writes the credentials and the one nats-server config; three real
 * nats-servers start on it with each compose service's environment (ports moved to free loopback
 * ports), and the woods services run their compose command lines with their compose environment and
 * their own credentials file. Checks that the servers form one cluster and refuse anonymous
 * connections, that the metadata log gets three replicas from deploy/config/woods.yaml, that a put
 * reads back byte for byte and that the dashboard sees every datanode. WOODS_KEEP_TMP=1 keeps the
 * temp dir (every process's log) for a look.
 */
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { writeDeploySecrets } from "../../cli/deploy-secrets.js";
import { credsFile } from "../../cli/cluster/auth.js";
import { natsServerBinary, freePort } from "../helpers/nats-server.js";
import { ROOT, WOODS, runWoods, waitFor, seededBytes, sha256 } from "../helpers/cluster.js";
import { subjects } from "../../messages/index.js";

type Env = Record<string, string>;
interface Service {
  image?: string;
  command?: string[];
  environment?: Env;
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { type: string; source: string; target: string })[];
}
const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
};
const nats = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith("nats:"));
// The long-running woods services (not the on-demand tools).
const actors = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith("whispering-woods") && ["namenode", "datanode", "dashboard"].includes(s.command?.[0] ?? ""));

const dir = mkdtempSync(join(tmpdir(), "woods-deploy-it-"));
const procs: ChildProcess[] = [];
let servers: { name: string; port: number; httpPort: number; routePort: number }[] = [];
let url = "";
let generatedDir = "";
let dashboardPort = 0;

/** The generated file behind a compose secret (compose reads it from ./deploy/secrets). */
function secretFile(name: string): string {
  return join(generatedDir, relative("./deploy/secrets", compose.secrets[name]!.file));
}

/** Container paths of a service → paths here: bind mounts to the repo, named volumes to temp dirs. */
function translate(s: Service, containerPath: string): string {
  for (const v of s.volumes ?? []) {
    const m = typeof v === "string" ? { source: v.split(":")[0]!, target: v.split(":")[1]!, type: "" } : v;
    if (containerPath !== m.target && !containerPath.startsWith(m.target + "/")) continue;
    const rest = relative(m.target, containerPath);
    return m.source.startsWith(".") ? join(ROOT, m.source, rest) : join(dir, "volumes", m.source, rest);
  }
  for (const sec of s.secrets ?? []) {
    const name = typeof sec === "string" ? sec : sec.source;
    const target = typeof sec === "string" ? sec : (sec.target ?? sec.source);
    if (containerPath === `/run/secrets/${target}`) return secretFile(name);
  }
  return containerPath;
}

function start(name: string, cmd: string, args: string[], env: Env): void {
  const log = openSync(join(dir, `${name}.log`), "a");
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", log, log] });
  closeSync(log);
  procs.push(p);
}

test.before(async () => {
  servers = [];
  for (const [name] of nats) servers.push({ name, port: await freePort(), httpPort: await freePort(), routePort: await freePort() });
  url = servers.map((s) => `nats://127.0.0.1:${s.port}`).join(",");
  generatedDir = join(dir, "secrets");
  writeDeploySecrets({ outDir: generatedDir, owner: null, routes: servers.map((s) => `127.0.0.1:${s.routePort}`) });
  const binary = natsServerBinary();
  for (const [name, s] of nats) {
    const me = servers.find((x) => x.name === name)!;
    const store = join(dir, "volumes", `${name}-store`);
    mkdirSync(store, { recursive: true });
    const env: Env = {
      ...s.environment,
      WOODS_NATS_HOST: "127.0.0.1",
      WOODS_NATS_PORT: String(me.port),
      WOODS_NATS_HTTP_PORT: String(me.httpPort),
      WOODS_NATS_ROUTE_PORT: String(me.routePort),
      WOODS_NATS_STORE: store,
      WOODS_NATS_MAX_FILE_STORE: "4GB",
    };
    start(name, binary, (s.command ?? []).map((a) => translate(s, a)), env);
  }
  for (const srv of servers) {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${srv.httpPort}/healthz`)).ok, 30_000, `${srv.name} healthy`);
  }
  for (const [name, s] of actors) {
    const env: Env = {};
    for (const [k, v] of Object.entries(s.environment ?? {})) env[k] = k === "WOODS_NATS" ? url : translate(s, v);
    const args = (s.command ?? []).map((a) => translate(s, a));
    if (args[0] === "datanode") mkdirSync(args[args.indexOf("--dir") + 1]!, { recursive: true });
    if (args[0] === "dashboard") {
      // Its published port moves to a free loopback one.
      dashboardPort = await freePort();
      args[args.indexOf("--host") + 1] = "127.0.0.1";
      args[args.indexOf("--port") + 1] = String(dashboardPort);
    }
    start(name, process.execPath, [WOODS, ...args], { ...env, WOODS_LOG_FORMAT: "json" });
  }
});

test.after.always(async () => {
  // Actors first, then the servers (the reverse of the start), each given a moment to stop cleanly.
  for (const p of [...procs].reverse()) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  }
  if (!process.env.WOODS_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
});

function clientEnv(role: "client" | "admin" = "client"): Env {
  return { WOODS_NATS: url, WOODS_CREDS: credsFile(generatedDir, role), WOODS_CLUSTER_DIR: dir, WOODS_CONFIG: join(ROOT, "deploy", "config", "woods.yaml") };
}

test.serial("the three servers of the generated config route to each other and refuse anonymous connections", async (t) => {
  for (const srv of servers) {
    const others = servers.filter((o) => o !== srv).map((o) => o.name).sort();
    const names = await waitFor(async () => {
      const r = (await (await fetch(`http://127.0.0.1:${srv.httpPort}/routez`)).json()) as { routes?: { remote_name?: string }[] };
      const seen = [...new Set((r.routes ?? []).map((x) => x.remote_name ?? ""))].filter(Boolean).sort();
      return seen.length === others.length ? seen : `not yet: ${seen.join(",")}`;
    }, 30_000, `${srv.name} routed`);
    t.deepEqual(names, others, `${srv.name} routes to the other two`);
  }
  await t.throwsAsync(connect({ servers: url, reconnect: false, timeout: 3000 }), { message: /authoriz/i });
});

test.serial("the compose services run as processes: datanodes register, the log has three replicas, a put reads back", async (t) => {
  const datanodeIds = actors.filter(([, s]) => s.command?.[0] === "datanode").map(([n]) => n).sort();
  await waitFor(async () => {
    const r = await runWoods(["nodes", "--json"], { env: clientEnv() });
    if (r.code !== 0) return `not yet: ${r.stderr.trim()}`;
    const alive = (JSON.parse(r.stdout.toString()) as { id: string; state: string }[]).filter((n) => n.state === "alive").map((n) => n.id).sort();
    return alive.join(",") === datanodeIds.join(",") || `not yet: ${alive.join(",")}`;
  }, 90_000, "every datanode alive");

  const data = seededBytes(3 * 1024 * 1024 + 17, 8);
  const put = await runWoods(["put", "-", "/deploy/check.bin", "--json"], { env: clientEnv(), input: data });
  t.is(put.code, 0, put.stderr);
  const got = await runWoods(["get", "/deploy/check.bin", "-"], { env: clientEnv() });
  t.is(got.code, 0, got.stderr);
  t.is(sha256(got.stdout), sha256(data));

  // The dashboard, with its own (dashboard) credentials, sees every datanode.
  t.true(dashboardPort > 0, "docker-compose.yml runs a dashboard");
  await waitFor(async () => {
    const body = await (await fetch(`http://127.0.0.1:${dashboardPort}/api/state`)).text();
    return datanodeIds.every((id) => body.includes(`"${id}"`)) || "not yet";
  }, 30_000, "the dashboard lists every datanode");

  const admin = JSON.parse(readFileSync(credsFile(generatedDir, "admin"), "utf8")) as { user: string; password: string };
  const nc = await connect({ servers: url, user: admin.user, pass: admin.password });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(subjects("woods").metaStream());
    t.is(info.config.num_replicas, 3, "namenode.logReplicas: 3 from deploy/config/woods.yaml");
    t.is(1 + (info.cluster?.replicas?.length ?? 0), 3, "the log lives on all three servers");
  } finally {
    await nc.close();
  }
});
