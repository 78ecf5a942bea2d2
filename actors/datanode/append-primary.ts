/**
 * The primary of in-place appends to a chunk (docs/append.md, "Tail mode"). Per chunk it keeps
 * the lease it learned from the namenode (`appendLease`), a queue of records and at most one
 * batch in flight. A batch takes every queued record (in arrival order, at most the batch
 * limit), is applied to every replica in parallel (itself included, through the same function),
 * then committed by the namenode (`appendCommit`), which alone makes it visible. Replicas that
 * fail are dropped (`appendDropReplica`: the chunk moves to a new version) and the batch is
 * applied again to the rest. Every client is answered with where its record landed; a retry of
 * a key queued, in flight or recently committed here gets that same outcome.
 *
 * All I/O comes in through `PrimaryIo` (NATS calls, the local replica, the clock), so tests can
 * drive it without a broker.
 */
import { crc32 } from "node:zlib";
import {
  WoodsError,
  toWoodsError,
  chunkChecksum,
  type DatanodeReplies,
  type DatanodeRequest,
  type NamenodeReplies,
  type NamenodeRequest,
} from "../../messages/index.js";
import type { Logger } from "../logger.js";

type AppendReply = DatanodeReplies["append"];
type PrimaryVerb = "appendLease" | "appendCommit" | "appendDropReplica";

/** Most results of recently committed keys kept to answer retries (the namenode keeps them all). */
export const RECENT_RESULTS_MAX = 10_000;
/** A chunk's queue holds at most this many batches' worth of bytes; beyond it clients are told to retry. */
export const QUEUE_MAX_BATCHES = 4;
/** …but never less than this, so a small batch limit does not turn into client retries. */
const QUEUE_MIN_BYTES = 8 * 1024 * 1024;
/** The local view of a lease ends this fraction of its length early (at least LEASE_MARGIN_MIN_MS), so it ends before the namenode's. */
export const LEASE_MARGIN_FRACTION = 0.1;
export const LEASE_MARGIN_MIN_MS = 200;
/** Backoff between commit attempts while the namenode cannot be reached. */
export const COMMIT_RETRY_BASE_MS = 100;
export const COMMIT_RETRY_MAX_MS = 1000;
/** Room left in a NATS message for the appendApply fields around the batch bytes. */
export const APPLY_OVERHEAD_BYTES = 4096;
/** How often idle chunk states (no queue, no batch, lease run out) are forgotten. */
export const SWEEP_INTERVAL_MS = 5000;
/** Most chunks with primary state at once (requests naming unknown chunks create state until the sweep). */
export const CHUNK_STATES_MAX = 10_000;

/** Errors from the namenode meaning this lease can no longer commit: its clients must locate again. */
const LEASE_GONE = new Set(["NOT_PRIMARY", "STALE", "LEASE_EXPIRED", "FENCED", "NOT_FOUND"]);

export interface PrimaryIo {
  /** This datanode's id. */
  id: string;
  /** A namenode request; throws the WoodsError it answered (or TIMEOUT/UNAVAILABLE). */
  namenode<V extends PrimaryVerb>(verb: V, body: NamenodeRequest<V>, timeoutMs: number): Promise<NamenodeReplies[V]>;
  /** appendApply on replica `dn` (this node's own copy through the local function, never NATS). */
  apply(dn: string, req: DatanodeRequest<"appendApply">, timeoutMs: number): Promise<DatanodeReplies["appendApply"]>;
  now(): number;
  sleep(ms: number): Promise<void>;
  log: Logger;
}

export interface PrimaryLimits {
  /** datanode.appendBatchMaxBytes */
  batchMaxBytes: number;
  /** The server's max_payload: a batch must fit in one appendApply message. */
  payloadMaxBytes: number;
  /** datanode.appendApplyTimeoutMs */
  applyTimeoutMs: number;
  /** client.requestTimeoutMs, for the namenode requests */
  requestTimeoutMs: number;
  /** client.minReplicasForCommit */
  minReplicasForCommit: number;
}

/** What this primary knows of its lease on one chunk. */
interface Lease {
  epoch: number;
  version: number;
  replicas: string[];
  /** Replicas when this epoch was first learned: with drops the batch needs min(minReplicasForCommit, this). */
  replicasAtStart: number;
  /** Committed length and the CRC32 of those bytes: the next batch starts here. */
  sizeBytes: number;
  crc: number;
  chunkSizeBytes: number;
  /** Local end of the lease, counted from when the request that renewed it was sent, minus a margin. */
  expiresAtMs: number;
  /** The committed size may have moved without this primary knowing (a commit whose outcome is unknown): ask before the next batch. */
  unsure: boolean;
}

type Bytes = DatanodeRequest<"appendApply">["data"];

interface Pending {
  key: string;
  epoch: number;
  data: Bytes;
  promise: Promise<AppendReply>;
  resolve(r: AppendReply): void;
  reject(e: WoodsError): void;
}

interface ChunkState {
  chunkId: string;
  lease?: Lease;
  fetching?: { epoch: number; promise: Promise<Lease> };
  queue: Pending[];
  queuedBytes: number;
  /** Keys queued or in flight → their pending record, so a retry joins it. */
  byKey: Map<string, Pending>;
  /** A batch (with the lease check before it) is running. */
  busy: boolean;
}

function leaseMarginMs(expiresInMs: number): number {
  return Math.max(LEASE_MARGIN_MIN_MS, Math.floor(expiresInMs * LEASE_MARGIN_FRACTION));
}

/** `crc32:<8 hex>` → the number; BAD_REQUEST-free: a malformed reply from the namenode is UNAVAILABLE. */
function parseChecksum(checksum: string): number {
  const m = /^crc32:([0-9a-f]{8})$/.exec(checksum);
  if (!m) throw new WoodsError("UNAVAILABLE", `namenode named checksum ${JSON.stringify(checksum)}, not crc32:<8 hex>`);
  return Number.parseInt(m[1], 16) >>> 0;
}

function notPrimary(message: string, cause?: unknown): WoodsError {
  return new WoodsError("NOT_PRIMARY", message, { cause });
}

export class AppendPrimary {
  private readonly io: PrimaryIo;
  private readonly limits: PrimaryLimits;
  private readonly chunks = new Map<string, ChunkState>();
  /** key → result, for keys committed here recently (bounded, oldest dropped first). */
  private readonly recent = new Map<string, AppendReply>();
  private readonly running = new Set<Promise<void>>();
  private sweeper: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(io: PrimaryIo, limits: PrimaryLimits) {
    this.io = io;
    this.limits = limits;
  }

  /** Most bytes in one batch: the configured limit, within one NATS message. */
  get batchMaxBytes(): number {
    return Math.max(1, Math.min(this.limits.batchMaxBytes, this.limits.payloadMaxBytes - APPLY_OVERHEAD_BYTES));
  }

  /** Starts forgetting idle chunk states periodically. */
  start(): void {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Refuses new appends, fails queued ones (retryable) and waits for batches in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const s of this.chunks.values()) this.rejectQueued(s, () => new WoodsError("UNAVAILABLE", `${this.io.id} is stopping`));
    await Promise.all([...this.running]);
  }

  /** Chunk states held (for tests). */
  get chunkCount(): number {
    return this.chunks.size;
  }

  /** `append {chunkId, epoch, key, data}` from a client: resolves once the record is committed, with where it landed. */
  async append(req: DatanodeRequest<"append">): Promise<AppendReply> {
    const done = this.recent.get(req.key);
    if (done) return done;
    let s = this.chunks.get(req.chunkId);
    if (!s) {
      if (this.chunks.size >= CHUNK_STATES_MAX) this.sweep();
      if (this.chunks.size >= CHUNK_STATES_MAX) throw new WoodsError("UNAVAILABLE", `${this.io.id} already serves appends to ${this.chunks.size} chunks; retry shortly`);
      this.chunks.set(req.chunkId, (s = { chunkId: req.chunkId, queue: [], queuedBytes: 0, byKey: new Map(), busy: false }));
    }
    const joined = s.byKey.get(req.key);
    if (joined) return joined.promise;
    if (this.stopped) throw new WoodsError("UNAVAILABLE", `${this.io.id} is stopping`);
    await this.admit(s, req.epoch);
    // The lease check may have waited for the namenode: look for the key again.
    const doneSince = this.recent.get(req.key) ?? s.byKey.get(req.key)?.promise;
    if (doneSince) return doneSince;
    if (req.data.length > this.batchMaxBytes) {
      throw new WoodsError("CHUNK_FULL", `an append of ${req.data.length} bytes exceeds the ${this.batchMaxBytes}-byte batch limit of in-place appends; append it as a new chunk`);
    }
    if (s.queuedBytes + req.data.length > Math.max(QUEUE_MAX_BATCHES * this.batchMaxBytes, QUEUE_MIN_BYTES)) {
      throw new WoodsError("UNAVAILABLE", `${s.queuedBytes} bytes of appends to chunk ${s.chunkId} are already queued on ${this.io.id}; retry shortly`);
    }
    let resolve!: (r: AppendReply) => void;
    let reject!: (e: WoodsError) => void;
    const promise = new Promise<AppendReply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const p: Pending = { key: req.key, epoch: req.epoch, data: req.data, promise, resolve, reject };
    s.queue.push(p);
    s.queuedBytes += p.data.length;
    s.byKey.set(p.key, p);
    this.pump(s);
    return promise;
  }

  /**
   * Accepts a request naming lease `epoch`: the known lease (renewed before the next batch if
   * needed), or a newer one learned from the namenode now. An older epoch can never be live
   * again (epochs only grow): NOT_PRIMARY at once.
   */
  private async admit(s: ChunkState, epoch: number): Promise<void> {
    const l = s.lease;
    if (l && epoch === l.epoch) return;
    if (l && epoch < l.epoch) throw notPrimary(`lease epoch ${epoch} on chunk ${s.chunkId} is older than epoch ${l.epoch} held by ${this.io.id}`);
    await this.fetchLease(s, epoch);
  }

  /** Asks the namenode for lease `epoch` on the chunk (one request at a time per epoch); NOT_PRIMARY when it is not ours. */
  private fetchLease(s: ChunkState, epoch: number): Promise<Lease> {
    if (s.fetching?.epoch === epoch) return s.fetching.promise;
    const promise = this.askLease(s, epoch).finally(() => {
      if (s.fetching?.promise === promise) s.fetching = undefined;
    });
    s.fetching = { epoch, promise };
    return promise;
  }

  private async askLease(s: ChunkState, epoch: number): Promise<Lease> {
    const sentAtMs = this.io.now();
    let r: NamenodeReplies["appendLease"];
    try {
      r = await this.io.namenode("appendLease", { chunkId: s.chunkId, epoch, dn: this.io.id }, this.limits.requestTimeoutMs);
    } catch (e) {
      const err = toWoodsError(e);
      if (!LEASE_GONE.has(err.code)) throw err;
      if (s.lease?.epoch === epoch) s.lease = undefined;
      throw notPrimary(`${this.io.id} does not hold lease epoch ${epoch} on chunk ${s.chunkId}: ${err.message}`, err);
    }
    if (r.epoch !== epoch || !r.replicas.includes(this.io.id)) {
      if (s.lease?.epoch === epoch) s.lease = undefined;
      throw notPrimary(`the namenode names lease epoch ${r.epoch} on chunk ${s.chunkId} with replicas ${r.replicas.join(", ")}; ${this.io.id} asked for epoch ${epoch}`);
    }
    const known = s.lease;
    if (known && known.epoch > epoch) throw notPrimary(`lease epoch ${epoch} on chunk ${s.chunkId} was superseded by epoch ${known.epoch}`);
    const lease: Lease = {
      epoch,
      version: r.version,
      replicas: [...r.replicas],
      replicasAtStart: known?.epoch === epoch ? known.replicasAtStart : r.replicas.length,
      sizeBytes: r.sizeBytes,
      crc: parseChecksum(r.checksum),
      chunkSizeBytes: r.chunkSizeBytes,
      expiresAtMs: sentAtMs + r.expiresInMs - leaseMarginMs(r.expiresInMs),
      unsure: false,
    };
    if (known && known.epoch === epoch) {
      // Same lease, fresh facts: update in place, a batch in flight holds this object.
      Object.assign(known, lease);
      return known;
    }
    s.lease = lease;
    this.io.log.info(
      { chunkId: s.chunkId, epoch, version: r.version, replicas: r.replicas, sizeBytes: r.sizeBytes, expiresInMs: r.expiresInMs },
      `${this.io.id} is the primary of chunk ${s.chunkId} (${r.path}) under lease epoch ${epoch}: v${r.version}, ${r.sizeBytes} bytes committed, replicas ${r.replicas.join(", ")}`,
    );
    return lease;
  }

  /**
   * Starts the next batch of the chunk unless one is running. It starts on the next turn of the
   * event loop, so records that arrived together (one read from the socket) share the batch.
   */
  private pump(s: ChunkState): void {
    if (s.busy || s.queue.length === 0) return;
    s.busy = true;
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.runNext(s))
      .catch((e) => {
        // runNext answers every record it took; anything left here is a bug in this module.
        this.io.log.error({ err: e, chunkId: s.chunkId }, `append batch on chunk ${s.chunkId} failed unexpectedly`);
        this.rejectQueued(s, () => toWoodsError(e));
      })
      .finally(() => {
        this.running.delete(run);
        s.busy = false;
        this.pump(s);
      });
    this.running.add(run);
  }

  private async runNext(s: ChunkState): Promise<void> {
    let lease = s.lease;
    if (!lease) {
      this.rejectQueued(s, () => notPrimary(`${this.io.id} no longer holds a lease on chunk ${s.chunkId}`));
      return;
    }
    // Records that named another epoch than the lease now held can no longer commit.
    const current = lease.epoch;
    this.rejectQueued(s, (p) => notPrimary(`lease epoch ${p.epoch} on chunk ${s.chunkId} was superseded by epoch ${current}`), (p) => p.epoch !== current);
    if (s.queue.length === 0) return;
    if (lease.unsure || this.io.now() >= lease.expiresAtMs) {
      try {
        lease = await this.fetchLease(s, lease.epoch);
      } catch (e) {
        const err = toWoodsError(e);
        this.io.log.warn({ chunkId: s.chunkId, epoch: current, code: err.code }, `renewing lease epoch ${current} on chunk ${s.chunkId} failed: ${err.message}`);
        this.rejectQueued(s, () => err, (p) => p.epoch === current);
        return;
      }
    }
    const batch = this.takeBatch(s, lease);
    if (batch.length > 0) await this.runBatch(s, lease, batch);
  }

  /** Takes queued records in arrival order up to the batch limit; a record that would overflow the chunk gets CHUNK_FULL. */
  private takeBatch(s: ChunkState, lease: Lease): Pending[] {
    const out: Pending[] = [];
    let bytes = 0;
    while (s.queue.length > 0) {
      const p = s.queue[0];
      const n = p.data.length;
      if (lease.sizeBytes + bytes + n > lease.chunkSizeBytes) {
        this.unqueue(s, p);
        this.settle(s, p, new WoodsError("CHUNK_FULL", `chunk ${s.chunkId} holds ${lease.sizeBytes + bytes} of ${lease.chunkSizeBytes} bytes; an append of ${n} does not fit`));
        continue;
      }
      if (out.length > 0 && bytes + n > this.batchMaxBytes) break;
      this.unqueue(s, p);
      out.push(p);
      bytes += n;
    }
    return out;
  }

  /**
   * Applies the batch on every replica, commits it and answers its clients; answers them with
   * an error when it cannot. Never throws.
   */
  private async runBatch(s: ChunkState, lease: Lease, batch: Pending[]): Promise<void> {
    const began = this.io.now();
    let records = batch;
    let uncertain = false;
    try {
      for (;;) {
        const data: Bytes = records.length === 1 ? records[0].data : Buffer.concat(records.map((r) => r.data));
        const fromBytes = lease.sizeBytes;
        const toBytes = fromBytes + data.length;
        const crc = crc32(data, lease.crc) >>> 0;
        await this.applyAll(s, lease, fromBytes, data, crc);
        const sentAtMs = this.io.now();
        const commit = await this.commit(s, lease, fromBytes, toBytes, crc, records, () => (uncertain = true));
        if (commit.applied) {
          if (commit.offsets.length !== records.length) throw new WoodsError("UNAVAILABLE", `namenode answered ${commit.offsets.length} offsets for ${records.length} appends`);
          lease.sizeBytes = toBytes;
          lease.crc = crc;
          lease.expiresAtMs = sentAtMs + commit.expiresInMs - leaseMarginMs(commit.expiresInMs);
          // A commit retried after an unknown outcome is answered as applied by the namenode only when it was this very batch.
          records.forEach((r, i) => this.settle(s, r, { offset: commit.offsets[i], sizeBytes: r.data.length, fileSizeBytes: commit.fileSizeBytes }));
          this.io.log.debug(
            { chunkId: s.chunkId, epoch: lease.epoch, version: lease.version, records: records.length, bytes: data.length, fromBytes, elapsedMs: this.io.now() - began },
            `chunk ${s.chunkId} v${lease.version}: batch of ${records.length} appends (${data.length} bytes) at ${fromBytes} committed in ${this.io.now() - began} ms; file is ${commit.fileSizeBytes} bytes`,
          );
          return;
        }
        // Appended before (retries whose first try landed): answer them, commit the rest.
        const dups = new Map(commit.duplicates.map((d) => [d.key, d]));
        for (const r of records) {
          const d = dups.get(r.key);
          // The file's size then is unknown here; the record's own end is a lower bound of it.
          if (d) this.settle(s, r, { offset: d.offset, sizeBytes: d.sizeBytes, fileSizeBytes: d.offset + d.sizeBytes });
        }
        const rest = records.filter((r) => !dups.has(r.key));
        this.io.log.debug({ chunkId: s.chunkId, duplicates: dups.size, rest: rest.length }, `chunk ${s.chunkId}: ${dups.size} appends of the batch were committed before; rewriting it without them`);
        if (rest.length === records.length) throw new WoodsError("UNAVAILABLE", `namenode named duplicates outside the batch on chunk ${s.chunkId}`);
        records = rest;
        if (records.length === 0) {
          // The committed size may have moved if an earlier attempt of this batch landed.
          if (uncertain) lease.unsure = true;
          return;
        }
      }
    } catch (e) {
      const err = toWoodsError(e);
      this.io.log.warn(
        { chunkId: s.chunkId, epoch: lease.epoch, version: lease.version, records: records.length, code: err.code, elapsedMs: this.io.now() - began },
        `chunk ${s.chunkId}: batch of ${records.length} appends failed (${err.code}): ${err.message}`,
      );
      if (s.lease === lease && err.code !== "NOT_PRIMARY") lease.unsure = true;
      for (const r of records) this.settle(s, r, err);
    }
  }

  /**
   * appendApply on every replica in parallel; replicas that fail are dropped (the namenode bumps
   * the version) and the batch is applied again to the rest, until all answer alike. Throws when
   * too few replicas remain or this node is no longer a replica.
   */
  private async applyAll(s: ChunkState, lease: Lease, offset: number, data: Bytes, crc: number): Promise<void> {
    const self = this.io.id;
    // Every round drops at least one replica, so this ends.
    for (;;) {
      const req: DatanodeRequest<"appendApply"> = { chunkId: s.chunkId, version: lease.version, epoch: lease.epoch, offset, crcBefore: lease.crc, data };
      const results = await Promise.all(
        lease.replicas.map((dn) =>
          this.io.apply(dn, req, this.limits.applyTimeoutMs).then(
            (r) => ({ dn, r, e: undefined }),
            (e: unknown) => ({ dn, r: undefined, e: toWoodsError(e) }),
          ),
        ),
      );
      const failed = results.filter((x) => x.e !== undefined || x.r.sizeBytes !== offset + data.length || x.r.crc >>> 0 !== crc);
      if (failed.length === 0) return;
      for (const f of failed) {
        const why = f.e ? `${f.e.code}: ${f.e.message}` : `answered ${f.r?.sizeBytes} bytes crc ${f.r?.crc}, expected ${offset + data.length} bytes crc ${crc}`;
        this.io.log.warn({ chunkId: s.chunkId, dn: f.dn, version: lease.version, code: f.e?.code }, `appendApply of chunk ${s.chunkId} v${lease.version} on ${f.dn} failed (${why})`);
      }
      const selfFailed = failed.find((f) => f.dn === self);
      if (selfFailed?.e?.code === "STALE") {
        // This copy has seen a newer epoch or version: another primary is at work.
        this.forget(s, lease);
        throw notPrimary(`${self}'s own copy of chunk ${s.chunkId} refused the batch: ${selfFailed.e.message}`);
      }
      const dropSentAtMs = this.io.now();
      let drop: NamenodeReplies["appendDropReplica"];
      try {
        drop = await this.io.namenode(
          "appendDropReplica",
          { chunkId: s.chunkId, epoch: lease.epoch, version: lease.version, failed: failed.map((f) => f.dn) },
          this.limits.requestTimeoutMs,
        );
      } catch (e) {
        const err = toWoodsError(e);
        if (LEASE_GONE.has(err.code)) {
          this.forget(s, lease);
          throw notPrimary(`dropping ${failed.map((f) => f.dn).join(", ")} from chunk ${s.chunkId} was refused: ${err.message}`, err);
        }
        throw new WoodsError(err.retryable ? err.code : "UNAVAILABLE", `replicas ${failed.map((f) => f.dn).join(", ")} of chunk ${s.chunkId} failed and could not be dropped: ${err.message}`, { cause: err });
      }
      this.io.log.warn(
        { chunkId: s.chunkId, failed: failed.map((f) => f.dn), version: drop.version, replicas: drop.replicas },
        `chunk ${s.chunkId} continues at v${drop.version} on ${drop.replicas.join(", ")} without ${failed.map((f) => f.dn).join(", ")}`,
      );
      lease.version = drop.version;
      lease.replicas = [...drop.replicas];
      lease.expiresAtMs = dropSentAtMs + drop.expiresInMs - leaseMarginMs(drop.expiresInMs);
      if (!drop.replicas.includes(self)) {
        this.forget(s, lease);
        throw notPrimary(`${self} is no longer a replica of chunk ${s.chunkId}`);
      }
      const floor = Math.min(this.limits.minReplicasForCommit, lease.replicasAtStart);
      if (drop.replicas.length < floor) {
        throw new WoodsError("NOT_ENOUGH_NODES", `only ${drop.replicas.length} replicas of chunk ${s.chunkId} remain (${drop.replicas.join(", ")}); ${floor} are needed`);
      }
    }
  }

  /**
   * appendCommit, retried with backoff while the lease lasts when the namenode cannot be reached
   * (it may be restarting). `onUncertain` is called once an attempt's outcome is unknown.
   */
  private async commit(
    s: ChunkState,
    lease: Lease,
    fromBytes: number,
    toBytes: number,
    crc: number,
    records: Pending[],
    onUncertain: () => void,
  ): Promise<NamenodeReplies["appendCommit"]> {
    const body: NamenodeRequest<"appendCommit"> = {
      chunkId: s.chunkId,
      epoch: lease.epoch,
      version: lease.version,
      fromBytes,
      toBytes,
      checksum: chunkChecksum(crc),
      records: records.map((r) => ({ key: r.key, sizeBytes: r.data.length })),
    };
    let delayMs = COMMIT_RETRY_BASE_MS;
    for (let attempt = 1; ; attempt++) {
      const leftMs = lease.expiresAtMs - this.io.now();
      try {
        return await this.io.namenode("appendCommit", body, Math.max(LEASE_MARGIN_MIN_MS, Math.min(this.limits.requestTimeoutMs, leftMs)));
      } catch (e) {
        const err = toWoodsError(e);
        if (LEASE_GONE.has(err.code)) {
          this.forget(s, lease);
          throw notPrimary(`commit of chunk ${s.chunkId} bytes ${fromBytes}..${toBytes} refused: ${err.message}`, err);
        }
        if (err.code !== "TIMEOUT" && err.code !== "UNAVAILABLE") throw err;
        onUncertain();
        if (this.stopped || this.io.now() + delayMs >= lease.expiresAtMs) {
          throw new WoodsError("UNAVAILABLE", `commit of chunk ${s.chunkId} bytes ${fromBytes}..${toBytes} did not reach the namenode in ${attempt} attempts before the lease ran out: ${err.message}`, { cause: err });
        }
        this.io.log.debug({ chunkId: s.chunkId, attempt, code: err.code }, `commit of chunk ${s.chunkId} failed (${err.message}); retrying in ${delayMs} ms`);
        await this.io.sleep(delayMs);
        delayMs = Math.min(delayMs * 2, COMMIT_RETRY_MAX_MS);
      }
    }
  }

  /** Forgets `lease` unless a newer one replaced it meanwhile. */
  private forget(s: ChunkState, lease: Lease): void {
    if (s.lease === lease) s.lease = undefined;
  }

  private unqueue(s: ChunkState, p: Pending): void {
    const i = s.queue.indexOf(p);
    if (i >= 0) s.queue.splice(i, 1);
    s.queuedBytes -= p.data.length;
  }

  /** Answers a record (result or error) and forgets its key as pending; results are kept for retries. */
  private settle(s: ChunkState, p: Pending, outcome: AppendReply | WoodsError): void {
    if (s.byKey.get(p.key) === p) s.byKey.delete(p.key);
    if (outcome instanceof WoodsError) {
      p.reject(outcome);
      return;
    }
    this.recent.set(p.key, outcome);
    if (this.recent.size > RECENT_RESULTS_MAX) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    p.resolve(outcome);
  }

  /** Fails queued records (those matching `which`, default all). */
  private rejectQueued(s: ChunkState, error: (p: Pending) => WoodsError, which: (p: Pending) => boolean = () => true): void {
    for (const p of [...s.queue]) {
      if (!which(p)) continue;
      this.unqueue(s, p);
      this.settle(s, p, error(p));
    }
  }

  /** Forgets chunk states with nothing queued or running whose lease has run out. */
  private sweep(): void {
    const now = this.io.now();
    for (const [id, s] of this.chunks) {
      if (s.busy || s.queue.length > 0 || s.byKey.size > 0 || s.fetching) continue;
      if (s.lease && now < s.lease.expiresAtMs) continue;
      this.chunks.delete(id);
    }
  }
}
