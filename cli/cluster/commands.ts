/** `woods cluster up|down|status|start|stop`: a local cluster of real processes. */
import { mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from "node:fs";
import { resolve, join } from "node:path";
import { execFileSync } from "node:child_process";
import { stringify as toYaml, parse as parseYaml } from "yaml";
import { loadConfig } from "../../config/index.js";
import { connectNats, call, type NatsConnection } from "../../actors/index.js";
import { readLeader } from "../../jetstream/index.js";
import { writeClusterAuth, credsFile, clientTls } from "./auth.js";
import { DEFAULT_DASHBOARD_PORT } from "../../actors/dashboard/main.js";
import { subjects, WoodsError, type NamenodeReplies } from "../../messages/index.js";
import { freePort, portIsFree } from "./ports.js";
import { readState, writeState, isRunning, dataDirs, type ClusterState, type NatsServerState, type NamenodeState } from "./state.js";
import { spawnNats, spawnNamenode, spawnDatanode, spawnDashboard, dashboardReadyFile, logFile, natsLogName, namenodeLogName, stopPid, sleep, PROJECT_ROOT } from "./processes.js";
import { natsClusterFormed, natsHealthy, routeCount } from "./nats-monitor.js";

export interface UpOptions {
  dir: string;
  datanodes: number;
  replication: number;
  chunkSizeBytes: number;
  /** Client port of the first nats-server (the others take the next free ports). */
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
  /**
   * nats-servers in a NATS cluster (routes between them, own store dirs): default as many as the last
   * `cluster up` of this dir ran (JetStream's replicas live on them), else 1.
   */
  natsServers?: number;
  /** Namenodes nn1..nnM: one active (the leader lease's holder), the others standbys. Default 1. */
  namenodes?: number;
  /** Zones given to the datanodes in turn: dnK gets zones[(K-1) % zones.length]. Default none. */
  zones?: string[];
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
/** How long a JetStream cluster may take to elect its meta leader and form every route (a loaded machine forming TLS routes took over 30 s). */
const NATS_CLUSTER_TIMEOUT_MS = 60_000;
const ZONE_RE = /^[A-Za-z0-9_-]{1,64}$/;

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

/** Thrown by a readiness check that can never succeed (the process it waits for has exited): stops the wait at once. */
class Hopeless extends WoodsError {
  constructor(message: string) {
    super("UNAVAILABLE", message);
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      if (e instanceof Hopeless) throw e;
      lastErr = e;
    }
    await sleep(100);
  }
  throw new WoodsError("TIMEOUT", `${what} did not become ready within ${timeoutMs} ms${lastErr ? `: ${(lastErr as Error).message}` : ""}`);
}

/** The client URL of one server of the cluster. */
export function serverUrl(state: ClusterState, srv: NatsServerState): string {
  return `${state.tls ? "tls" : "nats"}://127.0.0.1:${srv.port}`;
}

/** Waits until `srv` serves JetStream and, in a cluster, has routes to every other running server and knows the meta leader. */
async function waitForNatsServer(state: ClusterState, srv: NatsServerState): Promise<void> {
  const name = state.natsServers.length === 1 ? "nats-server" : srv.id;
  await waitFor(
    name,
    async () => {
      if (!isRunning(srv.pid)) throw new Hopeless(`${name} exited; see ${logFile(state, natsLogName(state, srv))}`);
      return natsHealthy(srv);
    },
    15_000,
  );
  if (state.natsServers.length === 1) return;
  const others = state.natsServers.filter((s) => s !== srv && isRunning(s.pid)).length;
  // A JetStream meta leader needs a majority of the servers: a lone server of three just waits for routes.
  const quorum = (others + 1) * 2 > state.natsServers.length;
  await waitFor(
    `${name} joining the NATS cluster (${others} routes${quorum ? ", a JetStream meta leader" : ""})`,
    async () => {
      if (!isRunning(srv.pid)) throw new Hopeless(`${name} exited; see ${logFile(state, natsLogName(state, srv))}`);
      return natsClusterFormed(srv, others, { metaLeader: quorum });
    },
    NATS_CLUSTER_TIMEOUT_MS,
  );
}

/** A connection as the cluster's admin user (the launcher's own), to every server of the cluster. */
async function connectAdmin(state: ClusterState, timeoutMs = 5000): Promise<NatsConnection> {
  const admin = credsFile(state.dir, "admin");
  return connectNats({ url: state.nats, name: "woods-cluster-launcher", reconnectForever: false, timeoutMs, creds: existsSync(admin) ? admin : "", tls: clientTls(state.tls) });
}

/** Who holds the leader lease (readLeader), or undefined when nobody does or NATS cannot be asked. */
async function leaderId(state: ClusterState, timeoutMs = 2000): Promise<string | undefined> {
  if (!state.natsServers.some((s) => isRunning(s.pid))) return undefined;
  let nc: NatsConnection | undefined;
  try {
    nc = await connectAdmin(state, timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
    try {
      return (await Promise.race([readLeader(nc, subjects(prefixOf(state))), late]))?.id;
    } finally {
      clearTimeout(timer);
    }
  } catch {
    return undefined;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

/**
 * Waits until the datanodes `expectAlive` answer themselves and, unless `namenode` is false, until the
 * active namenode answers and lists them alive, and every standby in `standbys` answers on the shadow
 * subject. Asking the datanodes first matters after a restart: the namenode may still list a node as
 * alive from before it, while the new process is not serving yet.
 */
async function waitForActors(
  state: ClusterState,
  prefix: string,
  expectAlive: string[],
  opts: { namenode?: boolean; standbys?: string[] } = {},
): Promise<void> {
  const nc = await connectAdmin(state);
  const subj = subjects(prefix);
  try {
    for (const id of expectAlive) {
      const dn = state.datanodes.find((d) => d.id === id);
      await waitFor(id, async () => {
        if (dn && !isRunning(dn.pid)) throw new Hopeless(`${id} exited; see ${logFile(state, id)}`);
        await call(nc, subj.datanode(id, "ping"), {}, 1000);
        return true;
      });
    }
    if (opts.namenode === false) return;
    await waitForActiveNamenode(state, nc, prefix);
    await waitFor(`datanodes ${expectAlive.join(", ")}`, async () => {
      const r = await call<NamenodeReplies["nodes"]>(nc, subj.namenode("nodes"), {}, 1000);
      const alive = new Set(r.nodes.filter((n) => n.state !== "dead").map((n) => n.id));
      return expectAlive.every((id) => alive.has(id));
    });
    if (opts.standbys && opts.standbys.length > 0) await waitForStandbys(state, nc, prefix, opts.standbys);
  } finally {
    await nc.close();
  }
}

/** Waits until a namenode answers `<prefix>.namenode.ping` (the active one); fails early when none is running. */
async function waitForActiveNamenode(state: ClusterState, nc: NatsConnection, prefix: string): Promise<string> {
  const subj = subjects(prefix);
  let id = "";
  await waitFor("namenode", async () => {
    if (!state.namenodes.some((n) => isRunning(n.pid))) {
      const logs = state.namenodes.map((n) => logFile(state, namenodeLogName(state, n))).join(", ");
      throw new Hopeless(`no namenode is running; see ${logs}`);
    }
    id = (await call<NamenodeReplies["ping"]>(nc, subj.namenode("ping"), {}, 1000)).id;
    return true;
  });
  return id;
}

/**
 * Waits until each namenode in `ids` answers `<prefix>.shadow.ping` as a standby. Standbys share a queue
 * group, so the pings are repeated until every one of them has answered at least once.
 */
async function waitForStandbys(state: ClusterState, nc: NatsConnection, prefix: string, ids: string[]): Promise<void> {
  const subj = subjects(prefix);
  const seen = new Set<string>();
  await waitFor(`standby namenode${ids.length > 1 ? "s" : ""} ${ids.join(", ")} (answering ${subj.shadow("ping")})`, async () => {
    for (const id of ids) {
      const nn = state.namenodes.find((n) => n.id === id);
      if (nn && !isRunning(nn.pid)) throw new Hopeless(`${id} exited; see ${logFile(state, namenodeLogName(state, nn))}`);
    }
    const r = await call<NamenodeReplies["ping"]>(nc, subj.shadow("ping"), {}, 1000);
    if (r.standby) seen.add(r.id);
    return ids.every((id) => seen.has(id));
  });
}

/** Client ports for `n` servers: the first is `first`; the others keep their old port, else first+k, else any free one. */
async function chooseClientPorts(first: number, n: number, old: ClusterState | undefined): Promise<number[]> {
  const ports = [first];
  for (let k = 1; k < n; k++) {
    const candidates = [old?.natsServers[k]?.port, first + k].filter((p): p is number => !!p && p <= 65535);
    let port: number | undefined;
    for (const p of candidates) {
      if (!ports.includes(p) && (await portIsFree(p))) {
        port = p;
        break;
      }
    }
    ports.push(port ?? (await freshPort(ports)));
  }
  return ports;
}

/** A free port not in `taken`. */
async function freshPort(taken: number[]): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (!taken.includes(p)) {
      taken.push(p);
      return p;
    }
  }
}

/** Starts the nats-servers, the namenodes and the datanodes on `dir`, reusing data already there. */
export async function clusterUp(opts: UpOptions): Promise<ClusterState> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const old = readState(dir);
  if (old && (old.natsServers.some((s) => isRunning(s.pid)) || old.namenodes.some((n) => isRunning(n.pid)) || old.datanodes.some((d) => isRunning(d.pid)))) {
    throw new WoodsError("EXISTS", `a cluster is already running in ${dir} (woods cluster down --dir ${opts.dir})`);
  }
  const nServers = opts.natsServers ?? old?.natsServers.length ?? 1;
  const nNamenodes = opts.namenodes ?? 1;
  const zones = opts.zones ?? [];
  if (!Number.isInteger(nServers) || nServers < 1 || nServers > 9) throw new WoodsError("BAD_REQUEST", `--nats-servers ${nServers}: must be 1 to 9`);
  if (!Number.isInteger(nNamenodes) || nNamenodes < 1 || nNamenodes > 9) throw new WoodsError("BAD_REQUEST", `--namenodes ${nNamenodes}: must be 1 to 9`);
  for (const z of zones) if (!ZONE_RE.test(z)) throw new WoodsError("BAD_REQUEST", `zone ${JSON.stringify(z)} must match [A-Za-z0-9_-]{1,64}`);
  if (old && old.natsServers.length !== nServers && old.natsServers.some((s) => existsSync(join(s.storeDir, "jetstream")))) {
    throw new WoodsError(
      "BAD_REQUEST",
      `${dir} was brought up with ${old.natsServers.length} nats-server(s), whose JetStream data (the metadata log and its replicas) lives on them: ` +
        `bring it up with --nats-servers ${old.natsServers.length}, or use a new --dir`,
    );
  }
  // A dashboard left over from a cluster that died under it only watches: replace it.
  if (old?.dashboard) await stopPid(old.dashboard.pid);
  if (!(await portIsFree(opts.port))) throw new WoodsError("UNAVAILABLE", `port ${opts.port} is in use (choose another with --port)`);
  const prefix = opts.prefix ?? "woods";
  const configFile = join(dir, "woods.yaml");
  const tls = opts.tlsDir ? { dir: resolve(opts.tlsDir) } : undefined;
  const binary = natsBinary();
  const clientPorts = await chooseClientPorts(opts.port, nServers, old);
  const taken = [...clientPorts];
  const natsServers: NatsServerState[] = [];
  for (let k = 0; k < nServers; k++) {
    natsServers.push({
      id: `nats-${k + 1}`,
      pid: null,
      port: clientPorts[k]!,
      httpPort: await freshPort(taken),
      ...(nServers > 1 ? { routePort: await freshPort(taken) } : {}),
      // nats-1 keeps the single server's folder, so a cluster of one stays where it always was.
      storeDir: join(dir, k === 0 ? "nats" : `nats-${k + 1}`),
      binary,
    });
  }
  // tls:// makes clients insist on TLS from the first byte; the server requires it anyway.
  const url = natsServers.map((s) => `${tls ? "tls" : "nats"}://127.0.0.1:${s.port}`).join(",");
  // Three servers can keep three copies of the log, snapshots, lease and staged chunks, and lose one.
  const replicas = nServers >= 3 ? 3 : 1;
  const generated: Tree = { prefix, chunkSizeBytes: opts.chunkSizeBytes, replication: opts.replication, stagingReplicas: replicas, namenode: { logReplicas: replicas } };
  // The extra file wins over the flags' values, except the URL: the cluster's own servers are the ones it runs.
  if (opts.extraConfigFile) mergeTree(generated, readYamlMapping(opts.extraConfigFile));
  mergeTree(generated, { nats: { url } });
  writeFileSync(
    configFile,
    "# Written by `woods cluster up`; the namenodes and datanodes of this cluster read it.\n" +
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
  const namenodes: NamenodeState[] = Array.from({ length: nNamenodes }, (_, i) => ({ id: `nn${i + 1}`, pid: null }));
  const state: ClusterState = {
    nats: url,
    dir,
    prefix,
    configFile,
    natsServer: natsServers[0]!,
    natsServers,
    namenode: namenodes[0]!,
    namenodes,
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
      const zone = zones.length > 0 ? zones[i % zones.length] : undefined;
      return { id: `dn${i + 1}`, pid: null, dir: nodeDir, ...(dirs ? { dirs } : {}), ...(zone ? { zone } : {}) };
    }),
  };
  for (const dn of state.datanodes) for (const d of dataDirs(dn)) mkdirSync(d, { recursive: true });
  // Credentials (kept across restarts) and the server config with one user per process (and the routes).
  writeClusterAuth(
    dir,
    prefix,
    state.datanodes.map((d) => d.id),
    join(PROJECT_ROOT, "nats-server.conf"),
    tls,
    nServers > 1 ? { cluster: { name: "woods", routes: natsServers.map((s) => `127.0.0.1:${s.routePort}`) } } : {},
  );
  for (const s of natsServers) mkdirSync(s.storeDir, { recursive: true });
  try {
    for (const s of natsServers) s.pid = spawnNats(state, s);
    writeState(state);
    for (const s of natsServers) await waitForNatsServer(state, s);
    // nn1 first, so that it is the active one; the others then start as standbys.
    const [first, ...rest] = namenodes;
    first!.pid = spawnNamenode(state, first);
    writeState(state);
    if (rest.length > 0) {
      const nc = await connectAdmin(state);
      try {
        await waitForActiveNamenode(state, nc, prefix);
      } finally {
        await nc.close();
      }
      for (const nn of rest) nn.pid = spawnNamenode(state, nn);
      writeState(state);
    }
    // Started before the datanodes so that it sees them join.
    if (state.dashboard) startDashboardProcess(state);
    for (const dn of state.datanodes) dn.pid = spawnDatanode(state, dn.id);
    writeState(state);
    await waitForActors(state, prefix, state.datanodes.map((d) => d.id), { standbys: await standbyIds(state) });
    if (state.dashboard) await waitForDashboard(state);
  } catch (e) {
    await clusterDown(dir).catch(() => undefined);
    throw e;
  }
  return state;
}

/** Running namenodes other than the lease holder (all running ones but nn1 when nobody holds it yet). */
async function standbyIds(state: ClusterState): Promise<string[]> {
  const running = state.namenodes.filter((n) => isRunning(n.pid));
  if (running.length < 2) return [];
  const active = (await leaderId(state)) ?? state.namenodes[0]!.id;
  return running.filter((n) => n.id !== active).map((n) => n.id);
}

/** Stops every process of the cluster (dashboard, datanodes, namenodes, then the nats-servers); data stays. */
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
  await Promise.all(state.namenodes.map((n) => stopPid(n.pid)));
  await Promise.all(state.natsServers.map((s) => stopPid(s.pid)));
  for (const d of state.datanodes) d.pid = null;
  for (const n of state.namenodes) n.pid = null;
  for (const s of state.natsServers) s.pid = null;
  writeState(state);
  return state;
}

export type NamenodeRole = "active" | "standby" | null;

/**
 * Role of each namenode: the lease holder is active, other running ones standbys, stopped ones null.
 * When the holder is unknown (no lease yet, or NATS unreachable) a lone running namenode is active and
 * the others' roles are null.
 */
export function namenodeRoles(state: ClusterState, holder: string | undefined): Map<string, NamenodeRole> {
  const roles = new Map<string, NamenodeRole>();
  const running = state.namenodes.filter((n) => isRunning(n.pid));
  for (const n of state.namenodes) {
    let role: NamenodeRole = null;
    if (isRunning(n.pid)) {
      if (holder !== undefined) role = n.id === holder ? "active" : "standby";
      else if (running.length === 1) role = "active";
    }
    roles.set(n.id, role);
  }
  return roles;
}

/** The active namenode's entry (lease holder when it runs), else the first one. */
function activeEntry(state: ClusterState, holder: string | undefined): NamenodeState {
  const held = state.namenodes.find((n) => n.id === holder && isRunning(n.pid));
  if (held) return held;
  const running = state.namenodes.filter((n) => isRunning(n.pid));
  return running.length === 1 ? running[0]! : state.namenodes[0]!;
}

/** The status document of the CLI contract, with liveness added (and namenode roles asked of NATS). */
export async function clusterStatus(dirArg: string): Promise<Record<string, unknown>> {
  const dir = resolve(dirArg);
  const state = readState(dir);
  if (!state) throw new WoodsError("NOT_FOUND", `no cluster in ${dir} (no cluster.json)`);
  const live = (pid: number | null) => (isRunning(pid) ? pid : null);
  const holder = state.namenodes.some((n) => isRunning(n.pid)) ? await leaderId(state) : undefined;
  const roles = namenodeRoles(state, holder);
  const active = activeEntry(state, holder);
  const routes = new Map<string, number | null>();
  if (state.natsServers.length > 1) {
    await Promise.all(state.natsServers.map(async (s) => routes.set(s.id, isRunning(s.pid) ? await routeCount(s).catch(() => null) : null)));
  }
  const server = (s: NatsServerState) => ({
    id: s.id,
    pid: live(s.pid),
    url: serverUrl(state, s),
    running: isRunning(s.pid),
    port: s.port,
    httpPort: s.httpPort,
    ...(s.routePort ? { routePort: s.routePort, routes: routes.get(s.id) ?? null } : {}),
  });
  const namenode = (n: NamenodeState) => ({ id: n.id, pid: live(n.pid), role: roles.get(n.id) ?? null, running: isRunning(n.pid) });
  return {
    nats: state.nats,
    dir: state.dir,
    /** The first server (as before clusters of several). */
    natsServer: { pid: live(state.natsServer.pid), url: serverUrl(state, state.natsServer), running: isRunning(state.natsServer.pid) },
    natsServers: state.natsServers.map(server),
    /** The active namenode (the first one when that is unknown). */
    namenode: namenode(active),
    namenodes: state.namenodes.map(namenode),
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
      zone: d.zone ?? null,
      ...(d.natsUrl ? { nats: d.natsUrl } : {}),
    })),
  };
}

function requireState(dirArg: string): ClusterState {
  const state = readState(resolve(dirArg));
  if (!state) throw new WoodsError("NOT_FOUND", `no cluster in ${resolve(dirArg)} (no cluster.json)`);
  return state;
}

/** Every name `cluster start|stop` accepts for this cluster. */
function nodeNames(state: ClusterState): string {
  const names = ["nats", ...(state.natsServers.length > 1 ? state.natsServers.map((s) => s.id) : []), "namenode"];
  if (state.namenodes.length > 1) names.push("namenodes", ...state.namenodes.map((n) => n.id));
  if (state.dashboard) names.push("dashboard");
  names.push(...state.datanodes.map((d) => d.id));
  return names.join(", ");
}

/** The nats-servers a name means: `nats`/`nats-server` every one, `nats-K` one; undefined when not a server name. */
function serversNamed(state: ClusterState, node: string): NatsServerState[] | undefined {
  if (node === "nats" || node === "nats-server" || node === "nats-servers") return state.natsServers;
  const one = state.natsServers.find((s) => s.id === node);
  return one ? [one] : undefined;
}

/**
 * Restarts stopped processes on their old data: `nats` (every stopped nats-server) or `nats-K`,
 * `namenode`/`namenodes` (every stopped namenode) or `nnK`, `dashboard`, or a datanode id.
 * `natsUrl` (datanodes only) makes the node connect there from now on, e.g. through a proxy;
 * it is kept in cluster.json for later starts; the cluster's own URL clears it.
 */
export async function clusterStart(node: string, dirArg: string, opts: { natsUrl?: string } = {}): Promise<void> {
  const state = requireState(dirArg);
  const prefix = prefixOf(state);
  const isDatanode = state.datanodes.some((d) => d.id === node);
  if (opts.natsUrl !== undefined && !isDatanode) throw new WoodsError("BAD_REQUEST", `--nats applies to datanodes only, not ${node}`);
  const servers = serversNamed(state, node);
  if (servers) {
    const stopped = servers.filter((s) => !isRunning(s.pid));
    if (stopped.length === 0) throw new WoodsError("EXISTS", `${servers.length === 1 && state.natsServers.length > 1 ? node : "nats-server"} is already running`);
    for (const s of stopped) s.pid = spawnNats(state, s);
    writeState(state);
    for (const s of stopped) await waitForNatsServer(state, s);
    return;
  }
  const nnAll = node === "namenode" || node === "namenodes";
  const nns = nnAll ? state.namenodes : state.namenodes.filter((n) => n.id === node);
  if (nns.length > 0) {
    const stopped = nns.filter((n) => !isRunning(n.pid));
    if (stopped.length === 0) throw new WoodsError("EXISTS", `${nnAll ? "namenode" : node} is already running`);
    for (const n of stopped) n.pid = spawnNamenode(state, n);
    writeState(state);
    // Ready means one is active, the running datanodes have re-registered with their chunk reports, and
    // the namenodes started here that did not win the lease answer as standbys.
    const standbys = (await standbyIds(state)).filter((id) => stopped.some((n) => n.id === id));
    await waitForActors(state, prefix, state.datanodes.filter((d) => isRunning(d.pid)).map((d) => d.id), { standbys });
    return;
  }
  if (node === "dashboard") {
    if (!state.dashboard) throw new WoodsError("NOT_FOUND", "this cluster has no dashboard (it was brought up with --no-dashboard)");
    if (isRunning(state.dashboard.pid)) throw new WoodsError("EXISTS", "dashboard is already running");
    startDashboardProcess(state);
    await waitForDashboard(state);
    return;
  }
  const dn = state.datanodes.find((d) => d.id === node);
  if (!dn) throw new WoodsError("NOT_FOUND", `no node ${node} in this cluster (${nodeNames(state)})`);
  if (isRunning(dn.pid)) throw new WoodsError("EXISTS", `${node} is already running`);
  if (opts.natsUrl !== undefined) {
    if (opts.natsUrl === state.nats) delete dn.natsUrl;
    else dn.natsUrl = opts.natsUrl;
  }
  dn.pid = spawnDatanode(state, dn.id);
  writeState(state);
  await waitForActors(state, prefix, [dn.id], { namenode: state.namenodes.some((n) => isRunning(n.pid)) });
}

/**
 * Stops processes; `kill` sends SIGKILL (a crash) instead of SIGTERM. `nats` stops every nats-server,
 * `nats-K` one; `namenode` the active one (the lease holder; the first when unknown), `namenodes`
 * every one, `nnK` one; `dashboard`; a datanode id.
 */
export async function clusterStop(node: string, dirArg: string, kill: boolean): Promise<void> {
  const state = requireState(dirArg);
  const servers = serversNamed(state, node);
  if (servers) {
    await Promise.all(servers.map((s) => stopPid(s.pid, { kill })));
    for (const s of servers) s.pid = null;
  } else if (node === "namenode" || node === "namenodes" || state.namenodes.some((n) => n.id === node)) {
    const nns =
      node === "namenodes"
        ? state.namenodes
        : node === "namenode"
          ? [state.namenodes.length === 1 ? state.namenodes[0]! : activeEntry(state, await leaderId(state))]
          : state.namenodes.filter((n) => n.id === node);
    await Promise.all(nns.map((n) => stopPid(n.pid, { kill })));
    for (const n of nns) n.pid = null;
  } else if (node === "dashboard") {
    if (!state.dashboard) throw new WoodsError("NOT_FOUND", "this cluster has no dashboard");
    await stopPid(state.dashboard.pid, { kill });
    state.dashboard.pid = null;
  } else {
    const dn = state.datanodes.find((d) => d.id === node);
    if (!dn) throw new WoodsError("NOT_FOUND", `no node ${node} in this cluster (${nodeNames(state)})`);
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
      if (!isRunning(d.pid)) throw new Hopeless(`the dashboard exited; see ${logFile(state, "dashboard")}`);
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
