/** Spawning and stopping the cluster's processes. Each actor is its own detached OS process. */
import { spawn } from "node:child_process";
import { openSync, closeSync, mkdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { isRunning, dataDirs, type ClusterState, type NatsServerState, type NamenodeState } from "./state.js";
import { credsFile, serverConfigFile, clientTls } from "./auth.js";

/** The project root: the nearest folder above this module with a package.json (works from dist/ and from sources). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the woods project root");
    dir = up;
  }
  return dir;
}
export const PROJECT_ROOT = findRoot();
export const WOODS_BIN = join(PROJECT_ROOT, "bin", "woods.js");

function spawnLogged(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): number {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd], env });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${cmd}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function logFile(state: ClusterState, name: string): string {
  return join(state.dir, "logs", `${name}.log`);
}

/**
 * The log name of a nats-server or namenode: the old single names (`nats-server`, `namenode`) when the
 * cluster has one of them, else its id (`nats-2`, `nn2`). Datanodes and the dashboard log under their names.
 */
export function natsLogName(state: ClusterState, srv: NatsServerState): string {
  return state.natsServers.length === 1 ? "nats-server" : srv.id;
}
export function namenodeLogName(state: ClusterState, nn: NamenodeState): string {
  return state.namenodes.length === 1 ? "namenode" : nn.id;
}

/** Starts one nats-server of the cluster with the generated config; its own ports, name and store come from the environment. */
export function spawnNats(state: ClusterState, srv: NatsServerState = state.natsServers[0]!): number {
  const env = {
    ...process.env,
    WOODS_NATS_HOST: "127.0.0.1",
    WOODS_NATS_PORT: String(srv.port),
    WOODS_NATS_HTTP_PORT: String(srv.httpPort),
    WOODS_NATS_NAME: `woods-${srv.id}`,
    WOODS_NATS_STORE: srv.storeDir,
    WOODS_NATS_MAX_FILE_STORE: process.env.WOODS_NATS_MAX_FILE_STORE ?? "64GB",
    ...(srv.routePort ? { WOODS_NATS_ROUTE_PORT: String(srv.routePort) } : {}),
  };
  // The generated config (users and permissions) when `cluster up` wrote one; the bare template otherwise.
  const generated = serverConfigFile(state.dir);
  const conf = existsSync(generated) ? generated : join(PROJECT_ROOT, "nats-server.conf");
  return spawnLogged(srv.binary, ["-c", conf], logFile(state, natsLogName(state, srv)), env);
}

/** The environment of one actor process: the launcher's, with only that process's own credentials. */
function actorEnv(state: ClusterState, file: string): NodeJS.ProcessEnv {
  const tls = clientTls(state.tls);
  return {
    ...process.env,
    WOODS_CREDS: existsSync(file) ? file : "",
    WOODS_NATS_TLS_CA: tls?.ca ?? "",
    WOODS_NATS_TLS_CERT: tls?.cert ?? "",
    WOODS_NATS_TLS_KEY: tls?.key ?? "",
  };
}

/** Starts one namenode; its id (config `namenode.id`) comes from $WOODS_NAMENODE_ID. */
export function spawnNamenode(state: ClusterState, nn: NamenodeState = state.namenodes[0]!): number {
  const env = { ...actorEnv(state, credsFile(state.dir, "namenode")), WOODS_NAMENODE_ID: nn.id };
  return spawnLogged(process.execPath, [WOODS_BIN, "namenode", "--config", state.configFile], logFile(state, namenodeLogName(state, nn)), env);
}

export function spawnDatanode(state: ClusterState, id: string): number {
  const dn = state.datanodes.find((d) => d.id === id);
  if (!dn) throw new Error(`no datanode ${id}`);
  const args = [WOODS_BIN, "datanode", "--id", id, ...dataDirs(dn).flatMap((d) => ["--dir", d]), "--config", state.configFile];
  if (dn.natsUrl) args.push("--nats", dn.natsUrl);
  const env = actorEnv(state, credsFile(state.dir, { datanode: id }));
  // `--zone` (config `datanode.zone`); the environment says the same for anything reading config alone.
  if (dn.zone) {
    args.push("--zone", dn.zone);
    env.WOODS_DATANODE_ZONE = dn.zone;
  }
  return spawnLogged(process.execPath, args, logFile(state, id), env);
}

/** Sends a signal and waits until the process is gone (SIGKILL after `graceMs`). */
export async function stopPid(pid: number | null, opts: { kill?: boolean; graceMs?: number } = {}): Promise<void> {
  if (!pid || !isRunning(pid)) return;
  try {
    process.kill(pid, opts.kill ? "SIGKILL" : "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + (opts.graceMs ?? 10_000);
  while (isRunning(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
      const hard = Date.now() + 2000;
      while (isRunning(pid) && Date.now() < hard) await sleep(20);
      return;
    }
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Where a running dashboard says it listens (written by the dashboard itself once it serves). */
export function dashboardReadyFile(state: ClusterState): string {
  return join(state.dir, "dashboard.json");
}

export function spawnDashboard(state: ClusterState): number {
  const d = state.dashboard;
  if (!d) throw new Error("this cluster has no dashboard");
  // --nats explicitly: the launcher's own $WOODS_NATS may name another cluster.
  const args = [WOODS_BIN, "dashboard", "--config", state.configFile, "--nats", state.nats, "--host", d.host, "--port", String(d.port), "--ready-file", dashboardReadyFile(state)];
  if (d.portFallback) args.push("--port-fallback");
  return spawnLogged(process.execPath, args, logFile(state, "dashboard"), actorEnv(state, credsFile(state.dir, "dashboard")));
}

