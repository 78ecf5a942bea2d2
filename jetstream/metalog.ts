/**
 * The namenode's metadata log on a JetStream stream: create the stream, replay
 * it, and append entries with group commit. One stream message is one
 * msgpack `LogBatch`. Every append carries the expected last sequence, so a
 * second writer on the same stream is fenced instead of interleaving.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  jetstreamManager,
  DiscardPolicy,
  StorageType,
  DeliverPolicy,
  JetStreamApiError,
  JetStreamApiCodes,
} from "@nats-io/jetstream";
import { randomUUID } from "node:crypto";
import { PubAckError, PubAckPublisher, PUB_ACK_ERR } from "./pub-ack.js";
import { decode, encode, logBatchSchema, WoodsError, type LogBatch, type LogEntry, type Subjects } from "../messages/index.js";

/** The few logger methods this module uses (pino fits). */
export interface LogSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const silent: LogSink = { info: () => undefined, warn: () => undefined, debug: () => undefined };

/**
 * A failure after which the log can no longer be trusted to match memory:
 * `FENCED` (another writer appended) or `UNAVAILABLE` (retries exhausted).
 * The namenode exits on it; its successor replays the log.
 */
export class MetaLogFatalError extends WoodsError {
  readonly fatal = true;
}

/** Creates the metadata stream if missing: file storage, no limits, old discarded (never reached). */
export async function ensureMetaStream(nc: NatsConnection, subj: Subjects, replicas: number, log: LogSink = silent): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const name = subj.metaStream();
  try {
    const info = await jsm.streams.info(name);
    if (!info.config.subjects?.includes(subj.metaLog())) {
      throw new WoodsError("INTERNAL", `stream ${name} exists but does not hold subject ${subj.metaLog()}`);
    }
    return;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
  }
  await jsm.streams.add({
    name,
    subjects: [subj.metaLog()],
    storage: StorageType.File,
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    allow_direct: true,
  });
  log.info({ stream: name, replicas }, `created metadata stream ${name} with ${replicas} replica(s)`);
}

export interface ReplayResult {
  /** Sequence of the last message replayed (0 for an empty log). */
  lastSeq: number;
  /** First sequence asked for (1 for a full replay, a snapshot's sequence + 1 otherwise). */
  fromSeq: number;
  batches: number;
  entries: number;
}

/** The stream's sequence bounds: `firstSeq` moves past purged messages. */
export interface MetaLogBounds {
  firstSeq: number;
  lastSeq: number;
  messages: number;
}

/** Reads the metadata stream's bounds. */
export async function metaLogBounds(nc: NatsConnection, subj: Subjects): Promise<MetaLogBounds> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(subj.metaStream());
  return { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq, messages: info.state.messages };
}

/**
 * Purges log messages below `keepFromSeq` (they are covered by a snapshot).
 * Returns how many were removed.
 */
export async function purgeMetaLogBefore(nc: NatsConnection, subj: Subjects, keepFromSeq: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const r = await jsm.streams.purge(subj.metaStream(), { seq: keepFromSeq });
  return r.purged;
}

/**
 * Replays the log in order from `fromSeq` (default 1: everything) up to the
 * last sequence present when replay starts, calling `onBatch` for each
 * validated batch. Throws when messages from `fromSeq` on were purged: a
 * replay with a hole would silently build a wrong namespace. Uses an ordered
 * consumer: it streams messages with flow control. Measured on nats-server
 * 2.10.27 (one box, 100k one-entry batches): ordered consumer ~1.0 s, one
 * direct get per message ~25 s. (Batched direct get needs server 2.11.)
 */
export async function replayMetaLog(
  nc: NatsConnection,
  subj: Subjects,
  onBatch: (batch: LogBatch, seq: number) => void,
  opts: { fromSeq?: number } = {},
): Promise<ReplayResult> {
  const fromSeq = opts.fromSeq ?? 1;
  const js = jetstream(nc);
  const bounds = await metaLogBounds(nc, subj);
  const lastSeq = bounds.lastSeq;
  const result: ReplayResult = { lastSeq, fromSeq, batches: 0, entries: 0 };
  if (fromSeq > lastSeq) return result;
  // A fresh stream reports first_seq 0 or 1; after a purge first_seq is past the purged messages.
  if (fromSeq < bounds.firstSeq) {
    throw new WoodsError(
      "INTERNAL",
      `metadata log messages ${fromSeq}..${bounds.firstSeq - 1} were purged from ${subj.metaStream()}: replay from ${fromSeq} is impossible`,
    );
  }
  const consumer = await js.consumers.get(
    subj.metaStream(),
    fromSeq <= 1
      ? { deliver_policy: DeliverPolicy.All, filter_subjects: subj.metaLog() }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq, filter_subjects: subj.metaLog() },
  );
  const messages = await consumer.consume({ max_messages: 2048 });
  try {
    for await (const m of messages) {
      assert(m.seq >= fromSeq, `replay from ${fromSeq} delivered message ${m.seq}`);
      const batch = parseBatch(m.data, m.seq);
      onBatch(batch, m.seq);
      result.batches++;
      result.entries += batch.entries.length;
      if (m.seq >= lastSeq) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
  }
  return result;
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new WoodsError("INTERNAL", msg);
}

/** Replays with one direct get per sequence; kept for the replay-speed comparison only. */
export async function replayMetaLogDirect(
  nc: NatsConnection,
  subj: Subjects,
  onBatch: (batch: LogBatch, seq: number) => void,
): Promise<ReplayResult> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(subj.metaStream());
  const result: ReplayResult = { lastSeq: info.state.last_seq, fromSeq: info.state.first_seq, batches: 0, entries: 0 };
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.direct.getMessage(subj.metaStream(), { seq });
    if (!m) continue;
    const batch = parseBatch(m.data, seq);
    onBatch(batch, seq);
    result.batches++;
    result.entries += batch.entries.length;
  }
  return result;
}

/** Decodes and validates one stream message of the log (INTERNAL error naming the sequence otherwise). */
export function parseBatch(data: Uint8Array, seq: number): LogBatch {
  let value: unknown;
  try {
    value = decode(data).value;
  } catch (e) {
    throw new WoodsError("INTERNAL", `metadata log message ${seq} is not msgpack: ${(e as Error).message}`, { cause: e });
  }
  const parsed = logBatchSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WoodsError("INTERNAL", `metadata log message ${seq} is not a valid batch: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}

export interface AppenderOptions {
  /** Most entries in one stream message. */
  batchMaxEntries: number;
  /** How long to wait for one PubAck. */
  publishTimeoutMs: number;
  /** Extra attempts after a failed publish before giving up (fatal)... */
  publishRetries: number;
  /**
   * ...unless this long has not passed yet since the first attempt: failures are instant while a stream
   * has no leader (a JetStream leader change takes several seconds), so a count alone is a short budget.
   */
  publishDeadlineMs?: number;
  /** Pause between attempts (lets a stream leader election finish). */
  retryDelayMs: number;
  /** Batches in flight at once (default 1). */
  pipelineDepth?: number;
  /** Last sequence in the stream when this writer takes over (from replay). */
  lastSeq: number;
  /** Called once on a fatal error; later appends reject with it. */
  onFatal?: (err: MetaLogFatalError) => void;
  log?: LogSink;
}

interface Waiter {
  entry: LogEntry;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

/**
 * Group-committing appender: entries queue while batches are being published, and the queue goes
 * out as the next batch. Up to `pipelineDepth` batches are in flight at once, each published with
 * the sequence it expects before it (the stream stores them in order from one connection, so the
 * expectation of batch k+1 is batch k's sequence): a client's request waits about one publish round
 * trip instead of up to two, and the stream's fsyncs are not idle between round trips. Each append
 * resolves with the stream sequence of the batch that made it durable.
 */
export class MetaLogAppender {
  private readonly publisher: PubAckPublisher;
  private readonly writerId = randomUUID().replaceAll("-", "");
  private queue: Waiter[] = [];
  private inflightBatches = 0;
  private fatalError: MetaLogFatalError | undefined;
  /** Last sequence acknowledged (every batch up to it is durable). */
  private lastSeqValue: number;
  /** Sequence of the last batch handed to the stream (acknowledged or in flight). */
  private tailSeq: number;
  /** Settles when the last batch handed out is acknowledged (ok) or has failed. */
  private lastBatchDone: Promise<boolean> = Promise.resolve(true);
  private batchesPublished = 0;
  private entriesPublished = 0;
  private idle: (() => void)[] = [];
  private boundaries: (() => void)[] = [];
  private lastAppend: Promise<unknown> = Promise.resolve();
  private readonly log: LogSink;
  private readonly depth: number;

  constructor(
    nc: NatsConnection,
    private readonly subj: Subjects,
    private readonly opts: AppenderOptions,
  ) {
    this.publisher = new PubAckPublisher(nc);
    this.lastSeqValue = opts.lastSeq;
    this.tailSeq = opts.lastSeq;
    this.log = opts.log ?? silent;
    this.depth = Math.max(1, opts.pipelineDepth ?? 1);
  }

  /** Sequence of the last batch acknowledged by the stream. */
  get lastSeq(): number {
    return this.lastSeqValue;
  }

  get stats(): { batches: number; entries: number; queued: number } {
    return { batches: this.batchesPublished, entries: this.entriesPublished, queued: this.queue.length };
  }

  get fatal(): MetaLogFatalError | undefined {
    return this.fatalError;
  }

  /** Appends one entry; resolves with its batch's stream sequence once durable. */
  append(entry: LogEntry): Promise<number> {
    if (this.fatalError) return Promise.reject(this.fatalError);
    const p = new Promise<number>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.pump();
    });
    this.lastAppend = p;
    return p;
  }

  /**
   * Resolves once every entry appended so far is durable (rejects if the log
   * failed). Lets an idempotent retry be answered only after the original is safe.
   */
  async sync(): Promise<void> {
    await this.lastAppend;
  }

  /**
   * Runs `fn` synchronously at a batch boundary, passing the sequence that
   * will hold every entry appended so far: the last one handed to the stream when
   * nothing is queued, else the next batch (then the whole queue, which goes
   * out as that batch in the same synchronous step). State read inside `fn`
   * therefore matches the log up to that sequence exactly, once it is durable
   * (await `sync()`). Rejects if the log failed.
   */
  atBoundary<T>(fn: (coversSeq: number) => T): Promise<T> {
    if (this.fatalError) return Promise.reject(this.fatalError);
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        if (this.fatalError) return reject(this.fatalError);
        try {
          resolve(fn(this.queue.length > 0 ? this.tailSeq + 1 : this.tailSeq));
        } catch (e) {
          reject(e);
        }
      };
      if (this.queue.length === 0 || this.inflightBatches < this.depth) {
        // Either nothing is queued, or the queue is about to go out whole (pump below).
        if (this.queue.length <= this.opts.batchMaxEntries) {
          run();
          this.pump();
          return;
        }
      }
      this.boundaries.push(run);
    });
  }

  /** Stops listening for acknowledgements (after `flush`); later appends are not acknowledged. */
  close(): void {
    this.publisher.close();
  }

  /** Resolves once everything queued so far is published (or failed). */
  flush(): Promise<void> {
    if (this.inflightBatches === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** Hands queued entries to the stream while fewer than `depth` batches are in flight. */
  private pump(): void {
    while (this.queue.length > 0 && !this.fatalError && this.inflightBatches < this.depth) {
      // A boundary waits until the whole queue fits in the next batch (so it covers one sequence).
      if (this.boundaries.length > 0 && this.queue.length <= this.opts.batchMaxEntries) for (const b of this.boundaries.splice(0)) b();
      const batch = this.queue.splice(0, this.opts.batchMaxEntries);
      const expected = this.tailSeq;
      this.tailSeq = expected + 1;
      this.inflightBatches++;
      const previous = this.lastBatchDone;
      const done = this.publish(
        batch.map((w) => w.entry),
        expected,
        previous,
      ).then(
        (seq) => {
          if (seq > this.lastSeqValue) this.lastSeqValue = seq;
          for (const w of batch) w.resolve(seq);
          return true;
        },
        (e: unknown) => {
          const err =
            e instanceof MetaLogFatalError ? e : new MetaLogFatalError("UNAVAILABLE", `metadata log append failed: ${(e as Error).message}`, { cause: e });
          for (const w of batch) w.reject(err);
          if (!this.fatalError) {
            this.fatalError = err;
            for (const w of this.queue.splice(0)) w.reject(err);
            for (const b of this.boundaries.splice(0)) b();
            this.opts.onFatal?.(err);
          }
          return false;
        },
      );
      this.lastBatchDone = done;
      void done.finally(() => {
        this.inflightBatches--;
        this.pump();
        if (this.inflightBatches === 0) {
          if (this.queue.length === 0) for (const b of this.boundaries.splice(0)) b();
          if (this.queue.length === 0 || this.fatalError) for (const r of this.idle.splice(0)) r();
        }
      });
    }
  }

  /**
   * Publishes one batch expected right after sequence `expected`. `previous` settles when the batch
   * before it has (true = stored): a wrong-last-sequence answer while that one is still being retried
   * means this batch overtook it, not that another writer appended; only after the previous batch is
   * stored does it mean fencing.
   */
  private async publish(entries: LogEntry[], expected: number, previous: Promise<boolean>): Promise<number> {
    const batch: LogBatch = { v: 1, entries };
    const data = encode(batch);
    // Same id on every attempt: a retry after a lost PubAck is deduplicated by the stream.
    const msgID = `${this.writerId}-${expected + 1}`;
    let lastError: unknown;
    const startedMs = Date.now();
    const deadlineMs = this.opts.publishDeadlineMs ?? 0;
    let attempt = 0;
    for (; attempt <= this.opts.publishRetries || Date.now() - startedMs < deadlineMs; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.opts.retryDelayMs));
      if (this.fatalError) throw this.fatalError;
      try {
        const ack = await this.publisher.publish(this.subj.metaLog(), data, {
          msgId: msgID,
          expectLastSequence: expected,
          timeoutMs: this.opts.publishTimeoutMs,
        });
        if (!ack.duplicate && ack.seq !== expected + 1) {
          throw new MetaLogFatalError("FENCED", `metadata log batch landed at ${ack.seq}, expected ${expected + 1}`);
        }
        this.batchesPublished++;
        this.entriesPublished += entries.length;
        this.log.debug({ seq: ack.seq, entries: entries.length, attempt }, `appended ${entries.length} log entries at ${ack.seq}`);
        return ack.seq;
      } catch (e) {
        if (e instanceof MetaLogFatalError) throw e;
        if (e instanceof PubAckError && e.errCode === PUB_ACK_ERR.wrongLastSequence) {
          // Overtook the batch before it (still being retried)? Wait for it, then try again.
          if (await previous) {
            if (lastError === OVERTOOK) {
              throw new MetaLogFatalError("FENCED", `another writer appended to ${this.subj.metaStream()} after sequence ${expected}: this namenode is fenced`, {
                cause: e,
              });
            }
            lastError = OVERTOOK;
            attempt--; // not a failed attempt: retry at once
            continue;
          }
          throw new MetaLogFatalError("UNAVAILABLE", `metadata log batch after ${expected} abandoned: the batch before it failed`, { cause: e });
        }
        lastError = e;
        this.log.warn({ err: e, attempt, seq: expected + 1 }, `metadata log append attempt ${attempt + 1} failed: ${(e as Error).message}`);
      }
    }
    throw new MetaLogFatalError(
      "UNAVAILABLE",
      `metadata log append failed after ${attempt} attempts in ${Date.now() - startedMs} ms: ${(lastError as Error)?.message}`,
      { cause: lastError },
    );
  }
}

/** Marker: the last wrong-last-sequence was answered by waiting for the previous batch. */
const OVERTOOK = Symbol("overtook");
