import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection, type ConnectionOptions } from "@nats-io/transport-node";

export interface ConnectOptions {
  /** One URL or several, comma separated. */
  url: string;
  name: string;
  /** Keep reconnecting forever (actors) or give up quickly (CLI commands). */
  reconnectForever?: boolean;
  reconnectTimeWaitMs?: number;
  /** How long the first connection attempt may take. */
  timeoutMs?: number;
  /** Credentials file: JSON `{"user","password"}` (what `woods cluster up` writes) or a NATS `.creds` file. "" = none. */
  creds?: string;
  /** PEM files for TLS; any of them set = TLS required. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** Credentials as read from a creds file, for the connect options. */
export interface UserCredentials {
  user: string;
  password: string;
}

/** Reads a creds file; throws naming the file when it is missing or malformed (never echoing its contents). */
export function readCredentials(file: string): Pick<ConnectionOptions, "user" | "pass" | "authenticator"> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.includes("BEGIN NATS USER JWT")) return { authenticator: credsAuthenticator(new TextEncoder().encode(text)) };
  let parsed: Partial<UserCredentials>;
  try {
    parsed = JSON.parse(text) as Partial<UserCredentials>;
  } catch {
    throw new Error(`credentials file ${file} is neither JSON {"user","password"} nor a NATS .creds file`);
  }
  if (typeof parsed.user !== "string" || typeof parsed.password !== "string") throw new Error(`credentials file ${file} lacks "user" or "password"`);
  return { user: parsed.user, pass: parsed.password };
}

/** Connects to NATS. Actors reconnect forever; the CLI fails fast with a clear message. */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  const servers = opts.url.split(",").map((s) => s.trim()).filter(Boolean);
  const auth = opts.creds ? readCredentials(opts.creds) : {};
  const tls = opts.tls && (opts.tls.ca || opts.tls.cert || opts.tls.key)
    ? {
        ...(opts.tls.ca ? { caFile: opts.tls.ca } : {}),
        ...(opts.tls.cert ? { certFile: opts.tls.cert } : {}),
        ...(opts.tls.key ? { keyFile: opts.tls.key } : {}),
      }
    : undefined;
  return connect({
    servers,
    name: opts.name,
    ...auth,
    ...(tls ? { tls } : {}),
    maxReconnectAttempts: opts.reconnectForever ? -1 : 10,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    waitOnFirstConnect: opts.reconnectForever ?? false,
    timeout: opts.timeoutMs ?? 5000,
    // Bulk frames can be up to max_payload; keep pings modest so a busy link is not declared dead.
    pingInterval: 10_000,
    maxPingOut: 6,
  });
}

/** The connect options of a loaded config's `nats` section (URL, credentials, TLS). */
export function natsAuthOf(nats: { creds?: string; tls?: { ca?: string; cert?: string; key?: string } }): Pick<ConnectOptions, "creds" | "tls"> {
  return { creds: nats.creds ?? "", tls: nats.tls ?? {} };
}

export type { NatsConnection };
