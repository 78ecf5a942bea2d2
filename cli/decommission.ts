/**
 * `woods decommission DN [--cancel] [--wait] [--json]`: asks the namenode to take a datanode out of
 * service (or put it back), and with --wait polls `nodes` until the node is decommissioned.
 * Admin only: the cluster's NATS permissions refuse the `decommission` subject to the client role.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { WoodsConfig } from "../config/index.js";
import { subjects, WoodsError, type DecommissionReply, type NamenodeReplies, type NamenodeVerb, type NodeInfo } from "../messages/index.js";
import { connectNats, natsAuthOf, type NatsConnection } from "../actors/connect.js";
import { call } from "../actors/rpc.js";
import { credsFile } from "./cluster/auth.js";
import { notice, printJson } from "./output.js";

export interface DecommissionOptions {
  cancel: boolean;
  wait: boolean;
  json: boolean;
  /** With `wait`: how often to ask the namenode. */
  intervalMs: number;
  /** Where progress lines go (default: stderr through `notice`, quiet under --quiet). */
  progress?: (line: string) => void;
}

/**
 * Against the local cluster, an admin command uses the cluster's admin credentials: when no
 * credentials were named (--creds, $WOODS_CREDS) and the client config fell back on the local
 * cluster's client credentials, switch to its admin ones.
 */
export async function adminCreds(config: WoodsConfig, opts: { creds?: string }, clusterDir: string): Promise<void> {
  if (opts.creds || process.env.WOODS_CREDS) return;
  const dir = resolve(clusterDir);
  if (config.nats.creds !== credsFile(dir, "client")) return;
  const admin = credsFile(dir, "admin");
  if (existsSync(admin)) config.nats.creds = admin;
}

/** Sends `decommission` (or its cancel) for `id`, prints the result, and with `wait` waits for the end. */
export async function runDecommission(config: WoodsConfig, id: string, o: DecommissionOptions): Promise<void> {
  const nc = await connectNats({
    url: config.nats.url,
    name: "woods-cli-decommission",
    reconnectForever: false,
    reconnectTimeWaitMs: config.nats.reconnectTimeWaitMs,
    timeoutMs: config.client.requestTimeoutMs,
    ...natsAuthOf(config.nats),
  }).catch((e: Error) => {
    throw new Error(`cannot connect to NATS at ${config.nats.url}: ${e.message}`);
  });
  const progress = o.progress ?? notice;
  try {
    const ask = <V extends NamenodeVerb>(verb: V, body: unknown) => request<V>(nc, config, verb, body);
    let r = await retrying(config, () => ask("decommission", { id, ...(o.cancel ? { cancel: true } : {}) }));
    if (o.wait && r.adminState !== "decommissioned") {
      progress(describe(r));
      r = await waitDecommissioned(config, id, r, (verb, body) => ask(verb, body), o.intervalMs, progress);
    }
    if (o.json) printJson(r);
    else process.stdout.write(`${describe(r)}\n`);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

/** One sentence about where a node stands. */
export function describe(r: Pick<DecommissionReply, "id" | "adminState" | "chunks" | "chunksLeft" | "state"> & { waitingFor?: string }): string {
  const live = r.state === "alive" ? "" : ` (${r.state})`;
  switch (r.adminState) {
    case "in-service":
      return `${r.id}${live} is in service`;
    case "decommissioned":
      return `${r.id}${live} is decommissioned: each of its ${r.chunks} chunk(s) has enough copies elsewhere; it can be stopped`;
    case "decommissioning":
      return `${r.id}${live} is decommissioning: ${r.chunksLeft} of ${r.chunks} chunk(s) left to copy${r.chunksLeft === 0 && r.waitingFor ? ` (waiting: ${r.waitingFor})` : ""}`;
  }
}

/**
 * Polls `nodes` until `id` is decommissioned; prints a progress line when the count changes.
 * A namenode that is away (restart, takeover) is waited for; a decommission cancelled meanwhile ends the wait with an error.
 */
async function waitDecommissioned(
  config: WoodsConfig,
  id: string,
  first: DecommissionReply,
  ask: <V extends NamenodeVerb>(verb: V, body: unknown) => Promise<NamenodeReplies[V]>,
  intervalMs: number,
  progress: (line: string) => void,
): Promise<DecommissionReply> {
  let last = describe(first);
  let away = false;
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    let node: NodeInfo | undefined;
    try {
      node = (await ask("nodes", {})).nodes.find((n) => n.id === id);
    } catch (e) {
      const err = e instanceof WoodsError ? e : new WoodsError("INTERNAL", String(e));
      if (!err.retryable) throw err;
      if (!away) progress(`the namenode does not answer (${err.code}); still waiting for ${id}`);
      away = true;
      continue;
    }
    away = false;
    if (!node) continue; // a namenode that just started has not heard from it yet
    if (node.adminState === "in-service") throw new WoodsError("BAD_REQUEST", `the decommissioning of ${id} was cancelled`);
    if (node.adminState === "decommissioned") {
      // The final word comes from the decommission verb itself (counted now, with every field).
      const r = await retrying(config, () => ask("decommission", { id }));
      if (r.adminState === "decommissioned") return r;
      continue;
    }
    if (node.decommissionChunksLeft === undefined) continue;
    const line = describe({ id, adminState: "decommissioning", chunks: node.chunks, chunksLeft: node.decommissionChunksLeft, state: node.state });
    if (line !== last) progress(line);
    last = line;
  }
}

/** One namenode request; a refused publish (NATS permissions) becomes a message about admin credentials. */
async function request<V extends NamenodeVerb>(nc: NatsConnection, config: WoodsConfig, verb: V, body: unknown): Promise<NamenodeReplies[V]> {
  const subject = subjects(config.prefix).namenode(verb);
  try {
    const { ok: _ok, ...fields } = await call<NamenodeReplies[V] & { ok?: boolean }>(nc, subject, body, config.client.requestTimeoutMs);
    return fields as NamenodeReplies[V];
  } catch (e) {
    if (isPermissionError(e)) {
      throw new WoodsError(
        "BAD_REQUEST",
        `the server refused this user to send ${subject}: ${verb} needs admin credentials (--creds FILE or WOODS_CREDS; a local cluster's are in <cluster dir>/creds/admin.creds)`,
        { cause: e },
      );
    }
    throw e;
  }
}

function isPermissionError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (/permission/i.test(`${(cur as Error).name} ${(cur as Error).message}`)) return true;
  }
  return false;
}

/** Retries retryable failures (the namenode restarting or taking over) until `client.retry.deadlineMs`. */
async function retrying<T>(config: WoodsConfig, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + config.client.retry.deadlineMs;
  let delayMs = Math.max(50, config.client.retry.baseDelayMs);
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const retryable = e instanceof WoodsError && e.retryable;
      if (!retryable || Date.now() + delayMs > deadline) throw e;
      await new Promise((r) => setTimeout(r, delayMs));
      delayMs = Math.min(delayMs * 2, Math.max(delayMs, config.client.retry.maxDelayMs));
    }
  }
}
