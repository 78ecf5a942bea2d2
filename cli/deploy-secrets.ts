/**
 * Credentials and NATS server config of a multi-host deployment (docker-compose.yml, docs/operations.md).
 *
 * A thin wrapper over `writeClusterAuth` (cli/cluster/auth.ts), the code `woods cluster up` runs, so the
 * users, permissions and routes of a deployment are exactly those of a local cluster: one credentials
 * file per role and per datanode (`<out>/creds/<user>.creds`, JSON {user,password}, mode 0600), the
 * route password (`route.creds`), and one server config for every nats-server (`<out>/nats-server.conf`,
 * mode 0600) = the project's `nats-server.conf` template + the accounts block + the `cluster {}` block.
 * Each server fills the template from its environment (WOODS_NATS_NAME, _HOST, _PORT, _HTTP_PORT,
 * _ROUTE_PORT, _STORE, _MAX_FILE_STORE). Existing passwords are kept, so running it again after adding
 * a datanode only adds that datanode's user.
 *
 * Run: `deploy/make-secrets.sh [--datanodes dn1,dn2,...] [--routes host:port,...] ...` (see `--help`).
 */
import { chownSync, existsSync, readdirSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeClusterAuth, credsDir, serverConfigFile, type FixedRole } from "./cluster/auth.js";
import { PROJECT_ROOT } from "./cluster/processes.js";

/** The uid and gid the woods image runs as (Dockerfile, `USER woods`); credentials must be readable by it. */
export const IMAGE_UID = 10001;
export const IMAGE_GID = 10001;

/** Defaults matching docker-compose.yml. */
export const DEPLOY_DEFAULTS = {
  prefix: "woods",
  clusterName: "woods",
  datanodes: ["dn1", "dn2", "dn3", "dn4"],
  routes: ["nats-1:6222", "nats-2:6222", "nats-3:6222"],
} as const;

export interface DeploySecretsOptions {
  /** Output folder (created 0700): `creds/` and `nats-server.conf` land here. */
  outDir: string;
  prefix?: string;
  /** Datanode ids that get a user (one each); a datanode left out loses its user. */
  datanodes?: readonly string[];
  /** `host:port` of every nats-server's route listener (its own included: a server ignores a route to itself). */
  routes?: readonly string[];
  clusterName?: string;
  /** Server config template (default: the project's `nats-server.conf`, the one `cluster up` uses). */
  templateFile?: string;
  /**
   * Owner given to the credentials files when running as root (default the image's 10001:10001), so the
   * non-root woods containers can read the files compose bind-mounts for them; null = leave as they are.
   */
  owner?: { uid: number; gid: number } | null;
}

export interface DeploySecrets {
  /** The generated server config (identical on every nats-server). */
  serverConfig: string;
  /** Credentials file per user: `admin`, `namenode`, `client`, `dashboard`, `monitor`, a datanode id, `route`. */
  files: Record<string, string>;
  /** Whether the files were given to `owner` (only root can); false means the caller must see to it. */
  chowned: boolean;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HOST_PORT = /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/;

/** Writes (or completes) the secrets of a deployment; throws naming a bad id or route. */
export function writeDeploySecrets(opts: DeploySecretsOptions): DeploySecrets {
  const datanodes = [...(opts.datanodes ?? DEPLOY_DEFAULTS.datanodes)];
  const routes = [...(opts.routes ?? DEPLOY_DEFAULTS.routes)];
  for (const id of datanodes) if (!ID.test(id)) throw new Error(`datanode id ${JSON.stringify(id)} must match [A-Za-z0-9_-]{1,64}`);
  if (new Set(datanodes).size !== datanodes.length) throw new Error(`datanode ids repeat: ${datanodes.join(",")}`);
  for (const r of routes) if (!HOST_PORT.test(r)) throw new Error(`route ${JSON.stringify(r)} must be host:port`);
  if (routes.length < 1) throw new Error("at least one route (host:port) is needed");
  const outDir = resolve(opts.outDir);
  const auth = writeClusterAuth(
    outDir,
    opts.prefix ?? DEPLOY_DEFAULTS.prefix,
    datanodes,
    opts.templateFile ?? join(PROJECT_ROOT, "nats-server.conf"),
    undefined,
    { cluster: { name: opts.clusterName ?? DEPLOY_DEFAULTS.clusterName, routes } },
  );
  const owner = opts.owner === undefined ? { uid: IMAGE_UID, gid: IMAGE_GID } : opts.owner;
  let chowned = false;
  if (owner && process.getuid?.() === 0) {
    // Only the files woods containers read; the server config stays root's (the nats image runs as root).
    for (const [who, file] of Object.entries(auth.files)) if (who !== "route") chownSync(file, owner.uid, owner.gid);
    chowned = true;
  }
  return { serverConfig: serverConfigFile(outDir), files: auth.files, chowned };
}

/** The credentials file name (inside `<out>/creds/`) of a role or datanode: what docker-compose.yml mounts. */
export function deployCredsName(who: FixedRole | { datanode: string }): string {
  return `${typeof who === "string" ? who : `datanode-${who.datanode}`}.creds`;
}

const USAGE = `Usage: deploy/make-secrets.sh [options]

Writes the credentials and the nats-server config of a deployment (docker-compose.yml) with the code
\`woods cluster up\` uses: <out>/creds/<user>.creds (mode 0600) and <out>/nats-server.conf (mode 0600).
Existing passwords are kept; run it again after adding or removing a datanode, then reload the
nats-servers (docker compose kill -s HUP nats-1 nats-2 nats-3).

Options:
  --out DIR            output folder (default: deploy/secrets)
  --prefix P           subject prefix (default: ${DEPLOY_DEFAULTS.prefix}; must match the woods config)
  --datanodes IDS      comma-separated datanode ids (default: ${DEPLOY_DEFAULTS.datanodes.join(",")})
  --routes LIST        comma-separated host:port of every nats-server's route port
                       (default: ${DEPLOY_DEFAULTS.routes.join(",")})
  --cluster-name NAME  NATS cluster name (default: ${DEPLOY_DEFAULTS.clusterName})
  --template FILE      server config template (default: the project's nats-server.conf)
  --owner UID:GID      owner of the credentials files when run as root (default: ${IMAGE_UID}:${IMAGE_GID},
                       the woods image's user); "none" leaves them as they are
  -h, --help           this text`;

/** Parses the command line of `deploy/make-secrets.sh`. */
export function parseDeployArgs(argv: readonly string[]): DeploySecretsOptions | "help" {
  const opts: DeploySecretsOptions = { outDir: join(PROJECT_ROOT, "deploy", "secrets") };
  const list = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") return "help";
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value (or is not an option; see --help)`);
    i++;
    switch (a) {
      case "--out": opts.outDir = v; break;
      case "--prefix": opts.prefix = v; break;
      case "--datanodes": opts.datanodes = list(v); break;
      case "--routes": opts.routes = list(v); break;
      case "--cluster-name": opts.clusterName = v; break;
      case "--template": opts.templateFile = v; break;
      case "--owner": {
        if (v === "none") opts.owner = null;
        else {
          const m = /^(\d+):(\d+)$/.exec(v);
          if (!m) throw new Error(`--owner must be UID:GID or none, got ${JSON.stringify(v)}`);
          opts.owner = { uid: Number(m[1]), gid: Number(m[2]) };
        }
        break;
      }
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  return opts;
}

/** `deploy/make-secrets.sh`: writes the secrets and says where, never printing a password. */
export function main(argv: readonly string[]): number {
  let opts: DeploySecretsOptions | "help";
  try {
    opts = parseDeployArgs(argv);
  } catch (e) {
    process.stderr.write(`make-secrets: ${(e as Error).message}\n`);
    return 2;
  }
  if (opts === "help") {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (opts.templateFile && !existsSync(opts.templateFile)) {
    process.stderr.write(`make-secrets: template ${opts.templateFile} does not exist\n`);
    return 2;
  }
  let out: DeploySecrets;
  try {
    out = writeDeploySecrets(opts);
  } catch (e) {
    process.stderr.write(`make-secrets: ${(e as Error).message}\n`);
    return 1;
  }
  const dir = credsDir(resolve(opts.outDir));
  process.stdout.write(`nats-server config: ${out.serverConfig}\ncredentials (${dir}): ${readdirSync(dir).sort().join(" ")}\n`);
  const owner = opts.owner === undefined ? { uid: IMAGE_UID, gid: IMAGE_GID } : opts.owner;
  if (owner && !out.chowned) {
    process.stderr.write(
      `make-secrets: not root, so the credentials stay owned by uid ${process.getuid?.()}; the woods containers run as ` +
        `${owner.uid}:${owner.gid} and read them only after: sudo chown ${owner.uid}:${owner.gid} ${join(dir, "*.creds")}\n`,
    );
  }
  return 0;
}

/** True when this module is the program being run (node dist/cli/deploy-secrets.js, or tsx). */
function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv.slice(2));
