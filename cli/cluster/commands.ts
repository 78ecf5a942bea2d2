/** `woods cluster up|down|status|start|stop`: a local cluster of real processes. */
import { mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from "node:fs";
import { resolve, join } from "node:path";
import { execFileSync } from "node:child_process";
import { stringify as toYaml, parse as parseYaml } from "yaml";
import { loadConfig } from "../../config/index.js";
import { connectNats, call } from "../../actors/index.js";
import { writeClusterAuth, credsFile, clientTls } from "./auth.js";
import { DEFAULT_DASHBOARD_PORT } from "../../actors/dashboard/main.js";
import { subjects, WoodsError, type NamenodeReplies } from "../../messages/index.js";
import { freePort, portIsFree } from "./ports.js";
import { readState, writeState, isRunning, dataDirs, type ClusterState } from "./state.js";
import { spawnNats, spawnNamenode, spawnDatanode, spawnDashboard, dashboardReadyFile, logFile, stopPid, sleep, PROJECT_ROOT } from "./processes.js";

export interface UpOptions {
  dir: string;
  datanodes: number;
  replication: number;
  chunkSizeBytes: number;
  port: number;
  detach: boolean;
  prefix?: string;
  /** A YAML file whose keys are merged into the generated `<dir>/woods.yaml` (e.g. short fault timers). */
  extraConfigFile?: string;
  /** Data dirs per datanode (`dnX/d1`, `dnX/d2`, …); 1 = the node folder itself. */
  dirsPerDatanode?: number;
  /**
   * Run the web dashboard as one more process. The CLI turns it on (`--no-dashboard` turns it off);
   * programmatic callers (benchmarks) opt in, so their measurements stay comparable.
   */
  dashboard?: boolean;
  /** Its port; default DEFAULT_DASHBOARD_PORT, or any free port when that one is taken. */
  dashboardPort?: number;
  /** Its listen address (default 127.0.0.1). */
  dashboardHost?: string;
  /** A folder of PEM files that switches on TLS (README, Security); absent = plain TCP. */
  tlsDir?: string;
}

type Tree = { [k: string]: unknown };

/** Deep-merges `over` into `base` (mappings merge, everything else replaces). */
function mergeTree(base: Tree, over: Tree): Tree {
  for (const [k, v] of Object.entries(over)) {
    const cur = base[k];
    if (v && typeof v === "object" && !Array.isArray(v) && cur && typeof cur === "object" && !Array.isArray(cur)) mergeTree(cur as Tree, v as Tree);
    else base[k] = v;
  }
  return base;
}

/** The YAML mapping in `file`, or a BAD_REQUEST naming the file. */
function readYamlMapping(file: string): Tree {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    throw new WoodsError("BAD_REQUEST", `cannot read config file ${file}: ${(e as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new WoodsError("BAD_REQUEST", `config file ${file} is not a YAML mapping`);
  return parsed as Tree;
}

const READY_TIMEOUT_MS = 60_000;

function natsBinary(): string {
  try {
    return execFileSync("bash", [join(PROJECT_ROOT, "scripts", "ensure-nats-server.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
  } catch {
    throw new WoodsError("UNAVAILABLE", "no nats-server >= 2.10 available (see the message above)");
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      lastErr = e;
    }
    await sleep(100);
  }
  throw new WoodsError("TIMEOUT", `${what} did not become ready within ${timeoutMs} ms${lastErr ? `: ${(lastErr as Error).message}` : ""}`);
}

async function natsHealthy(state: ClusterState): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${state.natsServer.httpPort}/healthz?js-enabled-only=true`);
  return res.ok;
}

/**
 * Waits until the datanodes `expectAlive` answer themselves and, unless `namenode` is false, until the
 * namenode answers and lists them alive. Asking the datanodes first matters after a restart: the namenode
 * may still list a node as alive from before it, while the new process is not serving yet.
 */
async function waitForActors(state: ClusterState, prefix: string, expectAlive: string[], opts: { namenode?: boolean } = {}): Promise<void> {
  const admin = credsFile(state.dir, "admin");
  const nc = await connectNats({ url: state.nats, name: "woods-cluster-launcher", reconnectForever: false, creds: existsSync(admin) ? admin : "", tls: clientTls(state.tls) });
  const subj = subjects(prefix);
  try {
    for (const id of expectAlive) {
      await waitFor(id, async () => {
        await call(nc, subj.datanode(id, "ping"), {}, 1000);
        return true;
      });
    }
    if (opts.namenode === false) return;
    await waitFor("namenode", async () => {
      await call<NamenodeReplies["ping"]>(nc, subj.namenode("ping"), {}, 1000);
      return true;
    });
    await waitFor(`datanodes ${expectAlive.join(", ")}`, async () => {
      const r = await call<NamenodeReplies["nodes"]>(nc, subj.namenode("nodes"), {}, 1000);
      const alive = new Set(r.nodes.filter((n) => n.state !== "dead").map((n) => n.id));
      return expectAlive.every((id) => alive.has(id));
    });
  } finally {
    await nc.close();
  }
}

/** Starts nats-server, the namenode and N datanodes on `dir`, reusing data already there. */
export async function clusterUp(opts: UpOptions): Promise<ClusterState> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const old = readState(dir);
  if (old && (isRunning(old.natsServer.pid) || isRunning(old.namenode.pid) || old.datanodes.some((d) => isRunning(d.pid)))) {
    throw new WoodsError("EXISTS", `a cluster is already running in ${dir} (woods cluster down --dir ${opts.dir})`);
  }
  // A dashboard left over from a cluster that died under it only watches: replace it.
  if (old?.dashboard) await stopPid(old.dashboard.pid);
  if (!(await portIsFree(opts.port))) throw new WoodsError("UNAVAILABLE", `port ${opts.port} is in use (choose another with --port)`);
  const prefix = opts.prefix ?? "woods";
  const configFile = join(dir, "woods.yaml");
  const tls = opts.tlsDir ? { dir: resolve(opts.tlsDir) } : undefined;
  // tls:// makes clients insist on TLS from the first byte; the server requires it anyway.
  const url = `${tls ? "tls" : "nats"}://127.0.0.1:${opts.port}`;
  const generated: Tree = { prefix, chunkSizeBytes: opts.chunkSizeBytes, replication: opts.replication };
  // The extra file wins over the flags' values, except the URL: the cluster's own server is the one it runs.
  if (opts.extraConfigFile) mergeTree(generated, readYamlMapping(opts.extraConfigFile));
  mergeTree(generated, { nats: { url } });
  writeFileSync(
    configFile,
    "# Written by `woods cluster up`; the namenode and datanodes of this cluster read it.\n" +
      (opts.extraConfigFile ? `# Includes the keys of ${resolve(opts.extraConfigFile)}.\n` : "") +
      toYaml(generated),
  );
  try {
    // Fail here, naming the key, rather than in every actor's log.
    loadConfig({ file: configFile, env: {} });
  } catch (e) {
    throw new WoodsError("BAD_REQUEST", (e as Error).message);
  }
  const perNode = opts.dirsPerDatanode ?? 1;
  const state: ClusterState = {
    nats: url,
    dir,
    prefix,
    configFile,
    natsServer: { pid: null, port: opts.port, httpPort: await freePort(), storeDir: join(dir, "nats"), binary: natsBinary() },
    namenode: { pid: null, id: "nn1" },
    ...(tls ? { tls } : {}),
    ...(!opts.dashboard
      ? {}
      : {
          dashboard: {
            pid: null,
            host: opts.dashboardHost ?? "127.0.0.1",
            port: opts.dashboardPort ?? DEFAULT_DASHBOARD_PORT,
            portFallback: opts.dashboardPort === undefined,
            url: null,
          },
        }),
    datanodes: Array.from({ length: opts.datanodes }, (_, i) => {
      const nodeDir = join(dir, `dn${i + 1}`);
      const dirs = perNode > 1 ? Array.from({ length: perNode }, (_, k) => join(nodeDir, `d${k + 1}`)) : undefined;
      return { id: `dn${i + 1}`, pid: null, dir: nodeDir, ...(dirs ? { dirs } : {}) };
    }),
  };
  for (const dn of state.datanodes) for (const d of dataDirs(dn)) mkdirSync(d, { recursive: true });
  // Credentials (kept across restarts) and the server config with one user per process.
  writeClusterAuth(dir, prefix, state.datanodes.map((d) => d.id), join(PROJECT_ROOT, "nats-server.conf"), tls);
  mkdirSync(state.natsServer.storeDir, { recursive: true });
  try {
    state.natsServer.pid = spawnNats(state);
    writeState(state);
    await waitFor("nats-server", () => natsHealthy(state), 15_000);
    state.namenode.pid = spawnNamenode(state);
    writeState(state);
    // Started before the datanodes so that it sees them join.
    if (state.dashboard) startDashboardProcess(state);
    for (const dn of state.datanodes) dn.pid = spawnDatanode(state, dn.id);
    writeState(state);
    await waitForActors(state, prefix, state.datanodes.map((d) => d.id));
    if (state.dashboard) await waitForDashboard(state);
  } catch (e) {
    await clusterDown(dir).catch(() => undefined);
    throw e;
  }
  return state;
}

/** Stops every process of the cluster (datanodes, namenode, then nats-server); data stays. */
export async function clusterDown(dirArg: string): Promise<ClusterState> {
  const dir = resolve(dirArg);
  const state = readState(dir);
  if (!state) throw new WoodsError("NOT_FOUND", `no cluster in ${dir} (no cluster.json)`);
  // The dashboard first: it would only report the others going away.
  if (state.dashboard) {
    await stopPid(state.dashboard.pid);
    state.dashboard.pid = null;
  }
  await Promise.all(state.datanodes.map((d) => stopPid(d.pid)));
  await stopPid(state.namenode.pid);
  await stopPid(state.natsServer.pid);
  for (const d of state.datanodes) d.pid = null;
  state.namenode.pid = null;
  state.natsServer.pid = null;
  writeState(state);
  return state;
}

/** The status document of the CLI contract, with liveness added. */
export function clusterStatus(dirArg: string): Record<string, unknown> {
  const dir = resolve(dirArg);
  const state = readState(dir);
  if (!state) throw new WoodsError("NOT_FOUND", `no cluster in ${dir} (no cluster.json)`);
  const live = (pid: number | null) => (isRunning(pid) ? pid : null);
  return {
    nats: state.nats,
    dir: state.dir,
    natsServer: { pid: live(state.natsServer.pid), url: state.nats, running: isRunning(state.natsServer.pid) },
    namenode: { id: state.namenode.id, pid: live(state.namenode.pid), running: isRunning(state.namenode.pid) },
    /** Where the cluster's web dashboard listens (null when this cluster has none or it is not running). */
    dashboard: state.dashboard && isRunning(state.dashboard.pid) ? state.dashboard.url : null,
    dashboardServer: state.dashboard
      ? { pid: live(state.dashboard.pid), url: state.dashboard.url, running: isRunning(state.dashboard.pid) }
      : null,
    datanodes: state.datanodes.map((d) => ({
      id: d.id,
      pid: live(d.pid),
      dir: d.dir,
      dirs: dataDirs(d),
      running: isRunning(d.pid),
      ...(d.natsUrl ? { nats: d.natsUrl } : {}),
    })),
  };
}

function requireState(dirArg: string): ClusterState {
  const state = readState(resolve(dirArg));
  if (!state) throw new WoodsError("NOT_FOUND", `no cluster in ${resolve(dirArg)} (no cluster.json)`);
  return state;
}

/**
 * Restarts one stopped process (`namenode`, `nats`, or a datanode id) on its old data.
 * `natsUrl` (datanodes only) makes the node connect there from now on, e.g. through a proxy;
 * it is kept in cluster.json for later starts; the cluster's own URL clears it.
 */
export async function clusterStart(node: string, dirArg: string, opts: { natsUrl?: string } = {}): Promise<void> {
  const state = requireState(dirArg);
  const isDatanode = state.datanodes.some((d) => d.id === node);
  if (opts.natsUrl !== undefined && !isDatanode) throw new WoodsError("BAD_REQUEST", `--nats applies to datanodes only, not ${node}`);
  if (node === "namenode" || node === state.namenode.id) {
    if (isRunning(state.namenode.pid)) throw new WoodsError("EXISTS", "namenode is already running");
    state.namenode.pid = spawnNamenode(state);
    writeState(state);
    // Ready means it serves and the running datanodes have re-registered with their chunk reports.
    await waitForActors(state, prefixOf(state), state.datanodes.filter((d) => isRunning(d.pid)).map((d) => d.id));
    return;
  }
  if (node === "dashboard") {
    if (!state.dashboard) throw new WoodsError("NOT_FOUND", "this cluster has no dashboard (it was brought up with --no-dashboard)");
    if (isRunning(state.dashboard.pid)) throw new WoodsError("EXISTS", "dashboard is already running");
    startDashboardProcess(state);
    await waitForDashboard(state);
    return;
  }
  if (node === "nats" || node === "nats-server") {
    if (isRunning(state.natsServer.pid)) throw new WoodsError("EXISTS", "nats-server is already running");
    state.natsServer.pid = spawnNats(state);
    writeState(state);
    await waitFor("nats-server", () => natsHealthy(state), 15_000);
    return;
  }
  const dn = state.datanodes.find((d) => d.id === node);
  if (!dn) throw new WoodsError("NOT_FOUND", `no node ${node} in this cluster (namenode, nats, ${state.datanodes.map((d) => d.id).join(", ")})`);
  if (isRunning(dn.pid)) throw new WoodsError("EXISTS", `${node} is already running`);
  if (opts.natsUrl !== undefined) {
    if (opts.natsUrl === state.nats) delete dn.natsUrl;
    else dn.natsUrl = opts.natsUrl;
  }
  dn.pid = spawnDatanode(state, dn.id);
  writeState(state);
  await waitForActors(state, prefixOf(state), [dn.id], { namenode: isRunning(state.namenode.pid) });
}

/** Stops one process; `kill` sends SIGKILL (a crash) instead of SIGTERM. */
export async function clusterStop(node: string, dirArg: string, kill: boolean): Promise<void> {
  const state = requireState(dirArg);
  if (node === "namenode" || node === state.namenode.id) {
    await stopPid(state.namenode.pid, { kill });
    state.namenode.pid = null;
  } else if (node === "nats" || node === "nats-server") {
    await stopPid(state.natsServer.pid, { kill });
    state.natsServer.pid = null;
  } else if (node === "dashboard") {
    if (!state.dashboard) throw new WoodsError("NOT_FOUND", "this cluster has no dashboard");
    await stopPid(state.dashboard.pid, { kill });
    state.dashboard.pid = null;
  } else {
    const dn = state.datanodes.find((d) => d.id === node);
    if (!dn) throw new WoodsError("NOT_FOUND", `no node ${node} in this cluster`);
    await stopPid(dn.pid, { kill });
    dn.pid = null;
  }
  writeState(state);
}

function prefixOf(state: ClusterState): string {
  return state.prefix ?? "woods";
}

/** Spawns the dashboard; its URL is known once it has written its ready file (waitForDashboard). */
function startDashboardProcess(state: ClusterState): void {
  const d = state.dashboard!;
  rmSync(dashboardReadyFile(state), { force: true });
  d.url = null;
  d.pid = spawnDashboard(state);
  writeState(state);
}

/** Waits for the dashboard's ready file (its real URL) and records the URL in cluster.json. */
async function waitForDashboard(state: ClusterState): Promise<void> {
  const d = state.dashboard!;
  const file = dashboardReadyFile(state);
  await waitFor(
    "dashboard",
    async () => {
      if (!isRunning(d.pid)) throw new WoodsError("UNAVAILABLE", `the dashboard exited; see ${logFile(state, "dashboard")}`);
      let ready: { url?: string; pid?: number };
      try {
        ready = JSON.parse(readFileSync(file, "utf8"));
      } catch {
        return false;
      }
      if (ready.pid !== d.pid || typeof ready.url !== "string") return false;
      d.url = ready.url;
      return true;
    },
    15_000,
  );
  writeState(state);
}

