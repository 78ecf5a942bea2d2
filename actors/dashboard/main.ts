/**
 * Starts the dashboard actor: a NATS client that follows `<prefix>.events.>`, polls the namenode
 * (`nodes`, `fsck`, `ls`) and serves the live page over HTTP. It holds no cluster state of its own
 * that matters: restart it at will.
 */
import { writeFileSync, renameSync } from "node:fs";
import { subjects, decode } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import { connectNats, natsAuthOf } from "../connect.js";
import { createLogger, type Logger } from "../logger.js";
import { applyEvent, createState, type DashboardLimits, type DashboardState } from "./state.js";
import { Poller, DEFAULT_POLLER } from "./poller.js";
import { DashboardServer, DEFAULT_SERVER } from "./server.js";

/** The port `woods dashboard` and `woods cluster up` try first. */
export const DEFAULT_DASHBOARD_PORT = 8080;
/** Polls closer together than this would load the namenode for no visible gain. */
export const MIN_POLL_INTERVAL_MS = 1000;

export interface DashboardOptions {
  config: WoodsConfig;
  host?: string;
  /** Port to serve on (0 = any free port). Default DEFAULT_DASHBOARD_PORT. */
  port?: number;
  /** When the port is taken, take any free port instead of failing. */
  portFallback?: boolean;
  pollIntervalMs?: number;
  limits?: Partial<DashboardLimits>;
  /** Once listening, `{url, host, port, pid}` is written here (atomically), for the cluster launcher. */
  readyFile?: string;
  clock?: () => number;
  log?: Logger;
}

export interface DashboardHandle {
  /** `http://HOST:PORT/` (127.0.0.1 when listening on every interface). */
  url: string;
  port: number;
  state: DashboardState;
  stop(): Promise<void>;
}

export async function runDashboard(opts: DashboardOptions): Promise<DashboardHandle> {
  const { config } = opts;
  const clock = opts.clock ?? Date.now;
  const log = opts.log ?? createLogger("dashboard", "dashboard", config.log.level);
  const host = opts.host ?? "127.0.0.1";
  const subj = subjects(config.prefix);
  const state = createState(config.prefix, clock(), {
    // Silent = three heartbeats missed, never sooner than a second: the namenode's dead comes later.
    silentAfterMs: Math.max(1000, 3 * config.datanode.heartbeatIntervalMs),
    ...opts.limits,
  });

  const nc = await connectNats({ url: config.nats.url, name: "woods-dashboard", reconnectForever: true, reconnectTimeWaitMs: config.nats.reconnectTimeWaitMs, ...natsAuthOf(config.nats) });
  const server = new DashboardServer(state, { ...DEFAULT_SERVER, host, port: opts.port ?? DEFAULT_DASHBOARD_PORT, portFallback: opts.portFallback ?? false, clock }, log);
  let port: number;
  try {
    port = await server.listen();
  } catch (e) {
    await nc.close();
    throw e;
  }

  const sub = nc.subscribe(subj.eventsAll(), {
    callback: (err, msg) => {
      if (err) return;
      try {
        applyEvent(state, msg.subject, decode(msg.data, msg.headers).value, clock());
      } catch (e) {
        log.debug({ subject: msg.subject, err: e }, `skipped an undecodable event on ${msg.subject}`);
      }
    },
  });
  const poller = new Poller(
    nc,
    subj,
    state,
    {
      ...DEFAULT_POLLER,
      pollIntervalMs: Math.max(MIN_POLL_INTERVAL_MS, opts.pollIntervalMs ?? DEFAULT_POLLER.pollIntervalMs),
      requestTimeoutMs: Math.min(config.client.requestTimeoutMs, 5000),
      clock,
    },
    log,
  );
  poller.start();

  const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/`;
  if (opts.readyFile) {
    const tmp = `${opts.readyFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ url, host, port, pid: process.pid }) + "\n");
    renameSync(tmp, opts.readyFile);
  }
  log.info({ url, nats: config.nats.url, prefix: config.prefix }, `dashboard serving ${url}`);

  return {
    url,
    port,
    state,
    async stop() {
      await poller.stop();
      sub.unsubscribe();
      await server.close();
      await nc.close().catch(() => undefined);
    },
  };
}
