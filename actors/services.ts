/**
 * Registration with the NATS services framework (`$SRV.PING|INFO|STATS`), so
 * operators can discover every actor with the tools they already use.
 *
 * The service owns the request subscriptions: `serve()` (rpc.ts) adds each
 * verb as a service endpoint when a service is registered on its connection,
 * so `num_requests` counts real requests. The framework only times the
 * synchronous part of a handler and counts only thrown errors, while our
 * handlers are async and answer errors with an error body; the true figures
 * (errors, mean latency) are therefore reported per endpoint in `data`.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import { assert } from "./lifecycle.js";

/** Service names: one per actor kind; `$SRV.PING.<name>` finds every instance of a kind. */
export const SERVICE_NAMES = { namenode: "woods-namenode", datanode: "woods-datanode" } as const;

export interface ServiceEndpointSpec {
  name: string;
  subject: string;
}

export interface ServiceRegistration {
  name: string;
  /** Semver; defaults to the package version. */
  version?: string;
  description: string;
  /** Our node id (dn1, nn1); the framework assigns its own instance id, so ours goes in metadata `nodeId`. */
  id: string;
  /** Endpoints to subscribe now with a handler; usually empty, `serve()` adds the verbs. */
  endpoints?: (ServiceEndpointSpec & { handler: (msg: Msg) => void })[];
  metadata?: Record<string, string>;
}

/** Per-endpoint figures the framework cannot see (async completion). */
interface EndpointFigures {
  completed: number;
  errors: number;
  totalMs: number;
  lastError?: string;
}

/** A registered service plus the hooks `serve()` needs to add endpoints and report outcomes. */
export interface WoodsService {
  readonly service: Service;
  /** Serves `subject` as endpoint `name` with `handler`; returns its subscription (unsubscribe stops the service). */
  addEndpoint(name: string, subject: string, handler: (msg: Msg) => void, queue?: string): Subscription;
  /** Records how one request on `subject` ended, for the `data` section of `$SRV.STATS`. */
  recordOutcome(subject: string, ms: number, error?: string): void;
  /** Stops answering `$SRV` requests and drops the endpoints; does not wait for the drain (the connection may be down). */
  stop(): void;
}

const bound = new WeakMap<NatsConnection, WoodsService>();

let cachedVersion: string | undefined;
/** The version in the project's package.json (found by walking up from this file: source and dist differ in depth). */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "whispering-woods" && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // Not here: look one level up.
    }
    dir = dirname(dir);
  }
  return (cachedVersion = "0.0.0");
}

/**
 * Registers `reg` as a NATS service on `nc` and binds it to the connection:
 * every later `serve()` on `nc` becomes an endpoint of this service.
 */
export async function registerService(nc: NatsConnection, reg: ServiceRegistration): Promise<WoodsService> {
  assert(!bound.has(nc), `a service is already registered on this connection (${reg.name})`);
  const figures = new Map<string, EndpointFigures>();
  const service = await new Svcm(nc).add({
    name: reg.name,
    version: reg.version ?? packageVersion(),
    description: reg.description,
    metadata: { ...reg.metadata, nodeId: reg.id },
    // No default queue group: each actor serves its own subjects, as plain subscriptions did.
    queue: "",
    statsHandler: (ep) => {
      const f = figures.get(ep.subject);
      if (!f) return Promise.resolve(null);
      return Promise.resolve({
        completed: f.completed,
        errors: f.errors,
        average_ms: f.completed ? Math.round((f.totalMs / f.completed) * 1000) / 1000 : 0,
        last_error: f.lastError,
      });
    },
  });
  const handlers = (service as unknown as { handlers?: { name: string; subject: string; sub?: Subscription }[] }).handlers;
  const ws: WoodsService = {
    service,
    addEndpoint(name, subject, handler, queue) {
      figures.set(subject, { completed: 0, errors: 0, totalMs: 0 });
      service.addEndpoint(name, { subject, queue, handler: (err: Error | null, msg: ServiceMsg) => (err ? undefined : handler(msg)) });
      // The framework keeps the subscription internal; callers stop serving by unsubscribing it.
      const sub = handlers?.find((h) => h.name === name && h.subject === subject)?.sub;
      assert(sub, `the services framework did not expose the subscription of endpoint ${name}`);
      return sub;
    },
    recordOutcome(subject, ms, error) {
      const f = figures.get(subject);
      if (!f) return;
      f.completed++;
      f.totalMs += ms;
      if (error !== undefined) {
        f.errors++;
        f.lastError = error;
      }
    },
    stop() {
      bound.delete(nc);
      // Draining waits for a server round trip, which never comes while disconnected.
      void service.stop().catch(() => undefined);
    },
  };
  for (const e of reg.endpoints ?? []) ws.addEndpoint(e.name, e.subject, e.handler);
  bound.set(nc, ws);
  return ws;
}

/** The service registered on `nc`, if any. */
export function serviceOf(nc: NatsConnection): WoodsService | undefined {
  return bound.get(nc);
}
