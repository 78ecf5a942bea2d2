/**
 * WoodsClient: the library face of the store. One NATS connection; every
 * namenode request goes through `call()` with `client.requestTimeoutMs` and
 * the `client.retry` policy, so a namenode restart (UNAVAILABLE) is ridden out.
 */
import type { Readable, Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { CLIENT_RELOADABLE, applyChanges, planReload, type ConfigChange, type WoodsConfig } from "../../config/index.js";
import {
  decode,
  normalizePath,
  subjects,
  SHADOW_VERBS,
  WoodsError,
  type ShadowVerb,
  type FsckReply,
  type LsEntry,
  type NamenodeReplies,
  type NamenodeRequest,
  type NamenodeVerb,
  type StatReply,
  type NodeInfo,
  type Subjects,
  type WoodsEvent,
  type DatanodeReplies,
} from "../../messages/index.js";
import { connectNats, natsAuthOf, type NatsConnection } from "../connect.js";
import { logFormat, prettyDestination } from "../logger.js";
import { call } from "../rpc.js";
import { inSpan, SpanKind } from "../telemetry.js";
import type { ByteSource } from "./chunker.js";
import { append, forgetTail, type AppendOptions, type AppendResult } from "./append.js";
import { get, type GetOptions, type GetResult } from "./get.js";
import { put, type PutOptions, type PutResult } from "./put.js";
import { withRetry, type RetryOptions, type RetryPolicy } from "./retry.js";
import type { ChunkWriter, ClientContext, NamenodeCall } from "./types.js";
import { writeChunkDirect } from "./writer-direct.js";
import { stagedWriter } from "./writer-staged.js";
import { clientMetrics, type ClientMetrics } from "./metrics.js";

export interface ClientOptions {
  /** Connection name shown by the server (default `woods-client`). */
  name?: string;
  /** Logger to use; by default pino on stderr (stdout may be carrying file bytes) at `log.level`. */
  logger?: Logger;
  /** Injected sleep/rng/clock for the retry policy (tests). */
  retry?: Pick<RetryOptions, "sleep" | "rng" | "nowMs">;
}

/** pino on stderr (stdout may be carrying file bytes): JSON, or readable lines when stderr is a terminal (`logFormat`). */
function clientLogger(level: string, name: string): Logger {
  const options = { level, base: { actor: "client", name } };
  if (logFormat(!!process.stderr.isTTY) === "pretty") return pino(options, prettyDestination(process.stderr));
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

export interface EventSubscription {
  stop(): void;
}

export class WoodsClient {
  readonly config: WoodsConfig;
  readonly subjects: Subjects;
  private readonly nc: NatsConnection;
  private readonly ctx: ClientContext;
  private readonly writer: ChunkWriter;
  private readonly metrics: ClientMetrics = clientMetrics();

  private constructor(nc: NatsConnection, config: WoodsConfig, log: Logger, retryOptions: Pick<RetryOptions, "sleep" | "rng" | "nowMs">) {
    this.nc = nc;
    this.config = config;
    this.subjects = subjects(config.prefix);
    const retryPolicy: RetryPolicy = config.client.retry;
    const namenode: NamenodeCall = (verb, body, opts) => this.namenodeCall(verb, body, opts);
    this.ctx = { nc, subj: this.subjects, config, log, namenode, retryPolicy, retryOptions, nowMs: () => performance.now() };
    this.writer = config.writePath === "staged" ? stagedWriter(this.ctx) : (req) => writeChunkDirect(this.ctx, req);
  }

  /** Connects to NATS (failing fast, not reconnecting forever) and returns a client. */
  static async connect(config: WoodsConfig, opts: ClientOptions = {}): Promise<WoodsClient> {
    const name = opts.name ?? "woods-client";
    const log = opts.logger ?? clientLogger(config.log.level, name);
    const nc = await connectNats({
      url: config.nats.url,
      name,
      reconnectForever: false,
      reconnectTimeWaitMs: config.nats.reconnectTimeWaitMs,
      timeoutMs: config.client.requestTimeoutMs,
      ...natsAuthOf(config.nats),
    });
    return new WoodsClient(nc, config, log, opts.retry ?? {});
  }

  /** One namenode request with timeout and retries of retryable errors. */
  private namenodeCall<V extends NamenodeVerb>(verb: V, body: NamenodeRequest<V>, opts: { retry?: boolean } = {}): Promise<NamenodeReplies[V]> {
    const subject = this.subjects.namenode(verb);
    const ask = async (subj: string) => {
      // Replies carry `ok: true`; callers get the fields only.
      const { ok: _ok, ...fields } = await call<NamenodeReplies[V] & { ok?: boolean }>(this.nc, subj, body, this.config.client.requestTimeoutMs);
      return fields as NamenodeReplies[V];
    };
    const once = async () => {
      try {
        return await ask(subject);
      } catch (e) {
        // No active namenode (a takeover under way): a standby answers reads from its copy of the log.
        if (!isReadFallback(verb) || !(e instanceof WoodsError) || e.code !== "UNAVAILABLE" || !e.message.startsWith("nobody is serving")) throw e;
        try {
          const r = await ask(this.subjects.shadow(verb));
          this.ctx.log.debug({ verb }, `no active namenode: ${verb} answered by a standby`);
          return r;
        } catch {
          throw e;
        }
      }
    };
    if (opts.retry === false) return once();
    return withRetry(this.ctx.retryPolicy, once, {
      ...this.ctx.retryOptions,
      onRetry: (err, attempt, delayMs) =>
        this.ctx.log.warn(
          { verb, code: err.code, attempt },
          `namenode ${verb} failed with ${err.code} (attempt ${attempt} of ${this.ctx.retryPolicy.maxAttempts}); retrying in ${delayMs} ms: ${err.message}`,
        ),
      onDeadline: (err, attempt, elapsedMs) =>
        this.ctx.log.warn(
          { verb, code: err.code, attempt, elapsedMs },
          `namenode ${verb} failed with ${err.code} after ${attempt} attempts in ${Math.round(elapsedMs)} ms; giving up: the next retry would pass the ${this.ctx.retryPolicy.deadlineMs} ms deadline`,
        ),
    });
  }

  /**
   * Takes the reloadable client keys (`client.retry.*`) from `next`, e.g. a config file loaded
   * again by a long-running program; operations that start afterwards use them. Returns what
   * changed; other differences are ignored (they need a new client).
   */
  reconfigure(next: WoodsConfig): ConfigChange[] {
    const { apply } = planReload(this.config, next, CLIENT_RELOADABLE);
    // In place: ctx.retryPolicy is this very object, read at the start of every operation.
    applyChanges(this.config, apply);
    return apply;
  }

  /** Stores a stream (file, stdin, any async iterable of bytes) at `remote`; EXISTS if taken. */
  put(source: ByteSource | Readable, remote: string, opts: PutOptions = {}): Promise<PutResult> {
    return inSpan("woods.put", { "woods.path": remote }, async (span) => {
      const r = await put(this.ctx, this.writer, source as ByteSource, remote, opts);
      this.metrics.put.add(r.size);
      span.setAttributes({ "woods.bytes": r.size, "woods.chunks": r.chunks });
      return r;
    }, { kind: SpanKind.CLIENT });
  }

  /** Appends a stream to the end of the existing file `remote`, exactly once (see docs/append.md). */
  append(source: ByteSource | Readable | Uint8Array, remote: string, opts: AppendOptions = {}): Promise<AppendResult> {
    const src = source instanceof Uint8Array ? [source] : source;
    return inSpan("woods.append", { "woods.path": remote }, async (span) => {
      const r = await append(this.ctx, this.writer, src as ByteSource, remote, opts);
      this.metrics.append.add(r.size);
      span.setAttributes({ "woods.bytes": r.size, "woods.offset": r.offset, "woods.append.mode": r.mode });
      return r;
    }, { kind: SpanKind.CLIENT });
  }

  /** Writes the bytes of `remote` to `sink` in order (the sink is not ended). */
  get(remote: string, sink: Writable, opts: GetOptions = {}): Promise<GetResult> {
    return inSpan("woods.get", { "woods.path": remote }, async (span) => {
      const r = await get(this.ctx, remote, sink, opts);
      this.metrics.get.add(r.size);
      span.setAttribute("woods.bytes", r.size);
      return r;
    }, { kind: SpanKind.CLIENT });
  }

  /** Deletes a file; its chunks are reclaimed on the datanodes later. */
  async rm(remote: string): Promise<{ path: string }> {
    const path = normalizePath(remote);
    forgetTail(this.ctx, path);
    return this.namenodeCall("rm", { path });
  }

  /**
   * Moves the complete file `src` to `dst` (which must not exist) in one step. Errors: NOT_FOUND
   * (no such file, or still being written), EXISTS, IS_DIRECTORY (directories are not moved),
   * NOT_A_FILE (a parent of `dst` is a file). Safe to retry: an applied rename answers the same.
   */
  async rename(src: string, dst: string): Promise<{ src: string; dst: string }> {
    const from = normalizePath(src);
    const to = normalizePath(dst);
    forgetTail(this.ctx, from);
    return this.namenodeCall("rename", { src: from, dst: to });
  }

  /** Children of a directory (default `/`). */
  async ls(prefix = "/"): Promise<LsEntry[]> {
    const p = normalizePath(prefix, { allowRoot: true });
    const r = await this.namenodeCall("ls", { prefix: p });
    return r.entries;
  }

  /** A file's size, state, replication and chunks with their live replicas. */
  async stat(remote: string): Promise<StatReply> {
    const path = normalizePath(remote);
    return this.namenodeCall("stat", { path });
  }

  /** Every datanode the namenode knows, with its state and usage. */
  async nodes(): Promise<NodeInfo[]> {
    return (await this.namenodeCall("nodes", {})).nodes;
  }

  /** Cluster health summary. */
  async fsck(): Promise<FsckReply> {
    return this.namenodeCall("fsck", {});
  }

  /** Namenode identity, epoch and log position (one attempt: a ping reports, it does not wait out restarts). */
  async ping(): Promise<NamenodeReplies["ping"]> {
    return this.namenodeCall("ping", {}, { retry: false });
  }

  /**
   * Which namenode is active and whether a standby answers (one attempt each): `active` answers on the
   * namenode subjects, a standby on the shadow ones (one of them when there are several).
   */
  async namenodes(): Promise<{ active: NamenodeReplies["ping"] | null; standby: NamenodeReplies["ping"] | null }> {
    const ask = (subject: string) =>
      call<NamenodeReplies["ping"] & { ok?: boolean }>(this.nc, subject, {}, Math.min(this.config.client.requestTimeoutMs, 2000)).then(
        ({ ok: _ok, ...p }) => p as NamenodeReplies["ping"],
        () => null,
      );
    const [active, standby] = await Promise.all([ask(this.subjects.namenode("ping")), ask(this.subjects.shadow("ping"))]);
    return { active, standby };
  }

  /** Pings one datanode directly. */
  async pingDatanode(id: string): Promise<DatanodeReplies["ping"]> {
    return call<DatanodeReplies["ping"]>(this.nc, this.subjects.datanode(id, "ping"), {}, this.config.client.requestTimeoutMs);
  }

  /** Calls `onEvent` for every cluster event until `stop()`; undecodable events are skipped. */
  events(onEvent: (subject: string, event: WoodsEvent) => void): EventSubscription {
    const sub = this.nc.subscribe(this.subjects.eventsAll(), {
      callback: (err, msg) => {
        if (err) return;
        try {
          onEvent(msg.subject, decode(msg.data, msg.headers).value as WoodsEvent);
        } catch (e) {
          this.ctx.log.debug({ subject: msg.subject, err: e }, `skipped an event on ${msg.subject}: ${(e as Error).message}`);
        }
      },
    });
    return { stop: () => sub.unsubscribe() };
  }

  /** Flushes and closes the connection. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => {});
    }
  }
}

/** Verbs a standby namenode may answer when no namenode is active (messages/subjects.ts SHADOW_VERBS, ping aside). */
function isReadFallback(verb: NamenodeVerb): verb is Exclude<ShadowVerb, "ping"> {
  return verb !== "ping" && (SHADOW_VERBS as readonly string[]).includes(verb);
}
