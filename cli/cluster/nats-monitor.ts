/** Questions to a nats-server's monitoring port (/healthz, /routez, /jsz) while launching a cluster. */

/** The monitoring endpoint of one server. */
export interface MonitoredServer {
  httpPort: number;
}

async function getJson(srv: MonitoredServer, path: string, timeoutMs = 2000): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${srv.httpPort}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${path} on port ${srv.httpPort}: HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/** True when the server accepts clients with JetStream enabled. */
export async function natsHealthy(srv: MonitoredServer): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${srv.httpPort}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

/**
 * How many other servers of its cluster the server has routes to. nats-server 2.10 keeps a pool of
 * connections per peer (`num_routes` counts them all), so peers are counted by their server id.
 */
export async function routeCount(srv: MonitoredServer): Promise<number> {
  const r = await getJson(srv, "/routez");
  const routes = Array.isArray(r.routes) ? (r.routes as { remote_id?: string; remote_name?: string }[]) : [];
  return new Set(routes.map((x) => x.remote_id ?? x.remote_name)).size;
}

/** The name of the JetStream meta leader the server knows ("" while none is elected). */
export async function metaLeader(srv: MonitoredServer): Promise<string> {
  const j = await getJson(srv, "/jsz");
  const meta = j.meta_cluster as { leader?: string } | undefined;
  return meta?.leader ?? "";
}

/** True when the server has routes to `peers` other servers and (unless `metaLeader` is false) knows a JetStream meta leader. */
export async function natsClusterFormed(srv: MonitoredServer, peers: number, opts: { metaLeader?: boolean } = {}): Promise<boolean> {
  if ((await routeCount(srv)) < peers) return false;
  return opts.metaLeader === false || (await metaLeader(srv)) !== "";
}
