/**
 * The `woods` command line. Heavy modules are imported lazily inside each
 * command so that `woods --help` and simple client commands start fast.
 */
import { fstatSync, statSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { fail, printJson, formatBytes, formatNode, notice, setQuiet, UsageError } from "./output.js";

const DEFAULT_NATS = "nats://127.0.0.1:4222";

function intArg(name: string, min: number, max: number) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

async function sizeArg(v: string): Promise<number> {
  const { parseSize } = await import("../config/index.js");
  try {
    return parseSize(v);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The local cluster dir client commands fall back on: $WOODS_CLUSTER_DIR, else ./data. */
function defaultClusterDir(): string {
  return process.env.WOODS_CLUSTER_DIR || "./data";
}

/**
 * Loads the config for client commands. The server and credentials come from, in order: --nats / --creds,
 * $WOODS_NATS / $WOODS_CREDS, the --config file (or $WOODS_CONFIG), then the local cluster dir
 * ($WOODS_CLUSTER_DIR, else ./data) that `cluster up` wrote: its URL, and its client credentials, which are
 * only ever sent to that cluster's own server.
 */
async function clientConfig(opts: { nats?: string; config?: string; creds?: string }) {
  const { loadConfig } = await import("../config/index.js");
  const { readState } = await import("./cluster/state.js");
  const { credsFile, clientTls } = await import("./cluster/auth.js");
  const { existsSync } = await import("node:fs");
  const { resolve } = await import("node:path");
  const clusterDir = resolve(defaultClusterDir());
  const local = readState(clusterDir);
  const hasConfig = !!(opts.config || process.env.WOODS_CONFIG);
  const url = opts.nats ?? (process.env.WOODS_NATS || undefined) ?? (hasConfig ? undefined : (local?.nats ?? DEFAULT_NATS));
  const nats: Record<string, string> = {};
  if (url) nats.url = url;
  if (opts.creds) nats.creds = opts.creds;
  const config = loadConfig({ file: opts.config, overrides: Object.keys(nats).length > 0 ? { nats } : undefined });
  if (!config.nats.creds && local && sameServers(config.nats.url, local.nats)) {
    const file = credsFile(clusterDir, "client");
    if (existsSync(file)) config.nats.creds = file;
  }
  const tls = clientTls(local?.tls);
  if (tls && !config.nats.tls.ca && !config.nats.tls.cert && local && sameServers(config.nats.url, local.nats)) config.nats.tls = tls;
  return config;
}

/** Whether two comma-separated server lists name the same servers. */
function sameServers(a: string, b: string): boolean {
  const norm = (s: string) => s.split(",").map((x) => x.trim().replace(/^(nats|tls):\/\//, "").replace(/^localhost:/, "127.0.0.1:")).filter(Boolean).sort().join(",");
  return norm(a) === norm(b);
}

async function withClient<T>(cmd: Command, fn: (c: import("../actors/client/index.js").WoodsClient) => Promise<T>): Promise<T> {
  const opts = cmd.optsWithGlobals() as { nats?: string; config?: string; creds?: string };
  const config = await clientConfig(opts);
  const { WoodsClient } = await import("../actors/client/index.js");
  // OpenTelemetry only when OTEL_* asks for it (actors/telemetry.ts); the shutdown flushes spans.
  const stopTelemetry = await startTelemetryIfWanted("client", `cli-${process.pid}`);
  const client = await WoodsClient.connect(config, { name: "woods-cli" }).catch((e: Error) => {
    throw new Error(`cannot connect to NATS at ${config.nats.url}: ${e.message}`);
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
    await stopTelemetry();
  }
}

/** Starts OpenTelemetry for this process when an OTEL_* exporter variable is set; a no-op otherwise. */
async function startTelemetryIfWanted(actor: string, nodeId: string): Promise<() => Promise<void>> {
  const { telemetryWanted, startTelemetry } = await import("../actors/telemetry.js");
  if (!telemetryWanted()) return async () => {};
  return startTelemetry({ actor, nodeId });
}

/** Config of an actor process: defaults ← --config file ← env ← --nats and --log-level. */
async function actorConfig(cmd: Command, logLevel?: string) {
  const g = cmd.optsWithGlobals() as { config?: string; nats?: string; creds?: string };
  const { loadConfig } = await import("../config/index.js");
  const overrides: Record<string, unknown> = {};
  if (g.nats || g.creds) overrides.nats = { ...(g.nats ? { url: g.nats } : {}), ...(g.creds ? { creds: g.creds } : {}) };
  if (logLevel) overrides.log = { level: logLevel };
  return loadConfig({ file: g.config, overrides });
}

/**
 * Size of a local source when it is known: a regular file, or stdin redirected from one
 * (`< file`); undefined for pipes and terminals. Throws for a missing or non-regular LOCAL.
 */
/** Errors a namenode's start cannot outwait: refused credentials or permissions, or a bad request/config. */
function isPermanentStartError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  if (err?.code === "BAD_REQUEST") return true;
  const text = String(err?.message ?? "").toLowerCase();
  return text.includes("authorization violation") || text.includes("authentication") || text.includes("permissions violation");
}

function localSize(local: string): number | undefined {
  if (local === "-") {
    try {
      const st = fstatSync(0);
      return st.isFile() ? st.size : undefined;
    } catch {
      return undefined;
    }
  }
  const st = statSync(local, { throwIfNoEntry: false });
  if (!st) throw new Error(`local file ${local} does not exist`);
  if (!st.isFile()) throw new Error(`local path ${local} is not a regular file`);
  return st.size;
}

function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}

export function buildProgram(): Command {
  const program = new Command("woods")
    .description("Whispering Woods: a distributed file store over NATS")
    .option("--nats <url>", `NATS server URL (else $WOODS_NATS, else the config's, else the local cluster's in $WOODS_CLUSTER_DIR or ./data, else ${DEFAULT_NATS})`)
    .option("--creds <file>", "credentials file (else $WOODS_CREDS, else the config's, else the local cluster's client credentials)")
    .option("--config <file>", "YAML config file (else $WOODS_CONFIG)")
    .option("-q, --quiet", "no informational output on stderr (transfer rates, banners); errors still print")
    .showHelpAfterError()
    .exitOverride()
    .hook("preAction", (_program, actionCmd) => setQuiet(!!(actionCmd.optsWithGlobals() as { quiet?: boolean }).quiet))
    .addHelpText(
      "after",
      `
Examples:
  woods cluster up --dir ./data --datanodes 3      start a local cluster (Ctrl-C stops it)
  woods put ./photo.jpg /pics/photo.jpg            store a file
  cat big.iso | woods put - /isos/big.iso          store stdin
  woods get /pics/photo.jpg ./copy.jpg             fetch a file
  woods mv /pics/photo.jpg /albums/2024/photo.jpg  move a file
  woods ls /pics --json                            list a directory as JSON
  woods fsck                                       exit 1 unless every chunk is fully replicated
  woods config print                               show the effective configuration
  WOODS_NATS=nats://10.0.0.5:4222 woods nodes      talk to another cluster

Configuration: defaults, then --config FILE (or $WOODS_CONFIG), then WOODS_* environment
variables (e.g. WOODS_CHUNK_SIZE_BYTES), then flags. Exit codes: 0 ok, 1 failure, 2 usage error.
Read commands take --json. Progress bars and rates go to stderr on a terminal; --quiet drops them.
Logs are readable lines on a terminal and JSON lines elsewhere; WOODS_LOG_FORMAT=json|pretty overrides.
Wire protocol and nats CLI examples: docs/protocol.md.`,
    );

  // ---- cluster ----
  const cluster = program
    .command("cluster")
    .description("run a local cluster: nats-server(s) + namenode(s) + datanodes")
    .addHelpText(
      "after",
      `
Examples:
  woods cluster up --dir ./data --datanodes 3 --detach
  woods cluster up --nats-servers 3 --namenodes 2 --datanodes 4 --zones a,b --detach
  woods cluster status --dir ./data
  woods cluster stop dn2 --kill && woods cluster start dn2
  woods cluster stop nats-2 --kill && woods cluster start nats-2
  woods cluster down --dir ./data`,
    );
  cluster
    .command("up")
    .description("start the nats-server(s), the namenode(s) and N datanodes (foreground unless --detach)")
    .option("--dir <dir>", "cluster directory (else $WOODS_CLUSTER_DIR)", defaultClusterDir())
    .option("--datanodes <n>", "number of datanodes", intArg("--datanodes", 1, 64), 3)
    .option("--replication <r>", "default replication factor", intArg("--replication", 1, 16), 3)
    .option("--chunk-size <size>", "chunk size (1MiB, 64MiB or plain bytes)", "64MiB")
    .option("--port <p>", "NATS client port (of the first server; the others take the next free ports)", intArg("--port", 1, 65535), 4222)
    .option("--nats-servers <n>", "nats-servers in a NATS cluster on loopback (default: as last time in this dir, else 1; 3 survives the loss of one)", intArg("--nats-servers", 1, 9))
    .option("--namenodes <m>", "namenodes nn1..nnM: one active, the others standbys that take over", intArg("--namenodes", 1, 9), 1)
    .option("--zones <list>", "comma-separated zones given to the datanodes in turn (dn1 the first, dn2 the second, ...)")
    .option("--detach", "return once the cluster is up, leaving it running")
    .option("--config <file>", "YAML file whose keys are merged into the cluster's <dir>/woods.yaml (e.g. short timers for tests)")
    .option("--dirs-per-datanode <n>", "data dirs per datanode (dnX/d1, dnX/d2, ...)", intArg("--dirs-per-datanode", 1, 16), 1)
    .option("--dashboard-port <p>", "web dashboard port (default 8080, or a free port when 8080 is taken)", intArg("--dashboard-port", 0, 65535))
    .option("--dashboard-host <host>", "web dashboard listen address", "127.0.0.1")
    .option("--no-dashboard", "do not run the web dashboard")
    .option("--tls <dir>", "require TLS: a folder with ca.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem (README, Security)")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  woods cluster up                                   ./data, 3 datanodes, in the foreground (Ctrl-C stops it)\n" +
        "  woods cluster up --dir /tmp/w --datanodes 5 --chunk-size 8MiB --detach\n" +
        "  woods cluster up --config ./fast-timers.yaml --port 4333 --no-dashboard\n" +
        "  woods cluster up --nats-servers 3 --namenodes 2 --zones a,b,c --detach\n" +
        "\nWith --nats-servers N > 1 the servers are woods-nats-1..N, routed to each other with a generated\n" +
        "password (and TLS with --tls: server-cert.pem then also needs the clientAuth usage); woods.yaml lists\n" +
        "every client URL in nats.url, and with N >= 3 keeps 3 replicas of the metadata log, snapshots, leader\n" +
        "lease (namenode.logReplicas) and staging bucket (stagingReplicas).\n" +
        "\nThe namenode and datanodes read <dir>/woods.yaml, written here from the flags; keys of --config FILE\n" +
        "override them (nats.url excepted). Pass --config again when bringing the same dir up later.\n" +
        "The web dashboard's URL is in `woods cluster status` (\"dashboard\" in --json).\n" +
        "Each actor's log is kept in <dir>/logs/<name>.log (JSON lines; `woods cluster status` lists the processes).",
    )
    .action(
      action(async (o: { dir: string; datanodes: number; replication: number; chunkSize: string; port: number; detach?: boolean; dirsPerDatanode: number; dashboard: boolean; dashboardPort?: number; dashboardHost: string; tls?: string; natsServers?: number; namenodes: number; zones?: string }, cmd: Command) => {
        const chunkSizeBytes = await sizeArg(o.chunkSize);
        const zones = o.zones === undefined ? undefined : o.zones.split(",").map((z) => z.trim());
        for (const z of zones ?? []) if (!/^[A-Za-z0-9_-]{1,64}$/.test(z)) throw new UsageError(`--zones: zone ${JSON.stringify(z)} must match [A-Za-z0-9_-]{1,64}`);
        // `--config` is also a global option, which commander fills first.
        const extraConfigFile = (cmd.optsWithGlobals() as { config?: string }).config;
        const { clusterUp, clusterDown, clusterStatus } = await import("./cluster/commands.js");
        await clusterUp({
          dir: o.dir,
          datanodes: o.datanodes,
          replication: o.replication,
          chunkSizeBytes,
          port: o.port,
          detach: !!o.detach,
          extraConfigFile,
          dirsPerDatanode: o.dirsPerDatanode,
          dashboard: o.dashboard,
          dashboardPort: o.dashboardPort,
          dashboardHost: o.dashboardHost,
          ...(o.tls ? { tlsDir: o.tls } : {}),
          ...(o.natsServers !== undefined ? { natsServers: o.natsServers } : {}),
          namenodes: o.namenodes,
          ...(zones ? { zones } : {}),
        });
        const status = (await clusterStatus(o.dir)) as { nats: string; dir: string; dashboard: string | null; natsServers: unknown[]; namenodes: unknown[] };
        if (o.detach) {
          printJson(status);
          return;
        }
        notice(
          `woods cluster up: ${status.nats}, ${status.natsServers.length > 1 ? `${status.natsServers.length} nats-servers, ` : ""}` +
            `${status.namenodes.length > 1 ? `${status.namenodes.length} namenodes` : "namenode"} + ${o.datanodes} datanodes, data in ${status.dir}.` +
            (status.dashboard ? ` Dashboard: ${status.dashboard}` : "") +
            " Ctrl-C stops it.",
        );
        const { readState, isRunning } = await import("./cluster/state.js");
        await new Promise<void>((resolve) => {
          let stopping = false;
          // Signal handlers alone do not keep Node alive; this watch does, and says when an actor dies.
          const reported = new Set<string>();
          const watch = setInterval(() => {
            const st = readState(status.dir as string);
            if (!st) return;
            const procs: [string, number | null][] = [
              ...st.natsServers.map((s): [string, number | null] => [st.natsServers.length === 1 ? "nats-server" : s.id, s.pid]),
              ...st.namenodes.map((n): [string, number | null] => [st.namenodes.length === 1 ? "namenode" : n.id, n.pid]),
              ...st.datanodes.map((d): [string, number | null] => [d.id, d.pid]),
              ...(st.dashboard ? [["dashboard", st.dashboard.pid] as [string, number | null]] : []),
            ];
            for (const [name, pid] of procs) {
              const down = !isRunning(pid);
              if (down && !reported.has(name)) process.stderr.write(`woods: ${name} is not running (woods cluster start ${name === "nats-server" ? "nats" : name})\n`);
              if (down) reported.add(name);
              else reported.delete(name);
            }
          }, 1000);
          const stop = () => {
            if (stopping) return;
            stopping = true;
            clearInterval(watch);
            notice("woods: stopping the cluster...");
            clusterDown(o.dir).then(() => resolve(), (e) => fail(e));
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
        });
      }),
    );
  cluster
    .command("down")
    .description("stop every process of the cluster (data is kept)")
    .option("--dir <dir>", "cluster directory (else $WOODS_CLUSTER_DIR)", defaultClusterDir())
    .addHelpText(
      "after",
      "\nStops the dashboard, the datanodes, the namenodes, then the nats-servers.\nExample:\n  woods cluster down --dir ./data      then `woods cluster up --dir ./data` brings it back on the same data",
    )
    .action(
      action(async (o: { dir: string }) => {
        const { clusterDown } = await import("./cluster/commands.js");
        await clusterDown(o.dir);
      }),
    );
  cluster
    .command("status")
    .description("show the cluster's processes")
    .option("--dir <dir>", "cluster directory (else $WOODS_CLUSTER_DIR)", defaultClusterDir())
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Examples:
  woods cluster status
  woods cluster status --json
    {"nats": "URL[,URL...]", "natsServer": {"pid","url","running"} (the first),
     "natsServers": [{"id":"nats-1","pid","url","running","port","httpPort","routePort","routes"}],
     "namenode": {"id","pid","role","running"} (the active one; nn1 when unknown),
     "namenodes": [{"id":"nn1","pid","role":"active"|"standby"|null,"running"}],
     "datanodes": [{"id","pid","dir","dirs","running","zone"}], "dashboard", "dashboardServer"}
A namenode's role comes from the leader lease (KV bucket <prefix>-leader): its holder is active, the other
running namenodes are standbys, stopped ones null. "routes": how many other servers a nats-server is routed to.
Each actor's log is in <dir>/logs/<name>.log (JSON lines).`,
    )
    .action(
      action(async (o: { dir: string; json?: boolean }) => {
        const { clusterStatus } = await import("./cluster/commands.js");
        const s = (await clusterStatus(o.dir)) as {
          nats: string;
          natsServers: { id: string; pid: number | null; url: string; routes?: number | null }[];
          namenodes: { id: string; pid: number | null; role: string | null }[];
          datanodes: { id: string; pid: number | null; dir: string; zone: string | null }[];
          dashboard: string | null;
          dashboardServer: { pid: number | null } | null;
        };
        if (o.json) return printJson(s);
        const line = (name: string, pid: number | null, extra = "") =>
          process.stdout.write(`${name.padEnd(12)} ${pid ? `running  pid ${pid}` : "stopped"}${extra}\n`);
        const cluster = s.natsServers.length > 1;
        for (const n of s.natsServers) {
          line(cluster ? n.id : "nats-server", n.pid, `  ${cluster ? n.url : s.nats}${cluster && n.pid ? `  routes ${n.routes ?? "?"}/${s.natsServers.length - 1}` : ""}`);
        }
        for (const n of s.namenodes) line(s.namenodes.length > 1 ? n.id : "namenode", n.pid, n.role ? `  ${n.role}` : "");
        for (const d of s.datanodes) line(d.id, d.pid, `  ${d.dir}${d.zone ? `  zone ${d.zone}` : ""}`);
        if (s.dashboardServer) line("dashboard", s.dashboardServer.pid, s.dashboard ? `  ${s.dashboard}` : "");
      }),
    );
  cluster
    .command("start <node>")
    .description("restart stopped nodes (nats, nats-K, namenode, nnK, dashboard, or a datanode id) on their old data")
    .option("--dir <dir>", "cluster directory (else $WOODS_CLUSTER_DIR)", defaultClusterDir())
    .addHelpText(
      "after",
      "\nNames: nats (or nats-server): every stopped nats-server; nats-1..N: one of them.\n" +
        "       namenode (or namenodes): every stopped namenode; nn1..nnM: one (it becomes a standby when another is active).\n" +
        "       dashboard; dn1..dnK.\n" +
        "Examples:\n  woods cluster start dn2\n  woods cluster start namenode --dir ./data\n  woods cluster start nats-2",
    )
    .option("--nats <url>", "datanodes only: connect to this URL (e.g. a proxy) from now on; the cluster's URL resets it")
    .action(
      action(async (node: string, o: { dir: string }, cmd: Command) => {
        // `--nats` is also a global option, which commander fills first.
        const natsUrl = (cmd.optsWithGlobals() as { nats?: string }).nats;
        const { clusterStart } = await import("./cluster/commands.js");
        await clusterStart(node, o.dir, { natsUrl });
      }),
    );
  cluster
    .command("stop <node>")
    .description("stop nodes (SIGTERM, or SIGKILL with --kill): nats, nats-K, namenode, namenodes, nnK, dashboard, or a datanode id")
    .option("--kill", "kill -9 instead of a clean stop")
    .option("--dir <dir>", "cluster directory (else $WOODS_CLUSTER_DIR)", defaultClusterDir())
    .addHelpText(
      "after",
      "\nNames: nats (or nats-server): every nats-server; nats-1..N: one of them.\n" +
        "       namenode: the active one (the leader lease's holder; nn1 when unknown), so a standby takes over;\n" +
        "       namenodes: every namenode; nn1..nnM: one of them.\n" +
        "       dashboard; dn1..dnK.\n" +
        "Examples:\n  woods cluster stop dn2 --kill      kill -9 a datanode; reads fall over to other replicas\n  woods cluster stop namenode\n" +
        "  woods cluster stop nats-1 --kill   kill -9 one nats-server of a cluster of three; clients reconnect to the others",
    )
    .action(
      action(async (node: string, o: { dir: string; kill?: boolean }) => {
        const { clusterStop } = await import("./cluster/commands.js");
        await clusterStop(node, o.dir, !!o.kill);
      }),
    );

  // ---- single actors (multi-host use) ----
  program
    .command("namenode")
    .description("run a namenode actor in the foreground (active, or a standby while another one holds the leader lease)")
    .option("--id <id>", "namenode id (default: config namenode.id, nn1); give each namenode of a cluster its own")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]))
    .addHelpText(
      "after",
      `
Several namenodes may run at once: the one holding the leader lease (KV bucket <prefix>-leader) is
active, the others follow the metadata log as standbys, answer read-only requests, and take over
when the lease is not renewed for namenode.leaderLeaseMs. A namenode that loses the lease or is
fenced steps down and starts over as a standby.

Examples:
  woods namenode --config /etc/woods.yaml
  woods namenode --id nn2 --config /etc/woods.yaml
  woods --nats nats://10.0.0.5:4222 namenode --log-level debug
Logs go to stdout: readable lines on a terminal, JSON lines otherwise (WOODS_LOG_FORMAT=json|pretty).`,
    )
    .action(
      action(async (o: { id?: string; logLevel?: string }, cmd: Command) => {
        if (o.id !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(o.id)) throw new UsageError(`--id ${JSON.stringify(o.id)} must match [A-Za-z0-9_-]{1,64}`);
        const config = await actorConfig(cmd, o.logLevel);
        if (o.id !== undefined) config.namenode.id = o.id;
        const { runNamenode } = await import("../actors/namenode/index.js");
        const { onShutdown, createLogger } = await import("../actors/index.js");
        const log = createLogger("namenode", config.namenode.id, config.log.level);
        const stopTelemetry = await startTelemetryIfWanted("namenode", config.namenode.id);
        let shuttingDown = false;
        // Fenced, lease lost, or log lost: step down and start over from the log as a standby.
        let restarts = Promise.resolve();
        const start = async (): Promise<import("../actors/namenode/index.js").NamenodeHandle> =>
          runNamenode({
            config,
            onFatal: (err) => {
              if (shuttingDown) return;
              log.warn({ code: err.code }, `stepping down (${err.message}); starting over as a standby`);
              restarts = restarts.then(async () => {
                await nn?.stop().catch(() => undefined);
                const next = await startUntilUp("start over");
                if (next) nn = next;
              });
            },
          });
        // NATS may still be forming its cluster, electing a stream leader or be down: keep trying, like any
        // actor reconnecting. Only a refusal that waiting cannot change (credentials, bad config) ends the process.
        const startUntilUp = async (what: string): Promise<import("../actors/namenode/index.js").NamenodeHandle | undefined> => {
          for (let attempt = 1; !shuttingDown; attempt++) {
            try {
              return await start();
            } catch (e) {
              if (isPermanentStartError(e)) throw e;
              const delayMs = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
              log.warn({ err: e, attempt }, `could not ${what} (attempt ${attempt}): ${(e as Error).message}; trying again in ${delayMs} ms`);
              await new Promise((r) => setTimeout(r, delayMs));
            }
          }
          return undefined;
        };
        let nn: import("../actors/namenode/index.js").NamenodeHandle | undefined = await startUntilUp("start");
        onShutdown(log, async () => {
          shuttingDown = true;
          await restarts;
          await nn?.stop();
          await stopTelemetry();
        });
      }),
    );
  program
    .command("datanode")
    .description("run a datanode actor in the foreground")
    .requiredOption("--id <id>", "datanode id (e.g. dn1)")
    .requiredOption("--dir <dir>", "data directory (repeat for several disks)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--zone <zone>", "zone of this node (rack, room, availability zone): replicas are spread over zones (else config datanode.zone)")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]))
    .addHelpText(
      "after",
      `
Examples:
  woods datanode --id dn1 --dir /data/dn1
  woods datanode --id dn4 --dir /disk1/woods --dir /disk2/woods --config /etc/woods.yaml
  woods datanode --id dn5 --dir /data/dn5 --zone rack2      replicas of a chunk go to as many zones as there are
Logs go to stdout: readable lines on a terminal, JSON lines otherwise (WOODS_LOG_FORMAT=json|pretty).`,
    )
    .action(
      action(async (o: { id: string; dir: string[]; zone?: string; logLevel?: string }, cmd: Command) => {
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.id)) throw new UsageError(`--id ${JSON.stringify(o.id)} must match [A-Za-z0-9_-]{1,64}`);
        if (o.zone !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(o.zone)) throw new UsageError(`--zone ${JSON.stringify(o.zone)} must match [A-Za-z0-9_-]{1,64}`);
        const { resolve } = await import("node:path");
        const config = await actorConfig(cmd, o.logLevel);
        if (o.zone !== undefined) config.datanode.zone = o.zone;
        const { runDatanode } = await import("../actors/datanode/index.js");
        const { onShutdown, createLogger } = await import("../actors/index.js");
        const stopTelemetry = await startTelemetryIfWanted("datanode", o.id);
        const dn = await runDatanode({ id: o.id, dirs: o.dir.map((d) => resolve(d)), config });
        onShutdown(createLogger("datanode", o.id, config.log.level), async () => {
          await dn.stop();
          await stopTelemetry();
        });
      }),
    );

  program
    .command("dashboard")
    .description("serve the live web dashboard of a cluster (datanodes, health, files, events, throughput)")
    .option("--port <p>", "HTTP port (0 = any free port); default 8080, or a free port when 8080 is taken", intArg("--port", 0, 65535))
    .option("--host <host>", "address to listen on (0.0.0.0 for every interface; the page has no login)", "127.0.0.1")
    .addOption(new Option("--port-fallback", "take a free port when --port is in use").hideHelp())
    .addOption(new Option("--ready-file <file>", "write {url, port, pid} here once listening").hideHelp())
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"]))
    .addHelpText(
      "after",
      `
Examples:
  woods dashboard                                   http://127.0.0.1:8080/ for the cluster in $WOODS_NATS
  woods dashboard --config ./data/woods.yaml --port 9000
  woods cluster status --json                       "dashboard": the URL of a local cluster's own dashboard
The page follows cluster events live (server-sent events on /events); /api/state is the same view as JSON.`,
    )
    .action(
      action(async (o: { port?: number; host: string; portFallback?: boolean; readyFile?: string; logLevel?: string }, cmd: Command) => {
        // A watcher like the client commands: --nats, else $WOODS_NATS, else the config's URL.
        const base = await clientConfig(cmd.optsWithGlobals() as { nats?: string; config?: string; creds?: string });
        const config = o.logLevel ? { ...base, log: { level: o.logLevel as typeof base.log.level } } : base;
        const { runDashboard, DEFAULT_DASHBOARD_PORT } = await import("../actors/dashboard/index.js");
        const { onShutdown, createLogger } = await import("../actors/index.js");
        const log = createLogger("dashboard", "dashboard", config.log.level);
        const d = await runDashboard({
          config,
          host: o.host,
          port: o.port ?? DEFAULT_DASHBOARD_PORT,
          portFallback: o.port === undefined || !!o.portFallback,
          readyFile: o.readyFile,
          log,
        });
        notice(`woods dashboard: ${d.url} (cluster ${config.nats.url}, prefix ${config.prefix}). Ctrl-C stops it.`);
        onShutdown(log, () => d.stop());
      }),
    );

  // ---- client commands ----
  program
    .command("put <local> <remote>")
    .description("store a local file (or - for stdin) at REMOTE; fails when REMOTE exists")
    .option("--replication <r>", "replication factor", intArg("--replication", 1, 16))
    .option("--json", "print {path, size, chunks} as JSON")
    .addHelpText(
      "after",
      `
Examples:
  woods put ./report.pdf /docs/report.pdf                 3 replicas (config: replication)
  woods put --replication 2 ./scratch.bin /tmp/scratch    2 replicas
  tar c ./photos | woods put - /backups/photos.tar        from stdin
  woods put --json ./a.bin /a.bin                         {"path":"/a.bin","size":1048576,"chunks":1}
The file appears in ls/get only once every chunk is stored. Exit 1 when REMOTE exists.
On a terminal a progress bar runs on stderr and the rate is shown at the end (not with --quiet).`,
    )
    .action(
      action(async (local: string, remote: string, o: { replication?: number; json?: boolean }, cmd: Command) => {
        const { fileSource } = await import("../actors/client/index.js");
        const { normalizePath } = await import("../messages/index.js");
        normalizePath(remote);
        const totalBytes = localSize(local);
        await withClient(cmd, async (c) => {
          // A file is read in whole chunks (no copy into them); stdin in whatever pieces it gives.
          const source = local === "-" ? process.stdin : fileSource(local, c.config.chunkSizeBytes);
          const { transferProgress, transferNotice } = await import("./progress.js");
          const progress = await transferProgress(`put ${remote}`, totalBytes);
          const r = await c.put(source, remote, { replication: o.replication, onProgress: progress.onProgress }).finally(() => progress.stop());
          if (o.json) printJson({ path: r.path, size: r.size, chunks: r.chunks });
          transferNotice(`stored ${remote}: ${formatBytes(r.size)} in ${r.chunks} chunks`, r.size, r.ms);
        });
      }),
    );
  program
    .command("get <remote> <local>")
    .description("fetch REMOTE into a local file (or - for stdout)")
    .option("--json", "print {path, size} as JSON (LOCAL must be a file: with -, stdout carries the bytes)")
    .addHelpText(
      "after",
      `
Examples:
  woods get /docs/report.pdf ./report.pdf       written beside the target, then renamed
  woods get /backups/photos.tar - | tar x       to stdout
  woods get --json /docs/report.pdf ./r.pdf     {"path":"/docs/report.pdf","size":48213}
Every chunk is checked against its checksum; a bad or dead replica is skipped for the next one.
On a terminal a progress bar runs on stderr and the rate is shown at the end (not with --quiet).`,
    )
    .action(
      action(async (remote: string, local: string, o: { json?: boolean }, cmd: Command) => {
        const { normalizePath } = await import("../messages/index.js");
        const path = normalizePath(remote);
        if (o.json && local === "-") throw new UsageError("get --json needs a LOCAL file: with -, stdout carries the file's bytes");
        await withClient(cmd, async (c) => {
          const { transferProgress, transferNotice } = await import("./progress.js");
          if (local === "-") {
            // A bar on stderr would garble file bytes shown on the same terminal.
            const progress = process.stdout.isTTY ? { stop: () => undefined } : await transferProgress(`get ${remote}`);
            const r = await c.get(remote, process.stdout, { onProgress: progress.onProgress }).finally(() => progress.stop());
            if (!process.stdout.isTTY) transferNotice(`fetched ${remote}: ${formatBytes(r.size)}`, r.size, r.ms);
            return;
          }
          // Write beside the target and rename, so a failed get never leaves a partial file.
          const { createWriteStream, renameSync, rmSync } = await import("node:fs");
          const { dirname, basename, join } = await import("node:path");
          const tmp = join(dirname(local), `.${basename(local)}.woods-${process.pid}.part`);
          const out = createWriteStream(tmp);
          const progress = await transferProgress(`get ${remote}`);
          try {
            const r = await c.get(remote, out, { onProgress: progress.onProgress }).finally(() => progress.stop());
            await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
            renameSync(tmp, local);
            if (o.json) printJson({ path, size: r.size });
            transferNotice(`fetched ${remote}: ${formatBytes(r.size)}`, r.size, r.ms);
          } catch (e) {
            // The stream opens its file asynchronously: remove it only once the stream has closed, or a get
            // that failed fast (every replica refusing at once) would see the file created after the remove.
            await new Promise<void>((res) => {
              if (out.closed) return res();
              out.once("close", () => res());
              out.destroy();
            });
            rmSync(tmp, { force: true });
            throw e;
          }
        });
      }),
    );
  program
    .command("append <local> <remote>")
    .description("append a local file (or - for stdin) to the end of the existing file REMOTE, exactly once")
    .option("--json", "print {path, offset, size, mode} as JSON")
    .option("--key <key>", "idempotency key: running again with the same key appends nothing and prints the first result")
    .addHelpText(
      "after",
      `
Examples:
  echo "event 42" | woods append - /logs/events.log       one record from stdin
  woods append ./part2.bin /data/big.bin                  a file, atomically (all or nothing)
  woods append --key job-17-out ./out.txt /logs/jobs      safe to re-run: appended once
  woods append --json ./rec.bin /logs/recs                {"path":"/logs/recs","offset":4096,"size":512,"mode":"tail"}
Many clients may append to one file at once: each append lands once, contiguous and whole,
and is visible to readers once acknowledged. REMOTE must exist (create it with
\`woods put - REMOTE < /dev/null\`). See docs/append.md.
On a terminal a progress bar runs on stderr for large appends and the rate is shown at the end.`,
    )
    .action(
      action(async (local: string, remote: string, o: { json?: boolean; key?: string }, cmd: Command) => {
        const { createReadStream } = await import("node:fs");
        const { normalizePath } = await import("../messages/index.js");
        normalizePath(remote);
        if (o.key !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(o.key)) throw new UsageError(`--key ${JSON.stringify(o.key)} must match [A-Za-z0-9_-]{1,128}`);
        const totalBytes = localSize(local);
        const source = local === "-" ? process.stdin : createReadStream(local, { highWaterMark: 1024 * 1024 });
        await withClient(cmd, async (c) => {
          const { transferProgress, transferNotice } = await import("./progress.js");
          const progress = await transferProgress(`append ${remote}`, totalBytes);
          const r = await c
            .append(source, remote, { ...(o.key === undefined ? {} : { key: o.key }), onProgress: progress.onProgress })
            .finally(() => progress.stop());
          if (o.json) printJson({ path: r.path, offset: r.offset, size: r.size, mode: r.mode });
          transferNotice(`appended ${formatBytes(r.size)} to ${remote} at offset ${r.offset}${r.mode === "done" ? " (appended before under this key)" : ""}`, r.size, r.ms);
        });
      }),
    );
  program
    .command("mv <src> <dst>")
    .description("move (rename) the file SRC to DST in one step; fails when DST exists")
    .option("--json", "print {src, dst} as JSON")
    .addHelpText(
      "after",
      `
Examples:
  woods mv /incoming/day1.log /archive/2024/day1.log     new directories are implied
  woods mv /inbox/a.jpg /pics/                           DST ending in / keeps the name: /pics/a.jpg
  woods mv --json /a.bin /b.bin                          {"src":"/a.bin","dst":"/b.bin"}
The file keeps its chunks (no data moves); appends in flight carry on into the moved file.
Exit 1 with NOT_FOUND (no SRC, or still being written), EXISTS (DST taken), IS_DIRECTORY
(SRC or DST is a directory: directories are not moved) or NOT_A_FILE (a parent of DST is a file).
Re-running a mv that already happened (e.g. after a timeout) succeeds.`,
    )
    .action(
      action(async (src: string, dst: string, o: { json?: boolean }, cmd: Command) => {
        const { normalizePath } = await import("../messages/index.js");
        const from = normalizePath(src);
        // `mv FILE DIR/` moves it into DIR under its own name, as mv(1) does.
        const to = normalizePath(dst.endsWith("/") ? `${dst}${from.slice(from.lastIndexOf("/") + 1)}` : dst);
        const r = await withClient(cmd, (c) => c.rename(from, to));
        if (o.json) printJson(r);
      }),
    );
  program
    .command("rm <remote>")
    .description("delete a file; its chunks are reclaimed on the datanodes")
    .option("--json", "print {path} as JSON")
    .addHelpText(
      "after",
      `
Examples:
  woods rm /tmp/scratch.bin
  woods rm --json /tmp/scratch.bin      {"path":"/tmp/scratch.bin"}
Exit 1 with NOT_FOUND when REMOTE does not exist. A file still being written is removed too.`,
    )
    .action(
      action(async (remote: string, o: { json?: boolean }, cmd: Command) => {
        const { normalizePath } = await import("../messages/index.js");
        normalizePath(remote);
        const r = await withClient(cmd, (c) => c.rm(remote));
        if (o.json) printJson(r);
      }),
    );
  program
    .command("ls [prefix]")
    .description("list the children of a directory (default /)")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Examples:
  woods ls                    directories end in /, files show their size in bytes
  woods ls /pics --json       [{"name":"a.jpg","path":"/pics/a.jpg","type":"file","size":48213}, ...]
Only complete files are listed; directories are implied by the paths of the files under them.`,
    )
    .action(
      action(async (prefix: string | undefined, o: { json?: boolean }, cmd: Command) => {
        const { normalizePath } = await import("../messages/index.js");
        const p = normalizePath(prefix ?? "/", { allowRoot: true });
        const entries = await withClient(cmd, (c) => c.ls(p));
        if (o.json) return printJson(entries);
        for (const e of entries) process.stdout.write(e.type === "dir" ? `${e.path}/\n` : `${e.path}\t${e.size ?? 0}\n`);
      }),
    );
  program
    .command("stat <remote>")
    .description("show a file's size, replication and chunks")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Examples:
  woods stat /pics/a.jpg
  woods stat /pics/a.jpg --json     {"path","size","replication","state","ctimeMs","mtimeMs","chunks":[{"id","version","size","checksum","replicas"}]}`,
    )
    .action(
      action(async (remote: string, o: { json?: boolean }, cmd: Command) => {
        const { normalizePath } = await import("../messages/index.js");
        normalizePath(remote);
        const s = await withClient(cmd, (c) => c.stat(remote));
        if (o.json) return printJson(s);
        process.stdout.write(`${s.path}  ${formatBytes(s.size)}  replication ${s.replication}  ${s.chunks.length} chunks  ${s.state}\n`);
        for (const ch of s.chunks) process.stdout.write(`  ${ch.id} v${ch.version} ${ch.size} B  [${ch.replicas.join(", ")}]\n`);
      }),
    );
  program
    .command("nodes")
    .description("list datanodes with state, capacity and chunk counts")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Examples:
  woods nodes
  woods nodes --json | jq -r '.[] | select(.state != "alive") | .id'      datanodes that are not alive
  woods nodes --json | jq -r 'group_by(.zone)[] | "\(.[0].zone): \(length)"'  datanodes per zone
JSON fields include "zone" ("" = none), "adminState" (in-service | decommissioning | decommissioned)
and, while decommissioning, "decommissionChunksLeft".`,
    )
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const nodes = await withClient(cmd, (c) => c.nodes());
        if (o.json) return printJson(nodes);
        for (const n of nodes) process.stdout.write(`${formatNode(n)}\n`);
      }),
    );
  program
    .command("namenodes")
    .description("which namenode is active, and whether a standby is following the log")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Exits 1 when no namenode is active (a takeover under way, or none running).

Examples:
  woods namenodes
  woods namenodes --json | jq -r .active.id          the active namenode's id
JSON: {"active": {"id","epoch","logSeq"} | null, "standby": {"id","epoch","logSeq","standby": true} | null}
(with several standbys, one of them answers).`,
    )
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const r = await withClient(cmd, (c) => c.namenodes());
        if (o.json) printJson(r);
        else {
          const line = (p: { id: string; epoch: number; logSeq: number } | null, role: string) =>
            process.stdout.write(p ? `${p.id}  ${role}  epoch ${p.epoch}  log seq ${p.logSeq}\n` : `(no ${role} namenode answers)\n`);
          line(r.active, "active");
          line(r.standby, "standby");
        }
        if (!r.active) process.exitCode = 1;
      }),
    );
  program
    .command("decommission <datanode>")
    .description("take a datanode out of service without losing replication (admin credentials needed)")
    .option("--cancel", "put it back in service (copies made meanwhile are trimmed as surplus)")
    .option("--wait", "wait until it is decommissioned, printing how many chunks are left")
    .option("--interval <ms>", "with --wait: how often to ask, in ms", intArg("--interval", 100, 600_000), 1000)
    .option("--json", "print the node's state as JSON (with --wait: once done)")
    .addHelpText(
      "after",
      `
A decommissioning datanode gets no new chunks and stays readable; its copies no longer count
toward replication, so the namenode copies each of its chunks to other nodes (within the repair
limits, keeping replicas spread over zones). Once every chunk it holds has enough copies elsewhere it
is "decommissioned": stop it, and no chunk becomes under-replicated. The request is logged, so it
survives a namenode restart or takeover. Only admin users may send it: --creds FILE, $WOODS_CREDS,
or, against the local cluster, its admin credentials (<cluster dir>/creds).

Examples:
  woods decommission dn3 --wait && woods cluster stop dn3     retire dn3, then stop it
  woods decommission dn3 --json    {"id","adminState","state","zone","chunks","chunksLeft",...}
  woods decommission dn3 --cancel                             back in service
Exit 1 with NOT_FOUND for a datanode the namenode has not heard of, or when --wait sees the
decommissioning cancelled.`,
    )
    .action(
      action(async (dn: string, o: { cancel?: boolean; wait?: boolean; json?: boolean; interval: number }, cmd: Command) => {
        if (!/^[A-Za-z0-9_-]{1,128}$/.test(dn)) throw new UsageError(`datanode ${JSON.stringify(dn)} must match [A-Za-z0-9_-]{1,128}`);
        if (o.cancel && o.wait) throw new UsageError("--wait waits for a decommission to finish; it cannot go with --cancel");
        const opts = cmd.optsWithGlobals() as { nats?: string; config?: string; creds?: string };
        const config = await clientConfig(opts);
        const { adminCreds, runDecommission } = await import("./decommission.js");
        await adminCreds(config, opts, defaultClusterDir());
        await runDecommission(config, dn, { cancel: !!o.cancel, wait: !!o.wait, json: !!o.json, intervalMs: o.interval });
      }),
    );
  program
    .command("fsck")
    .description("check replication health; exit 1 when unhealthy")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      `
Examples:
  woods fsck && echo all chunks fully replicated
  woods fsck --json           {"healthy","files","chunks","underReplicated","overReplicated","corrupt","missing","liveNodes",...}`,
    )
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const r = await withClient(cmd, (c) => c.fsck());
        if (o.json) printJson(r);
        else {
          process.stdout.write(
            `${r.healthy ? "HEALTHY" : "UNHEALTHY"}: ${r.files} files, ${r.chunks} chunks, ${r.underReplicated} under-replicated, ${r.overReplicated} over-replicated, ${r.corrupt} corrupt, ${r.missing} missing\n`,
          );
        }
        if (!r.healthy) process.exitCode = 1;
      }),
    );
  // ---- configuration ----
  const config = program
    .command("config")
    .description("inspect the configuration")
    .addHelpText("after", "\nExample:\n  woods config print --config ./woods.yaml --json");
  config
    .command("print")
    .description("print the effective config (defaults ← --config file ← WOODS_* env ← flags) as YAML")
    .option("--json", "JSON output")
    .addHelpText(
      "after",
      "\nExamples:\n  WOODS_REPLICATION=2 woods config print --config ./woods.yaml\n  woods config print --json | jq .client\nExit 1, naming the key and the value, when the result is invalid.",
    )
    .action(
      action(async (o: { json?: boolean }, cmd: Command) => {
        const effective = await clientConfig(cmd.optsWithGlobals() as { nats?: string; config?: string; creds?: string });
        if (o.json) return printJson(effective);
        const { stringify } = await import("yaml");
        process.stdout.write(stringify(effective));
      }),
    );

  program
    .command("events")
    .description("print cluster events as they happen, one JSON line each")
    .option("--json", "accepted for symmetry: events are always JSON lines")
    .addHelpText(
      "after",
      `
Examples:
  woods events                                    {"subject":"woods.events.file.created","kind":"file.created","atMs":...,"path":...}
  woods events | grep --line-buffered datanode.dead
Ctrl-C stops it.`,
    )
    .action(
      action(async (_o: unknown, cmd: Command) => {
        await withClient(cmd, async (c) => {
          const sub = c.events((subject, event) => printJson({ subject, ...(event as object) }));
          await new Promise<void>((resolve) => {
            process.once("SIGINT", resolve);
            process.once("SIGTERM", resolve);
          });
          sub.stop();
        });
      }),
    );
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") process.exit(0);
      process.exit(2);
    }
    if (e instanceof UsageError) fail(e);
    fail(e);
  }
}
