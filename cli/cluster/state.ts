/** The cluster state file (`<dir>/cluster.json`) that `cluster up` writes and the other commands read. */
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";

export interface ProcState {
  pid: number | null;
}

export interface ClusterState {
  /** Client URL of the NATS server. */
  nats: string;
  dir: string;
  prefix: string;
  configFile: string;
  natsServer: ProcState & { port: number; httpPort: number; storeDir: string; binary: string };
  namenode: ProcState & { id: string };
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
  datanodes: (ProcState & {
    id: string;
    /** The node's folder; its data dirs are this or folders inside it. */
    dir: string;
    /** Data dirs passed as repeated `--dir` (absent = just `dir`). */
    dirs?: string[];
    /** NATS URL this datanode connects to instead of `nats` (e.g. through a test proxy). */
    natsUrl?: string;
  })[];
}

/** The data dirs of a datanode entry. */
export function dataDirs(dn: { dir: string; dirs?: string[] }): string[] {
  return dn.dirs && dn.dirs.length > 0 ? dn.dirs : [dn.dir];
}

export function statePath(dir: string): string {
  return join(dir, "cluster.json");
}

export function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Written atomically so a concurrent `status` never sees half a file. */
export function writeState(state: ClusterState): void {
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
