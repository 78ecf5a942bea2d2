/**
 * A real local cluster for end-to-end tests: `woods cluster up --detach` on a
 * temp dir and a free port, driven through the public CLI.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readdirSync, existsSync, readFileSync } from "node:fs";
import { stringify as toYaml } from "yaml";
import { tmpdir } from "node:os";
import { join, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash, randomBytes } from "node:crypto";
import { freePort } from "./nats-server.js";
import { isRunning } from "../../cli/cluster/state.js";
import type { StatReply, FsckReply, NodeInfo } from "../../messages/index.js";
import { credsFile, type FixedRole } from "../../cli/cluster/auth.js";

/** Cluster dir of each test cluster by its URL, so helpers given only a URL can find its credentials. */
const clusterDirs = new Map<string, string>();

/**
 * The credentials file of `role` in the test cluster at `url` (undefined for a server that is not a
 * test cluster, e.g. a bare startNatsServer(), which has no users).
 */
export function credsFor(url: string, role: FixedRole | { datanode: string } = "admin"): string | undefined {
  const dir = clusterDirs.get(url);
  return dir ? credsFile(dir, role) : undefined;
}

/** Connect options (user and password) of `role` in the test cluster at `url`; {} for a server without users. */
export function authFor(url: string, role: FixedRole | { datanode: string } = "admin"): { user?: string; pass?: string } {
  const file = credsFor(url, role);
  if (!file) return {};
  const c = JSON.parse(readFileSync(file, "utf8")) as { user: string; password: string };
  return { user: c.user, pass: c.password };
}

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WOODS = join(ROOT, "bin", "woods.js");

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the woods CLI with optional stdin bytes; never rejects on a non-zero exit. */
export function runWoods(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WOODS, ...args], { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on("error", () => undefined);
    if (opts.input) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** A nested config mapping, as in woods.yaml. */
export type ConfigTree = { [key: string]: string | number | boolean | ConfigTree };

/**
 * Short timers for fault tests: a node is dead after 3 s, repairs and orphan deletes happen
 * within seconds, and a client gives up on a dead replica after 5 s instead of 15.
 * `client.retry.maxAttempts` is raised so full jitter cannot use up the attempts of a put
 * before a restarting namenode is back.
 */
export const FAST_FAULT_CONFIG: ConfigTree = {
  namenode: {
    deadAfterMs: 3000,
    tickIntervalMs: 300,
    orphanGraceMs: 3000,
    safeModeExtensionMs: 500,
    safeModeMaxMs: 5000,
    repairTimeoutMs: 15000,
  },
  datanode: { heartbeatIntervalMs: 300, dirCheckIntervalMs: 500 },
  client: { requestTimeoutMs: 5000, frameAckTimeoutMs: 5000, retry: { maxAttempts: 15, deadlineMs: 30000 } },
};

/** Deep-merges config trees (later wins). */
export function mergeConfig(...trees: ConfigTree[]): ConfigTree {
  const out: ConfigTree = {};
  for (const t of trees) {
    for (const [k, v] of Object.entries(t)) {
      const cur = out[k];
      out[k] = typeof v === "object" && typeof cur === "object" ? mergeConfig(cur, v) : typeof v === "object" ? mergeConfig(v) : v;
    }
  }
  return out;
}

/** `woods cluster status --json` (cli/cluster/commands.ts clusterStatus). */
export interface ClusterStatus {
  /** Every server's client URL, comma separated. */
  nats: string;
  /** The first nats-server. */
  natsServer: { pid: number | null; url: string; running: boolean };
  natsServers: {
    id: string;
    pid: number | null;
    url: string;
    running: boolean;
    port: number;
    httpPort: number;
    /** Clusters of several servers only: the route port and how many other servers it is routed to. */
    routePort?: number;
    routes?: number | null;
  }[];
  /** The active namenode (nn1 when unknown). */
  namenode: { id: string; pid: number | null; role: NamenodeRole; running: boolean };
  namenodes: { id: string; pid: number | null; role: NamenodeRole; running: boolean }[];
  datanodes: { id: string; pid: number | null; dir: string; dirs: string[]; running: boolean; zone: string | null; nats?: string }[];
  dashboard: string | null;
}

export type NamenodeRole = "active" | "standby" | null;

/** What `woods stat --json`, `fsck --json` and `nodes --json` print: the namenode's replies (messages/schemas.ts). */
export type StatJson = StatReply;
export type FsckJson = FsckReply;
export type NodeJson = NodeInfo;

export interface TestCluster {
  dir: string;
  /** Credentials file of a role (default admin) of this cluster. */
  creds(role?: FixedRole | { datanode: string }): string;
  port: number;
  url: string;
  /** Environment of client commands: this cluster's URL and its woods.yaml (so client.* overrides apply). */
  env: NodeJS.ProcessEnv;
  /** Runs a client command against this cluster (adds --dir for cluster subcommands). */
  woods(args: string[], opts?: { input?: Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /** Like woods() but throws unless the exit code is 0. */
  ok(args: string[], opts?: { input?: Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  status(): Promise<ClusterStatus>;
  /** `woods stat PATH --json` (throws if the command fails). */
  stat(path: string): Promise<StatJson>;
  /** `woods fsck --json` (exit 1 just means unhealthy). */
  fsck(): Promise<FsckJson>;
  /** `woods nodes --json`. */
  nodes(): Promise<NodeJson[]>;
  /** Stores `data` at `remote` through a temp file; never throws on a failed put. */
  put(remote: string, data: Buffer, opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  /** The data dirs of a datanode. */
  dataDirs(id: string): Promise<string[]>;
  /**
   * Sends a signal straight to a node's process: a datanode id, `namenode` (the active one), `nnK`,
   * `nats-K`, or `nats` (every nats-server of the cluster).
   */
  signal(node: string, sig: NodeJS.Signals): Promise<void>;
  /** kill -9 of every process of the cluster at once, nats-server included. */
  killAll(): Promise<void>;
  /** `woods cluster up` again on the same dir, with the same flags and config. */
  up(): Promise<void>;
  down(): Promise<void>;
}

export interface ClusterOptions {
  datanodes?: number;
  replication?: number;
  chunkSize?: string;
  /** Merged into the cluster's woods.yaml through `cluster up --config` (and used by client commands). */
  config?: ConfigTree;
  dirsPerDatanode?: number;
  /** A folder of PEM files for `cluster up --tls` (ca.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem). */
  tlsDir?: string;
  /** Runs on the fresh cluster dir before `cluster up` (e.g. to mount a tmpfs over `<dir>/dn1`). */
  beforeUp?: (dir: string) => void | Promise<void>;
  /** nats-servers in a NATS cluster (`cluster up --nats-servers`); default 1. */
  natsServers?: number;
  /** Namenodes nn1..nnM (`cluster up --namenodes`); default 1. */
  namenodes?: number;
  /** Zones given to the datanodes in turn (`cluster up --zones a,b,c`). */
  zones?: string[];
}

/** Starts a cluster; call down() in t.teardown. */
export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "woods-cluster-"));
  const port = await freePort();
  const firstUrl = `${opts.tlsDir ? "tls" : "nats"}://127.0.0.1:${port}`;
  const upEnv: NodeJS.ProcessEnv = { WOODS_NATS: firstUrl, WOODS_LOG_LEVEL: "info" };
  const upArgs = [
    "cluster", "up", "--detach", "--dir", dir, "--port", String(port),
    "--datanodes", String(opts.datanodes ?? 3), "--replication", String(opts.replication ?? 3),
    "--chunk-size", opts.chunkSize ?? "1MiB",
    // Its own dashboard port: with the default (8080, else any) a cluster started by a test running alongside
    // took 8080 as soon as this one's dashboard let it go.
    "--dashboard-port", String(await freePort()),
  ];
  if (opts.dirsPerDatanode) upArgs.push("--dirs-per-datanode", String(opts.dirsPerDatanode));
  if (opts.tlsDir) upArgs.push("--tls", opts.tlsDir);
  if (opts.natsServers !== undefined) upArgs.push("--nats-servers", String(opts.natsServers));
  if (opts.namenodes !== undefined) upArgs.push("--namenodes", String(opts.namenodes));
  if (opts.zones) upArgs.push("--zones", opts.zones.join(","));
  if (opts.config) {
    // Outside the cluster dir, so a tmpfs mounted there in beforeUp cannot hide it.
    const extra = join(mkdtempSync(join(tmpdir(), "woods-cfg-")), "extra.yaml");
    writeFileSync(extra, toYaml(opts.config));
    upArgs.push("--config", extra);
  }
  const cleanup = () => {
    if (!process.env.WOODS_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await opts.beforeUp?.(dir);
  } catch (e) {
    cleanup();
    throw e;
  }
  const up = await runWoods(upArgs, { env: upEnv });
  if (up.code !== 0) {
    // The log the launcher points at goes with the dir: keep its last lines in the error.
    const named = /see (\S+\.log)/.exec(up.stderr)?.[1];
    const tail = named && existsSync(named) ? readFileSync(named, "utf8").trim().split("\n").slice(-15).join("\n") : "";
    await runWoods(["cluster", "down", "--dir", dir], { env: upEnv });
    cleanup();
    throw new Error(`cluster up failed (${up.code}): ${up.stderr}${tail ? `\nlast lines of ${named}:\n${tail}` : ""}`);
  }
  // `up --detach` prints the status: every server's URL (one for a single server).
  const url = (JSON.parse(up.stdout.toString()) as ClusterStatus).nats;
  upEnv.WOODS_NATS = url;
  clusterDirs.set(url, dir);
  for (const u of url.split(",")) clusterDirs.set(u, dir);
  // Client commands run as the cluster's `client` user, like a user's commands after `npm start`.
  const env: NodeJS.ProcessEnv = { ...upEnv, WOODS_CONFIG: join(dir, "woods.yaml"), WOODS_CREDS: credsFile(dir, "client"),
    ...(opts.tlsDir
      ? { WOODS_NATS_TLS_CA: join(opts.tlsDir, "ca.pem"), WOODS_NATS_TLS_CERT: join(opts.tlsDir, "client-cert.pem"), WOODS_NATS_TLS_KEY: join(opts.tlsDir, "client-key.pem") }
      : {}),
  };
  const woods = (args: string[], o: { input?: Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) => {
    const full = args[0] === "cluster" ? [...args, "--dir", dir] : args;
    return runWoods(full, { ...o, env: { ...env, ...o.env } });
  };
  const ok = async (args: string[], o: { input?: Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) => {
    const r = await woods(args, o);
    if (r.code !== 0) throw new Error(`woods ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r;
  };
  const status = async (): Promise<ClusterStatus> => JSON.parse((await woods(["cluster", "status", "--json"])).stdout.toString());
  const pidsOf = async (node: string): Promise<(number | null)[]> => {
    const s = await status();
    if (node === "namenode") return [s.namenode.pid];
    if (node === "nats" || node === "nats-server") return s.natsServers.map((n) => n.pid);
    const one = [...s.natsServers, ...s.namenodes, ...s.datanodes].find((n) => n.id === node);
    if (!one) throw new Error(`no node ${node}`);
    return [one.pid];
  };
  let stopped = false;
  return {
    dir,
    creds: (role = "admin") => credsFile(dir, role),
    port,
    url,
    env,
    woods,
    ok,
    status,
    async stat(path) {
      return JSON.parse((await ok(["stat", path, "--json"])).stdout.toString());
    },
    async fsck() {
      const r = await woods(["fsck", "--json"]);
      if (r.code !== 0 && r.stdout.length === 0) throw new Error(`woods fsck exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout.toString());
    },
    async nodes() {
      return JSON.parse((await ok(["nodes", "--json"])).stdout.toString());
    },
    async put(remote, data, o = {}) {
      const local = join(mkdtempSync(join(tmpdir(), "woods-put-")), "data");
      writeFileSync(local, data);
      try {
        return await woods(["put", local, remote], o);
      } finally {
        rmSync(dirname(local), { recursive: true, force: true });
      }
    },
    async dataDirs(id) {
      const dn = (await status()).datanodes.find((d) => d.id === id);
      if (!dn) throw new Error(`no datanode ${id}`);
      return dn.dirs ?? [dn.dir];
    },
    async signal(node, sig) {
      const pids = (await pidsOf(node)).filter((p): p is number => !!p);
      if (pids.length === 0) throw new Error(`${node} is not running`);
      for (const pid of pids) process.kill(pid, sig);
    },
    async killAll() {
      const s = await status();
      const pids = [...s.natsServers.map((n) => n.pid), ...s.namenodes.map((n) => n.pid), ...s.datanodes.map((d) => d.pid)].filter((p): p is number => !!p);
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      await waitFor(async () => pids.every((pid) => !isRunning(pid)), 10_000, "every cluster process to die");
    },
    async up() {
      const r = await runWoods(upArgs, { env: upEnv });
      if (r.code !== 0) throw new Error(`cluster up again failed (${r.code}): ${r.stderr}`);
    },
    async down() {
      if (stopped) return;
      stopped = true;
      await woods(["cluster", "down"]);
      cleanup();
    },
  };
}


/**
 * Polls `cond` every `intervalMs` until it returns a truthy value (returned), or throws after
 * `timeoutMs` naming `what` and the last falsy value or error. A string from `cond` is treated
 * as "not yet, because …" when it starts with "not yet".
 */
export async function waitFor<T>(cond: () => Promise<T> | T, timeoutMs: number, what = "condition", intervalMs = 200): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v && !(typeof v === "string" && v.startsWith("not yet"))) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${typeof last === "string" ? last : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `woods fsck --json` of a cluster. */
export function fsckJson(cluster: TestCluster): Promise<FsckJson> {
  return cluster.fsck();
}

/** `woods stat PATH --json` of a cluster. */
export function statJson(cluster: TestCluster, path: string): Promise<StatJson> {
  return cluster.stat(path);
}

/** Every file under `root` (recursively) whose name passes `keep`. */
function findFiles(root: string, keep: (name: string, dir: string) => boolean): string[] {
  const out: string[] = [];
  if (!existsSync(root)) return out;
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // a dir replaced by a file or made unreadable by the test
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (keep(e.name, d)) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** The in-service replica files (`…/chunks/<chunkId>_v<N>.chunk`) of a chunk under a datanode's dir. */
export function chunkFiles(dnDir: string, chunkId: string): string[] {
  return findFiles(dnDir, (name, d) => basename(d) === "chunks" && name.startsWith(`${chunkId}_v`) && name.endsWith(".chunk"));
}

/** Every in-service replica file under a datanode's dir. */
export function allChunkFiles(dnDir: string): string[] {
  return findFiles(dnDir, (name, d) => basename(d) === "chunks" && name.endsWith(".chunk"));
}

/** Temp files of unfinished writes (`…/tmp/*.part`) under a datanode's dir. */
export function partFiles(dnDir: string): string[] {
  return findFiles(dnDir, (name) => name.endsWith(".part"));
}

/**
 * Whether every path is fully replicated: fsck healthy, and each chunk on exactly
 * `replication` distinct replicas, none of them dead. Returns true, or "not yet: …" saying why.
 */
export async function replicationRestored(cluster: TestCluster, paths: Iterable<string>, opts: { exact?: boolean } = {}): Promise<true | string> {
  const fsck = await cluster.fsck();
  if (!fsck.healthy) return `not yet: fsck ${JSON.stringify(fsck)}`;
  const nodes = await cluster.nodes();
  const dead = new Set(nodes.filter((n) => n.state === "dead").map((n) => n.id));
  for (const path of paths) {
    const st = await cluster.stat(path);
    for (const c of st.chunks) {
      const distinct = new Set(c.replicas);
      if (distinct.size !== c.replicas.length) return `not yet: ${path} chunk ${c.id} lists a replica twice: ${c.replicas}`;
      const live = [...distinct].filter((dn) => !dead.has(dn));
      if (live.length < st.replication) return `not yet: ${path} chunk ${c.id} has ${live.length} live replicas of ${st.replication}: ${c.replicas}`;
      if (opts.exact && distinct.size !== st.replication) return `not yet: ${path} chunk ${c.id} has ${distinct.size} replicas, want ${st.replication}: ${c.replicas}`;
    }
  }
  return true;
}

export function sha256(data: Buffer | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes (seeded) so failures can be reproduced. */
export function seededBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(Math.ceil(size / 4) * 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, size);
}

export { randomBytes };
