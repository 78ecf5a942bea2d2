import { connect, type NatsConnection } from "@nats-io/transport-node";

export interface ConnectOptions {
  /** One URL or several, comma separated. */
  url: string;
  name: string;
  /** Keep reconnecting forever (actors) or give up quickly (CLI commands). */
  reconnectForever?: boolean;
  reconnectTimeWaitMs?: number;
  /** How long the first connection attempt may take. */
  timeoutMs?: number;
}

/** Connects to NATS. Actors reconnect forever; the CLI fails fast with a clear message. */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  const servers = opts.url.split(",").map((s) => s.trim()).filter(Boolean);
  return connect({
    servers,
    name: opts.name,
    maxReconnectAttempts: opts.reconnectForever ? -1 : 10,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    waitOnFirstConnect: opts.reconnectForever ?? false,
    timeout: opts.timeoutMs ?? 5000,
    // Bulk frames can be up to max_payload; keep pings modest so a busy link is not declared dead.
    pingInterval: 10_000,
    maxPingOut: 6,
  });
}

export type { NatsConnection };
