/**
 * `put`: create → per chunk (allocate → write → commit) → complete, streaming
 * the source through at most `client.chunksInflightMax` chunk buffers.
 * Any failure abandons the file (best effort) and rethrows.
 */
import { randomUUID } from "node:crypto";
import { normalizePath } from "../../messages/index.js";
import { chunkStream, type ByteSource } from "./chunker.js";
import { storeChunk } from "./store-chunk.js";
import type { ChunkWriter, ClientContext, ProgressListener } from "./types.js";

export interface PutOptions {
  replication?: number;
  /** Called after each chunk is committed with the bytes committed so far (no total: the source's size is not known here). */
  onProgress?: ProgressListener;
}

export interface PutResult {
  path: string;
  size: number;
  chunks: number;
  ms: number;
}

/** Stores `source` at `remote`; fails with EXISTS when the path is taken. */
export async function put(ctx: ClientContext, writeChunk: ChunkWriter, source: ByteSource, remote: string, opts: PutOptions = {}): Promise<PutResult> {
  const path = normalizePath(remote);
  const startedMs = ctx.nowMs();
  const { log, namenode } = ctx;
  // One clientId for the whole put: a create retried after a lost reply (namenode restart)
  // is recognised by the namenode as the same request, not a second writer (EXISTS).
  const clientId = `${ctx.nc.info?.client_id ?? "client"}-${randomUUID()}`;
  // An empty source is one request: created and completed at once.
  const replication = opts.replication === undefined ? {} : { replication: opts.replication };
  const peeked = await peekEmpty(source);
  if (peeked.empty) {
    await namenode("create", { path, ...replication, clientId, empty: true });
    const ms = ctx.nowMs() - startedMs;
    log.debug({ path, ms }, `stored ${path}: empty, in ${ms} ms`);
    return { path, size: 0, chunks: 0, ms };
  }
  source = peeked.source;
  const created = await namenode("create", { path, ...replication, clientId });
  const { fileId } = created;
  log.debug({ path, fileId }, `created ${path} as ${fileId} (replication ${created.replication})`);

  // Commit needs at least this many confirmations; a file asking for fewer replicas needs only those.
  const minConfirmed = Math.min(ctx.config.client.minReplicasForCommit, created.replication);
  const inflightMax = ctx.config.client.chunksInflightMax;
  const inflight = new Set<Promise<void>>();
  let firstError: unknown = null;
  let chunkCount = 0;
  let sizeBytes = 0;
  let committedBytes = 0;

  const writeOne = async (index: number, data: Uint8Array): Promise<void> => {
    const stored = await storeChunk(ctx, writeChunk, {
      label: `chunk ${index} of ${path}`,
      data,
      frameSizeBytes: created.frameSizeBytes,
      minConfirmed,
      allocate: (exclude) => namenode("allocate", { fileId, index, ...(exclude.length ? { exclude } : {}) }),
      stopped: () => firstError !== null,
    });
    await namenode("commit", {
      fileId,
      index,
      chunkId: stored.chunkId,
      version: stored.version,
      sizeBytes: stored.sizeBytes,
      checksum: stored.checksum,
      replicas: stored.replicas,
    });
    log.debug({ path, index, chunkId: stored.chunkId, replicas: stored.replicas }, `chunk ${index} of ${path} committed on ${stored.replicas.join(", ")}`);
    committedBytes += stored.sizeBytes;
    opts.onProgress?.(committedBytes);
  };

  const track = (index: number, data: Uint8Array) => {
    const p: Promise<void> = writeOne(index, data)
      .catch((e) => {
        firstError ??= e;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  try {
    for await (const chunk of chunkStream(source, created.chunkSizeBytes)) {
      track(chunkCount, chunk);
      chunkCount += 1;
      sizeBytes += chunk.length;
      // Wait for a free slot before reading on, so at most inflightMax chunk buffers exist.
      while (inflight.size >= inflightMax && !firstError) await Promise.race(inflight);
      if (firstError) break;
    }
    await Promise.all(inflight);
    if (firstError) throw firstError;
    await namenode("complete", { fileId, sizeBytes, chunkCount });
  } catch (e) {
    firstError ??= e;
    // Let in-flight chunks stop (they check firstError) so nothing commits after the abandon.
    await Promise.allSettled(inflight);
    await namenode("abandon", { fileId }, { retry: false }).catch((e2: Error) =>
      log.warn({ path, fileId, err: e2 }, `could not abandon ${path} (${fileId}); the namenode will expire its lease: ${e2.message}`),
    );
    throw firstError;
  }
  const ms = ctx.nowMs() - startedMs;
  log.debug({ path, sizeBytes, chunkCount, ms }, `stored ${path}: ${sizeBytes} bytes in ${chunkCount} chunks in ${ms} ms`);
  return { path, size: sizeBytes, chunks: chunkCount, ms };
}

/**
 * Reads `source` up to its first non-empty piece: `empty` when it ends before one, else a source that
 * yields that piece again and then the rest (nothing is read twice or lost).
 */
async function peekEmpty(source: ByteSource): Promise<{ empty: true } | { empty: false; source: ByteSource }> {
  const it = source[Symbol.asyncIterator]();
  for (;;) {
    const first = await it.next();
    if (first.done) return { empty: true };
    if (first.value.length === 0) continue;
    const head = first.value;
    return {
      empty: false,
      source: {
        async *[Symbol.asyncIterator]() {
          try {
            yield head;
            for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
          } finally {
            // Stopped early (an error): let the underlying source close (a file stream, stdin).
            await it.return?.();
          }
        },
      },
    };
  }
}
