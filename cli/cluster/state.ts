/** The cluster state file (`<dir>/cluster.json`) that `cluster up` writes and the other commands read. */
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";

export interface ProcState {
  pid: number | null;
}

/** One nats-server of the cluster. */
export interface NatsServerState extends ProcState {
  /** `nats-1` … `nats-N` (its `server_name` is `woods-<id>`); absent in cluster.json files of single-server clusters made before. */
  id: string;
  /** Client port. */
  port: number;
  /** Monitoring port (/healthz, /routez, /jsz). */
  httpPort: number;
  /** Route (cluster) port; absent for a cluster of one server. */
  routePort?: number;
  storeDir: string;
  binary: string;
}

export interface NamenodeState extends ProcState {
  /** `nn1` … `nnM` (config `namenode.id`, set per process through $WOODS_NAMENODE_ID). */
  id: string;
}

export interface DatanodeState extends ProcState {
  id: string;
  /** The node's folder; its data dirs are this or folders inside it. */
  dir: string;
  /** Data dirs passed as repeated `--dir` (absent = just `dir`). */
  dirs?: string[];
  /** NATS URL this datanode connects to instead of `nats` (e.g. through a test proxy). */
  natsUrl?: string;
  /** Its zone (`--zone`, rack awareness); absent = none given. */
  zone?: string;
}

export interface ClusterState {
  /** Client URLs of the NATS servers, comma separated (one URL for a single server). */
  nats: string;
  dir: string;
  prefix: string;
  configFile: string;
  /** The first nats-server (kept for readers of older cluster.json files; the same entry as `natsServers[0]`). */
  natsServer: NatsServerState;
  /** Every nats-server (absent in older files: readState fills it in from `natsServer`). */
  natsServers: NatsServerState[];
  /** The first namenode (kept for older readers; the same entry as `namenodes[0]`). */
  namenode: NamenodeState;
  /** Every namenode (absent in older files: readState fills it in from `namenode`). */
  namenodes: NamenodeState[];
  /**
   * TLS (absent = plain TCP): the folder given to `cluster up --tls`, with `ca.pem`, `server-cert.pem`,
   * `server-key.pem` and the certificate every woods process presents, `client-cert.pem` / `client-key.pem`.
   */
  tls?: { dir: string };
  /**
   * The web dashboard (absent in clusters made before it existed, or with `--no-dashboard`).
   * `port` is what it asks for; `url` is where it listens (it takes a free port when the asked one is taken).
   */
  dashboard?: ProcState & { host: string; port: number; portFallback: boolean; url: string | null };
  datanodes: DatanodeState[];
}

/** The data dirs of a datanode entry. */
export function dataDirs(dn: { dir: string; dirs?: string[] }): string[] {
  return dn.dirs && dn.dirs.length > 0 ? dn.dirs : [dn.dir];
}

export function statePath(dir: string): string {
  return join(dir, "cluster.json");
}

/**
 * Fills in what older cluster.json files lack (one server, one namenode) and makes `natsServer` /
 * `namenode` the same objects as the first entries of the lists, so a change to either is saved.
 */
export function normalizeState(s: ClusterState): ClusterState {
  const servers = Array.isArray(s.natsServers) && s.natsServers.length > 0 ? s.natsServers : [{ ...s.natsServer, id: s.natsServer?.id ?? "nats-1" }];
  for (const [i, srv] of servers.entries()) srv.id ??= `nats-${i + 1}`;
  s.natsServers = servers;
  s.natsServer = servers[0]!;
  const nns = Array.isArray(s.namenodes) && s.namenodes.length > 0 ? s.namenodes : [{ ...s.namenode, id: s.namenode?.id ?? "nn1" }];
  s.namenodes = nns;
  s.namenode = nns[0]!;
  return s;
}

export function readState(dir: string): ClusterState | undefined {
  let s: ClusterState;
  try {
    s = JSON.parse(readFileSync(statePath(dir), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
  return normalizeState(s);
}

/** Written atomically so a concurrent `status` never sees half a file. */
export function writeState(state: ClusterState): void {
  normalizeState(state);
  const tmp = statePath(state.dir) + `.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, statePath(state.dir));
}

/** True when a process with this pid exists (and is not a zombie we can see). */
export function isRunning(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true;
  }
}
