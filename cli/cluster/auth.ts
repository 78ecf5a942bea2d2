/**
 * Users, passwords and permissions of a local cluster's NATS server (README, Security).
 *
 * `cluster up` writes one credentials file per process into `<dir>/creds/` (mode 0600), and a server
 * config `<dir>/nats-server.conf` (mode 0600) = the project's `nats-server.conf` plus an `accounts`
 * block holding every user. All users live in one account with JetStream: an older server advisory
 * let the implicit global account accept logins without credentials when users were declared outside
 * `accounts`. No `no_auth_user`, so anonymous connections are refused.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NAMENODE_VERBS, subjects, type DatanodeVerb, type NamenodeVerb, type Subjects } from "../../messages/index.js";

/** Roles that are not per datanode. */
export const FIXED_ROLES = ["admin", "namenode", "client", "dashboard", "monitor"] as const;
export type FixedRole = (typeof FIXED_ROLES)[number];

export interface Credentials {
  user: string;
  password: string;
}

interface Permissions {
  publish: { allow?: string[]; deny?: string[] };
  subscribe: { allow?: string[]; deny?: string[] };
  allowResponses?: boolean;
}

/** Namenode verbs only datanodes (and the namenode's own tools) send. */
const DATANODE_ONLY_NAMENODE_VERBS: readonly NamenodeVerb[] = ["heartbeat", "report", "appendLease", "appendCommit", "appendDropReplica", "decommission" /* admin only */];
/** Datanode verbs a client uses; `replicate` and `appendApply` are commands from the namenode or a primary. */
const CLIENT_DATANODE_VERBS: readonly DatanodeVerb[] = ["ping", "open", "close", "abort", "read", "append", "ingest"];

export function credsDir(clusterDir: string): string {
  return join(clusterDir, "creds");
}

/** The credentials file of one user of the cluster in `clusterDir` (role, or a datanode id). */
export function credsFile(clusterDir: string, who: FixedRole | { datanode: string }): string {
  return join(credsDir(clusterDir), `${typeof who === "string" ? who : `datanode-${who.datanode}`}.creds`);
}

/** The generated server config of the cluster in `clusterDir`. */
export function serverConfigFile(clusterDir: string): string {
  return join(clusterDir, "nats-server.conf");
}

/** A strong password: 32 random bytes, base64url (no characters the config parser would need quoted). */
function newPassword(): string {
  return randomBytes(32).toString("base64url");
}

/** Writes `text` to `file` with mode 0600, also when the file already existed with a wider mode. */
function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Reads the credentials in `file`, creating them (user `user`, fresh password) when missing. */
function ensureCreds(file: string, user: string): Credentials {
  if (existsSync(file)) {
    try {
      const c = JSON.parse(readFileSync(file, "utf8")) as Partial<Credentials>;
      if (c.user === user && typeof c.password === "string" && c.password.length >= 32) {
        chmodSync(file, 0o600);
        return { user, password: c.password };
      }
    } catch {
      /* rewritten below */
    }
  }
  const creds = { user, password: newPassword() };
  writePrivate(file, JSON.stringify(creds) + "\n");
  return creds;
}

/** JetStream API and data subjects that using Object Store bucket `bucket` needs, without purge/delete of other streams. */
function objectStoreSubjects(bucket: string, opts: { create: boolean }): string[] {
  const stream = `OBJ_${bucket}`;
  return [
    "$JS.API.INFO",
    ...streamUse(stream),
    ...(opts.create ? [`$JS.API.STREAM.CREATE.${stream}`] : []),
    // Deleting an object purges its chunks' subject: only within this bucket's own stream.
    `$JS.API.STREAM.PURGE.${stream}`,
    `$O.${bucket}.>`,
    "$JS.FC.>",
  ];
}

/** JetStream API subjects to read one stream and consume from it (info, message gets, consumers, acks). */
function streamUse(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

/** The permissions of each role for a deployment prefix (pure: the server config is built from these). */
export function rolePermissions(subj: Subjects, role: FixedRole | { datanode: string }): Permissions | null {
  const p = subj.prefix;
  if (role === "admin") return null; // everything in the account
  if (role === "namenode") {
    // The JetStream API of the streams it owns (the metadata log, the leader lease's KV bucket, the
    // snapshot, repair and staging Object Stores): create, update, read, consumers, purge — never
    // delete a stream, nor touch any other.
    const own = (stream: string) => [
      `$JS.API.STREAM.CREATE.${stream}`,
      `$JS.API.STREAM.UPDATE.${stream}`,
      `$JS.API.STREAM.PURGE.${stream}`,
      ...streamUse(stream),
    ];
    const buckets = [subj.snapshotBucket(), subj.repairBucket(), subj.stagingBucket()];
    return {
      publish: {
        allow: [
          // Its own verbs (a standby asks the active one) and the standby's read-only ones.
          `${p}.namenode.>`,
          `${p}.shadow.>`,
          // Orders to datanodes: repairs, and a standby asking for full reports.
          `${p}.datanode.*.replicate`,
          `${p}.datanode.*.fullReport`,
          `${p}.datanode.*.ping`,
          subj.eventsAll(),
          "_INBOX.>",
          "$JS.API.INFO",
          "$JS.FC.>",
          subj.metaLog(),
          ...own(subj.metaStream()),
          `$KV.${subj.leaderBucket()}.>`,
          ...own(`KV_${subj.leaderBucket()}`),
          ...buckets.flatMap((b) => [`$O.${b}.>`, ...own(`OBJ_${b}`)]),
        ],
      },
      subscribe: { allow: [`${p}.namenode.>`, `${p}.shadow.>`, subj.eventsAll(), "_INBOX.>", "$SRV.>"] },
      allowResponses: true,
    };
  }
  if (role === "monitor") {
    return { publish: { deny: [">"] }, subscribe: { allow: [subj.eventsAll(), "$SRV.>"] } };
  }
  const clientVerbs = NAMENODE_VERBS.filter((v) => !DATANODE_ONLY_NAMENODE_VERBS.includes(v));
  if (role === "client" || role === "dashboard") {
    return {
      publish: {
        allow: [
          ...clientVerbs.map((v) => subj.namenode(v)),
          ...CLIENT_DATANODE_VERBS.map((v) => `${p}.datanode.*.${v}`),
          `${p}.data.>`,
          // Read-only verbs of standby namenodes (stat, ls, nodes, ping), GFS's shadow masters.
          `${p}.shadow.*`,
          // Service discovery (`$SRV.PING|INFO|STATS`) is read-only for the services.
          "$SRV.>",
          ...objectStoreSubjects(subj.stagingBucket(), { create: true }),
        ],
      },
      subscribe: { allow: ["_INBOX.>", subj.eventsAll()] },
    };
  }
  const id = role.datanode;
  return {
    publish: {
      allow: [
        // Heartbeats, reports and the primary's append verbs, only under its own id (messages/subjects.ts, DATANODE_SELF_VERBS).
        `${p}.namenode.dn.${id}.>`,
        `${p}.datanode.*.ping`,
        `${p}.datanode.*.ingest`,
        `${p}.datanode.*.appendApply`,
        subj.eventsAll(),
        "_INBOX.>",
        ...objectStoreSubjects(subj.stagingBucket(), { create: false }),
        ...objectStoreSubjects(subj.repairBucket(), { create: false }),
      ],
    },
    subscribe: { allow: [`${p}.datanode.${id}.>`, `${p}.data.>`, "_INBOX.>", "$SRV.>"] },
    allowResponses: true,
  };
}

function q(s: string): string {
  return JSON.stringify(s);
}

function permBlock(perm: Permissions): string {
  const list = (xs: string[]) => `[${xs.map(q).join(", ")}]`;
  const side = (s: { allow?: string[]; deny?: string[] }) =>
    `{ ${s.allow ? `allow: ${list(s.allow)}` : ""}${s.allow && s.deny ? ", " : ""}${s.deny ? `deny: ${list(s.deny)}` : ""} }`;
  return `permissions: { publish: ${side(perm.publish)}, subscribe: ${side(perm.subscribe)}${perm.allowResponses ? ", allow_responses: true" : ""} }`;
}

/** The PEM files of a `--tls` folder (README, Security). */
export function tlsFiles(dir: string): { ca: string; serverCert: string; serverKey: string; cert: string; key: string } {
  return {
    ca: join(dir, "ca.pem"),
    serverCert: join(dir, "server-cert.pem"),
    serverKey: join(dir, "server-key.pem"),
    cert: join(dir, "client-cert.pem"),
    key: join(dir, "client-key.pem"),
  };
}

/** The client-side TLS options (config `nats.tls`) of a cluster brought up with `--tls dir`. */
export function clientTls(tls: { dir: string } | undefined): { ca: string; cert: string; key: string } | undefined {
  if (!tls) return undefined;
  const f = tlsFiles(tls.dir);
  return { ca: f.ca, cert: f.cert, key: f.key };
}

export interface ClusterAuth {
  /** Credentials file per role and per datanode id. */
  files: Record<string, string>;
}

/** The routes of a NATS cluster (several servers); absent = a single server. */
export interface ClusterRoutes {
  /** The cluster's name (default "woods"). */
  name?: string;
  /** `host:port` of every server's route listener (each server's own may be included: it ignores a route to itself). */
  routes: string[];
}

export interface ClusterAuthOptions {
  /** Adds a `cluster {}` block: route listener on $WOODS_NATS_HOST:$WOODS_NATS_ROUTE_PORT, routes, route password (and TLS with `tls`). */
  cluster?: ClusterRoutes;
}

/** The route user's credentials file (its password is only ever written into 0600 files, never printed). */
export function routeCredsFile(clusterDir: string): string {
  return join(credsDir(clusterDir), "route.creds");
}

/**
 * Creates the credentials that are missing (existing ones are kept across `cluster up`s) and writes
 * the server config with the accounts block (identical on every server of a cluster: they share the
 * file). Returns where each process's credentials are.
 */
export function writeClusterAuth(
  clusterDir: string,
  prefix: string,
  datanodeIds: string[],
  templateFile: string,
  tls?: { dir: string },
  opts: ClusterAuthOptions = {},
): ClusterAuth {
  const subj = subjects(prefix);
  mkdirSync(credsDir(clusterDir), { recursive: true, mode: 0o700 });
  chmodSync(credsDir(clusterDir), 0o700);
  const files: Record<string, string> = {};
  const users: string[] = [];
  const add = (who: FixedRole | { datanode: string }) => {
    const user = typeof who === "string" ? who : `datanode-${who.datanode}`;
    const file = credsFile(clusterDir, who);
    const c = ensureCreds(file, user);
    files[typeof who === "string" ? who : who.datanode] = file;
    const perm = rolePermissions(subj, who);
    users.push(`      { user: ${q(c.user)}, password: ${q(c.password)}${perm ? `, ${permBlock(perm)}` : ""} }`);
  };
  for (const r of FIXED_ROLES) add(r);
  for (const id of datanodeIds) add({ datanode: id });
  const text =
    readFileSync(templateFile, "utf8") +
    `
# ---- Written by \`woods cluster up\` (cli/cluster/auth.ts): one account, a user per role and per datanode.
# Anonymous connections are refused (no no_auth_user).
accounts {
  WOODS {
    jetstream: enabled
    users: [
${users.join(",\n")}
    ]
  }
}
`;
  let tlsBlock = "";
  let tlsInner = "";
  if (tls) {
    const f = tlsFiles(tls.dir);
    for (const file of [f.ca, f.serverCert, f.serverKey, f.cert, f.key]) {
      if (!existsSync(file)) throw new Error(`--tls ${tls.dir}: ${file} is missing (see README, Security)`);
    }
    // verify: every client must present a certificate signed by the CA, on top of its user and password.
    tlsInner = `  cert_file: ${q(f.serverCert)}
  key_file: ${q(f.serverKey)}
  ca_file: ${q(f.ca)}
  verify: true
  timeout: 5
`;
    tlsBlock = `
tls {
${tlsInner}}
`;
  }
  let clusterBlock = "";
  if (opts.cluster) {
    const route = ensureCreds(routeCredsFile(clusterDir), "route");
    files.route = routeCredsFile(clusterDir);
    const routes = opts.cluster.routes.map((hp) => q(`nats-route://${route.user}:${route.password}@${hp}`));
    // With TLS, routes use the server certificate both ways (it needs serverAuth and clientAuth usages,
    // or none) and must present one signed by the same CA.
    clusterBlock = `
# ---- The NATS cluster: routes between the servers, with a password of their own${tls ? " and TLS (same CA, verify)" : ""}.
cluster {
  name: ${q(opts.cluster.name ?? "woods")}
  host: $WOODS_NATS_HOST
  port: $WOODS_NATS_ROUTE_PORT
  authorization {
    user: ${q(route.user)}
    password: ${q(route.password)}
    timeout: 5
  }
  routes: [
    ${routes.join(",\n    ")}
  ]
${tls ? `  tls {\n${tlsInner.trimEnd().replace(/^/gm, "  ")}\n  }\n` : ""}}
`;
  }
  writePrivate(serverConfigFile(clusterDir), text + tlsBlock + clusterBlock);
  return { files };
}
