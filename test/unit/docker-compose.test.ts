/**
 * docker-compose.yml, checked without a Docker engine: its shape (three routed nats-servers, two
 * namenodes, four datanodes in two zones, the dashboard), each woods service's command line parsed by
 * the real CLI, its environment loaded by the real config loader, its credentials against the files
 * the real secrets generator writes, and the generated nats-server config against the servers'
 * environment. test/integration/deploy-nats-cluster.test.ts boots that config for real.
 */
import test from "ava";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main.js";
import { DEPLOY_DEFAULTS, IMAGE_GID, IMAGE_UID, deployCredsName, writeDeploySecrets } from "../../cli/deploy-secrets.js";
import { credsFile, serverConfigFile, type FixedRole } from "../../cli/cluster/auth.js";
import { envNames, loadConfig } from "../../config/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SECRETS_DIR = "./deploy/secrets";

type Env = Record<string, string>;
interface Mount {
  type: "bind" | "volume";
  source: string;
  target: string;
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Env;
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { type: string; source: string; target: string })[];
  ports?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  profiles?: string[];
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  volumes: Record<string, unknown>;
}

const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as Compose;
const services = Object.entries(compose.services);
const natsServices = services.filter(([, s]) => s.image?.startsWith("nats:"));
const woodsServices = services.filter(([, s]) => s.image?.startsWith("whispering-woods"));
const namenodes = woodsServices.filter(([, s]) => s.command?.[0] === "namenode");
const datanodes = woodsServices.filter(([, s]) => s.command?.[0] === "datanode");

/** The value following `flag` in a command line. */
function flag(cmd: readonly string[], name: string): string | undefined {
  const i = cmd.indexOf(name);
  return i >= 0 ? cmd[i + 1] : undefined;
}

function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== "string") return { type: v.type as Mount["type"], source: v.source, target: v.target };
    const [source, target] = v.split(":");
    return { type: source!.startsWith(".") || source!.startsWith("/") ? "bind" : "volume", source: source!, target: target! };
  });
}

/** The host path of a container path, through the service's bind mounts. */
function hostPath(s: Service, containerPath: string): string | undefined {
  for (const m of mounts(s)) {
    if (m.type !== "bind") continue;
    if (containerPath === m.target || containerPath.startsWith(m.target + "/")) return join(ROOT, m.source, relative(m.target, containerPath));
  }
  return undefined;
}

/** The one secret of a service as {name, path inside the container}. */
function secretsOf(s: Service): { name: string; path: string }[] {
  return (s.secrets ?? []).map((x) => {
    const name = typeof x === "string" ? x : x.source;
    const target = typeof x === "string" ? x : (x.target ?? x.source);
    return { name, path: target.startsWith("/") ? target : `/run/secrets/${target}` };
  });
}

/** Parses `argv` with the real `woods` program (actions replaced by a recorder); throws on unknown or missing flags. */
async function parseWithCli(argv: readonly string[]): Promise<{ command: string; opts: Record<string, unknown> }> {
  const program = buildProgram();
  let ran: { command: string; opts: Record<string, unknown> } | undefined;
  const walk = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    if (cmd.commands.length === 0 && cmd !== program) {
      cmd.action((...args: unknown[]) => {
        const self = args[args.length - 1] as Command;
        ran = { command: self.name(), opts: self.optsWithGlobals() };
      });
    }
    for (const sub of cmd.commands) walk(sub);
  };
  walk(program);
  await program.parseAsync(["node", "woods", ...argv]);
  if (!ran) throw new Error(`${argv.join(" ")} ran no command`);
  return ran;
}

/** The role whose credentials a woods service should get. */
function roleOf(name: string, s: Service): FixedRole | { datanode: string } {
  const cmd = s.command ?? [];
  if (cmd[0] === "namenode") return "namenode";
  if (cmd[0] === "datanode") return { datanode: flag(cmd, "--id")! };
  if (cmd[0] === "dashboard") return "dashboard";
  // The on-demand tool services are named after their role.
  if (name === "client" || name === "admin") return name;
  throw new Error(`service ${name}: no role known for ${cmd.join(" ")}`);
}

/** The generated secrets (real generator, compose defaults) in a temp dir, shared by the tests. */
const generated = (() => {
  const dir = mkdtempSync(join(tmpdir(), "woods-deploy-"));
  const out = writeDeploySecrets({ outDir: dir, owner: null });
  return { dir, out, conf: readFileSync(out.serverConfig, "utf8") };
})();
test.after.always(() => rmSync(generated.dir, { recursive: true, force: true }));

/** The host file of a compose secret, moved into the temp dir when it lives in deploy/secrets. */
function generatedFileOf(secretName: string): string {
  const file = compose.secrets[secretName]?.file;
  if (!file) throw new Error(`secret ${secretName} is not declared`);
  const rel = relative(SECRETS_DIR, file);
  if (rel.startsWith("..")) throw new Error(`secret ${secretName} (${file}) is not under ${SECRETS_DIR}`);
  return join(generated.dir, rel);
}

test("three nats-servers of the official 2.10 image, each with its own name, JetStream store volume and healthcheck", (t) => {
  t.is(natsServices.length, 3);
  const names = new Set<string>();
  const volumes = new Set<string>();
  for (const [name, s] of natsServices) {
    t.regex(s.image!, /^nats:2\.10(-alpine)?$/);
    const env = s.environment ?? {};
    t.truthy(env.WOODS_NATS_NAME, `${name} names its server`);
    names.add(env.WOODS_NATS_NAME!);
    const store = mounts(s).find((m) => m.target === env.WOODS_NATS_STORE);
    t.truthy(store, `${name}: a volume is mounted at its JetStream store ${env.WOODS_NATS_STORE}`);
    t.is(store!.type, "volume");
    t.truthy(compose.volumes[store!.source], `volume ${store!.source} is declared`);
    volumes.add(store!.source);
    t.truthy(s.healthcheck?.test.join(" ").includes(`:${env.WOODS_NATS_HTTP_PORT}/healthz`), `${name} checks /healthz on its monitoring port`);
    t.is(s.restart, "unless-stopped");
  }
  t.is(names.size, 3, "distinct server names");
  t.is(volumes.size, 3, "a store volume each");
});

test("the nats-servers run the generated config, and it gives them what their environment leaves open", (t) => {
  t.regex(generated.conf, /jetstream\s*\{[^}]*store_dir:\s*\$WOODS_NATS_STORE/);
  t.regex(generated.conf, /sync_interval:\s*always/);
  t.regex(generated.conf, /accounts\s*\{/);
  const vars = new Set([...generated.conf.matchAll(/\$(WOODS_[A-Z0-9_]+)/g)].map((m) => m[1]!));
  t.true(vars.has("WOODS_NATS_ROUTE_PORT"));
  for (const [name, s] of natsServices) {
    const [secret] = secretsOf(s);
    t.is(secretsOf(s).length, 1, `${name} gets only the server config`);
    t.deepEqual(s.command, ["--config", secret!.path]);
    t.is(relative(generated.dir, generatedFileOf(secret!.name)), relative(generated.dir, serverConfigFile(generated.dir)), "the file the generator writes");
    for (const v of vars) t.truthy(s.environment?.[v], `${name} sets $${v} used by the config`);
  }
});

test("the three servers form one cluster: the shared routes name every server's route port", (t) => {
  const cluster = /\ncluster\s*\{([\s\S]*?)\n\}/.exec(generated.conf);
  t.truthy(cluster, "a cluster block");
  t.regex(cluster![1]!, /name:\s*"woods"/);
  t.regex(cluster![1]!, /authorization\s*\{[^}]*password/, "routes need a password");
  const routes = [...cluster![1]!.matchAll(/nats-route:\/\/[^@"]+@([^"]+)"/g)].map((m) => m[1]!);
  for (const [name, s] of natsServices) {
    const others = natsServices.filter(([n]) => n !== name).map(([n, o]) => `${n}:${o.environment!.WOODS_NATS_ROUTE_PORT}`);
    for (const o of others) t.true(routes.includes(o), `${name}'s routes name ${o}`);
    t.is(s.environment!.WOODS_NATS_ROUTE_PORT, natsServices[0]![1].environment!.WOODS_NATS_ROUTE_PORT);
  }
  t.deepEqual([...DEPLOY_DEFAULTS.routes].sort(), routes.sort(), "the generator's default routes are the compose servers");
});

test("two namenodes with distinct ids and four datanodes with distinct ids, own volumes and two zones", async (t) => {
  t.is(namenodes.length, 2);
  const nnIds = new Set<string>();
  for (const [name, s] of namenodes) {
    const { opts } = await parseWithCli(s.command!);
    const config = loadConfig({ file: hostPath(s, s.environment!.WOODS_CONFIG!), env: s.environment! });
    const id = (opts.id as string | undefined) ?? config.namenode.id;
    t.false(nnIds.has(id), `${name}: namenode id ${id} is unique`);
    nnIds.add(id);
    t.is(mounts(s).filter((m) => m.type === "volume").length, 0, `${name} keeps its state in JetStream, not on a volume`);
  }
  t.is(datanodes.length, 4);
  const ids = new Set<string>();
  const volumes = new Set<string>();
  const zones = new Set<string>();
  for (const [name, s] of datanodes) {
    const { opts } = await parseWithCli(s.command!);
    const id = opts.id as string;
    t.is(id, name, "the service is named after its datanode id");
    ids.add(id);
    for (const dir of opts.dir as string[]) {
      const m = mounts(s).find((x) => x.target === dir);
      t.is(m?.type, "volume", `${name}: --dir ${dir} is a volume`);
      t.truthy(compose.volumes[m!.source]);
      volumes.add(m!.source);
    }
    const config = loadConfig({ file: hostPath(s, s.environment!.WOODS_CONFIG!), env: s.environment! });
    const zone = (opts.zone as string | undefined) ?? (config.datanode as { zone?: string }).zone;
    t.truthy(zone, `${name} has a zone`);
    zones.add(zone!);
  }
  t.is(ids.size, 4);
  t.is(volumes.size, 4, "a volume each");
  t.true(zones.size >= 2, `zones: ${[...zones].join(", ")}`);
  t.deepEqual([...DEPLOY_DEFAULTS.datanodes].sort(), [...ids].sort(), "the generator's default datanodes are the compose ones");
});

test("every woods service's command line parses with the real CLI and its environment with the real config loader", async (t) => {
  const known = new Set([...envNames().keys(), "WOODS_NATS", "WOODS_CREDS", "WOODS_CONFIG"]);
  t.true(woodsServices.length >= 7);
  for (const [name, s] of woodsServices) {
    t.is(s.build, ".", `${name} is built from the Dockerfile`);
    const { command } = await parseWithCli(s.command!);
    t.is(command, s.command![0], `${name} runs woods ${s.command![0]}`);
    for (const k of Object.keys(s.environment ?? {})) t.true(known.has(k), `${name}: ${k} is a config variable`);
    const file = hostPath(s, s.environment!.WOODS_CONFIG!);
    t.truthy(file && existsSync(file), `${name}: its config ${s.environment!.WOODS_CONFIG} is mounted from a file in the repo`);
    const config = loadConfig({ file, env: s.environment! });
    t.is(config.namenode.logReplicas, 3, "the metadata log has three replicas");
    t.is(config.stagingReplicas, 3, "so has the staging bucket");
    t.is(config.nats.creds, s.environment!.WOODS_CREDS);
    if (s.restart !== "no") t.is(s.restart, "unless-stopped");
  }
});

test("a bad command line fails the CLI check (the check has teeth)", async (t) => {
  await t.throwsAsync(parseWithCli(["datanode", "--id", "dn1", "--dir", "/data", "--no-such-flag"]));
  await t.throwsAsync(parseWithCli(["datanode", "--dir", "/data"]));
  await t.throwsAsync(parseWithCli(["dashboard", "--port", "not-a-port"]));
});

test("every woods service's NATS URL list names all three servers", (t) => {
  const servers = natsServices.map(([n, s]) => `${n}:${s.environment!.WOODS_NATS_PORT}`).sort();
  for (const [name, s] of woodsServices) {
    const url = flag(s.command!, "--nats") ?? s.environment?.WOODS_NATS;
    t.truthy(url, `${name} is given the servers`);
    const hosts = url!.split(",").map((u) => u.trim().replace(/^(nats|tls):\/\//, "")).sort();
    t.deepEqual(hosts, servers, name);
  }
});

test("every woods service gets its own role's credentials and nothing else", (t) => {
  for (const [name, s] of woodsServices) {
    const secrets = secretsOf(s);
    t.is(secrets.length, 1, `${name} gets exactly one secret`);
    const role = roleOf(name, s);
    const file = generatedFileOf(secrets[0]!.name);
    t.is(file, credsFile(generated.dir, role), `${name} gets ${deployCredsName(role)}`);
    t.true(existsSync(file), `the generator writes ${file}`);
    t.is(s.environment?.WOODS_CREDS, secrets[0]!.path, `${name}: WOODS_CREDS points at its secret`);
    const creds = JSON.parse(readFileSync(file, "utf8")) as { user: string };
    t.is(creds.user, deployCredsName(role).replace(/\.creds$/, ""));
  }
  for (const [name, s] of natsServices) t.false(secretsOf(s).some((x) => x.name !== "nats-server-conf"), `${name} gets no woods credentials`);
});

test("the generator writes 0600 files and the image's user owns what it reads", (t) => {
  for (const f of [generated.out.serverConfig, ...Object.values(generated.out.files)]) t.is(statSync(f).mode & 0o777, 0o600, f);
  const docker = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const finalStage = docker.slice(docker.lastIndexOf("\nFROM "));
  t.regex(finalStage, new RegExp(`--uid ${IMAGE_UID}\\b`));
  t.regex(finalStage, new RegExp(`--gid ${IMAGE_GID}\\b`));
  t.regex(finalStage, /\nUSER woods\n/);
  t.regex(finalStage, /ENTRYPOINT \["node", ?"bin\/woods\.js"\]/);
  t.notRegex(finalStage, /npm (ci|install)(?! --omit=dev)/, "no dev dependencies in the final image");
  const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
  for (const p of ["deploy/secrets", "node_modules", "dist", "data", ".git"]) t.true(ignore.includes(p), `.dockerignore leaves out ${p}`);
});

test("every file the deployment refers to exists", (t) => {
  for (const f of ["Dockerfile", ".dockerignore", "nats-server.conf", "deploy/config/woods.yaml", "deploy/make-secrets.sh", "docs/operations.md"]) {
    t.true(existsSync(join(ROOT, f)), `${f} exists`);
  }
  t.truthy(statSync(join(ROOT, "deploy/make-secrets.sh")).mode & 0o100, "make-secrets.sh is executable");
  t.regex(readFileSync(join(ROOT, "deploy/.gitignore"), "utf8"), /^secrets\/$/m, "deploy/secrets is git-ignored");
  for (const [name, s] of services) {
    for (const m of mounts(s)) if (m.type === "bind") t.true(existsSync(resolve(ROOT, m.source)), `${name}: ${m.source} exists`);
  }
  for (const [name, sec] of Object.entries(compose.secrets)) t.true(existsSync(generatedFileOf(name)), `secret ${name}: the generator writes ${sec.file}`);
});

test("docs/operations.md's timer table names every timer in config/defaults.yaml with its default", (t) => {
  const doc = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
  const section = doc.slice(doc.indexOf("\n## Timers"), doc.indexOf("\n## ", doc.indexOf("\n## Timers") + 1));
  const rows = new Map(
    [...section.matchAll(/^\| `([\w.]+)`[^|]*\| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]),
  );
  const defaults = parse(readFileSync(join(ROOT, "config", "defaults.yaml"), "utf8")) as Record<string, unknown>;
  const timers: [string, number][] = [];
  const walk = (tree: Record<string, unknown>, path: string[]) => {
    for (const [k, v] of Object.entries(tree)) {
      if (v && typeof v === "object") walk(v as Record<string, unknown>, [...path, k]);
      else if (/Ms$/.test(k)) timers.push([[...path, k].join("."), v as number]);
    }
  };
  walk(defaults, []);
  t.true(timers.length >= 20);
  for (const [key, value] of timers) {
    t.true(rows.has(key), `${key} is in the table`);
    t.true(rows.get(key)?.startsWith(String(value)), `${key}: default ${value} (table says ${rows.get(key)})`);
  }
});
