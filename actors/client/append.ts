/**
 * `append`: adds bytes to the end of a complete file exactly once (docs/append.md).
 * Small records go in place to the file's last chunk through its primary replica
 * (tail mode); large ones, or ones that do not fit, are written as new chunks and
 * attached at the end in one step (chunks mode). One idempotency key per append,
 * the same on every retry, so a retry after a lost reply or a namenode crash
 * returns the original result instead of appending again.
 */
import { randomUUID } from "node:crypto";
import { WoodsError, normalizePath, toWoodsError, type AppendLocateReply, type DatanodeReplies } from "../../messages/index.js";
import { call } from "../rpc.js";
import { chunkStream, type ByteSource } from "./chunker.js";
import { passesDeadline, realSleep, retryDelayMs } from "./retry.js";
import { storeChunk, type StoredChunk } from "./store-chunk.js";
import type { ChunkWriter, ClientContext, ProgressListener } from "./types.js";

export interface AppendOptions {
  /** Idempotency key (default: a fresh uuid). Reusing one returns the first append's result. */
  key?: string;
  /**
   * Called with the bytes stored so far: per chunk written in chunks mode, once at the end
   * otherwise (a record in tail mode is one message). No total: the source's size is not known here.
   */
  onProgress?: ProgressListener;
}

export interface AppendResult {
  path: string;
  /** Offset in the file of the appended bytes' first byte. */
  offset: number;
  size: number;
  /** `tail` (in place in the last chunk), `chunks` (new chunks), `done` (the key was appended before), `empty`. */
  mode: "tail" | "chunks" | "done" | "empty";
  ms: number;
}

type ChunksLocation = Extract<AppendLocateReply, { mode: "chunks" }>;
type TailLocation = Extract<AppendLocateReply, { mode: "tail" }>;

/**
 * The last tail location that worked, per connection and path: the next append to the same file
 * goes straight to that primary, skipping a namenode round trip. Any error drops it (the retry
 * locates afresh), and exactly-once does not depend on it: the primary and the namenode's commit
 * recognise a key appended before.
 */
const tailCache = new WeakMap<ClientContext, Map<string, TailLocation>>();
const TAIL_CACHE_MAX = 1024;

function cachedTail(ctx: ClientContext): Map<string, TailLocation> {
  let m = tailCache.get(ctx);
  if (!m) tailCache.set(ctx, (m = new Map()));
  return m;
}

/**
 * Forgets the cached tail location of `path` (after this client renamed or removed it), so the
 * next append to that path asks the namenode rather than reaching the moved file's primary.
 */
export function forgetTail(ctx: ClientContext, path: string): void {
  tailCache.get(ctx)?.delete(path);
}

/** Appends `source` to `remote`; NOT_FOUND when it does not exist. */
export async function append(ctx: ClientContext, writeChunk: ChunkWriter, source: ByteSource, remote: string, opts: AppendOptions = {}): Promise<AppendResult> {
  const path = normalizePath(remote);
  const key = opts.key ?? randomUUID();
  const startedMs = ctx.nowMs();
  const tailMax = ctx.config.client.appendTailMaxBytes;
  let reported = 0;
  const progress = (bytes: number): void => {
    reported += bytes;
    opts.onProgress?.(reported);
  };
  const done = (r: { offset: number; sizeBytes: number }, mode: AppendResult["mode"]): AppendResult => {
    // Tail mode (and a key appended before) reports everything at once, at the end.
    if (r.sizeBytes > reported) progress(r.sizeBytes - reported);
    const ms = ctx.nowMs() - startedMs;
    ctx.log.debug({ path, key, offset: r.offset, sizeBytes: r.sizeBytes, mode, ms }, `appended ${r.sizeBytes} bytes to ${path} at ${r.offset} (${mode})`);
    return { path, offset: r.offset, size: r.sizeBytes, mode, ms };
  };

  // Read just enough to know whether this is a small record (one message) or a stream.
  const it = toBuffers(source)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes <= tailMax) {
    const n = await it.next();
    if (n.done) {
      ended = true;
      break;
    }
    head.push(n.value);
    headBytes += n.value.length;
  }
  if (ended) {
    const data = head.length === 1 ? head[0] : Buffer.concat(head, headBytes);
    if (data.length === 0) {
      const st = await ctx.namenode("stat", { path });
      return done({ offset: st.size, sizeBytes: 0 }, "empty");
    }
    return tail(ctx, writeChunk, path, key, data, done, progress);
  }
  const rest: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => it,
  };
  const whole = (async function* () {
    yield* head;
    yield* rest;
  })();
  const loc = await ctx.namenode("appendLocate", { path, key, sizeBytes: Number.MAX_SAFE_INTEGER });
  if (loc.mode === "done") return done(loc, "done");
  if (loc.mode !== "chunks") throw new WoodsError("INTERNAL", `namenode answered ${loc.mode} for an append larger than ${tailMax} bytes`);
  return done(await appendChunks(ctx, writeChunk, path, key, whole, loc, progress), "chunks");
}

/** Tail mode, falling back to chunks mode when the namenode or the primary says so. */
async function tail(
  ctx: ClientContext,
  writeChunk: ChunkWriter,
  path: string,
  key: string,
  data: Buffer,
  done: (r: { offset: number; sizeBytes: number }, mode: AppendResult["mode"]) => AppendResult,
  progress: (bytes: number) => void,
): Promise<AppendResult> {
  const policy = ctx.retryPolicy;
  const sleep = ctx.retryOptions.sleep ?? realSleep;
  const rng = ctx.retryOptions.rng ?? Math.random;
  const now = ctx.retryOptions.nowMs ?? ctx.nowMs;
  const startedMs = now();
  let full: string | undefined;
  let lastError: WoodsError | undefined;
  const cache = cachedTail(ctx);
  for (let attempt = 1; ; attempt++) {
    const cached = attempt === 1 ? cache.get(path) : undefined;
    const loc = cached ?? (await ctx.namenode("appendLocate", { path, key, sizeBytes: data.length, ...(full ? { full } : {}) }));
    if (loc.mode === "done") return done(loc, "done");
    if (loc.mode === "chunks") return done(await appendChunks(ctx, writeChunk, path, key, [data], loc, progress), "chunks");
    try {
      const r = await call<DatanodeReplies["append"]>(
        ctx.nc,
        ctx.subj.datanode(loc.primary, "append"),
        { chunkId: loc.chunkId, epoch: loc.epoch, key, data },
        ctx.config.client.requestTimeoutMs,
      );
      if (cache.size >= TAIL_CACHE_MAX && !cache.has(path)) cache.delete(cache.keys().next().value!);
      cache.set(path, loc);
      return done(r, "tail");
    } catch (e) {
      cache.delete(path);
      const err = toWoodsError(e);
      lastError = err;
      if (cached) continue; // a stale cached location: locate afresh at once
      if (err.code === "CHUNK_FULL") {
        // The record does not fit behind what the primary already holds: move it whole to a new chunk.
        full = loc.chunkId;
        continue;
      }
      if (!err.retryable) throw err;
      const delayMs = attempt < policy.maxAttempts ? retryDelayMs(policy, attempt, rng()) : null;
      if (delayMs === null || passesDeadline(policy, now() - startedMs, delayMs)) {
        throw new WoodsError(err.code, `append to ${path} failed after ${attempt} attempts: ${err.message}`, { cause: lastError, retryable: err.retryable });
      }
      ctx.log.warn(
        { path, key, primary: loc.primary, code: err.code, attempt },
        `append to ${path} via primary ${loc.primary} failed with ${err.code} (attempt ${attempt}); retrying in ${delayMs} ms: ${err.message}`,
      );
      await sleep(delayMs);
    }
  }
}

/** Chunks mode: write the bytes as new chunks, then attach them to the end of the file in one step. */
async function appendChunks(
  ctx: ClientContext,
  writeChunk: ChunkWriter,
  path: string,
  key: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  loc: ChunksLocation,
  progress: (bytes: number) => void = () => undefined,
): Promise<{ offset: number; sizeBytes: number }> {
  const minConfirmed = Math.min(ctx.config.client.minReplicasForCommit, loc.replication);
  const inflightMax = ctx.config.client.chunksInflightMax;
  const stored: StoredChunk[] = [];
  const inflight = new Set<Promise<void>>();
  let firstError: unknown = null;
  let index = 0;
  const track = (i: number, data: Uint8Array) => {
    const p: Promise<void> = storeChunk(ctx, writeChunk, {
      label: `appended chunk ${i} of ${path}`,
      data,
      frameSizeBytes: loc.frameSizeBytes,
      minConfirmed,
      allocate: (exclude) => ctx.namenode("appendAllocate", { path, ...(exclude.length ? { exclude } : {}) }),
      stopped: () => firstError !== null,
    })
      .then((s) => {
        stored[i] = s;
        progress(s.sizeBytes);
      })
      .catch((e) => {
        firstError ??= e;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  for await (const chunk of chunkStream(source as AsyncIterable<Uint8Array>, loc.chunkSizeBytes)) {
    track(index++, chunk);
    while (inflight.size >= inflightMax && !firstError) await Promise.race(inflight);
    if (firstError) break;
  }
  await Promise.all(inflight);
  // Chunks written but never attached are orphans: the namenode has them deleted after its grace period.
  if (firstError) throw firstError;
  const r = await ctx.namenode("appendChunks", {
    path,
    key,
    chunks: stored.map((s) => ({ chunkId: s.chunkId, version: s.version, sizeBytes: s.sizeBytes, checksum: s.checksum, replicas: s.replicas })),
  });
  return { offset: r.offset, sizeBytes: r.sizeBytes };
}

async function* toBuffers(source: ByteSource): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    if (typeof piece === "string") yield Buffer.from(piece, "utf8");
    else if (piece.length > 0) yield Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
  }
}
