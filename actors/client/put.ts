/**
 * `put`: create → per chunk (allocate → write → commit) → complete, streaming
 * the source through at most `client.chunksInflightMax` chunk buffers.
 * Any failure abandons the file (best effort) and rethrows.
 */
import { randomUUID } from "node:crypto";
import { WoodsError, normalizePath, toWoodsError } from "../../messages/index.js";
import { chunkStream, type ByteSource } from "./chunker.js";
import { passesDeadline, realSleep, retryDelayMs } from "./retry.js";
import type { ChunkWriter, ClientContext, ReplicaFailure } from "./types.js";

/** The schema's cap on `exclude` in an allocate request. */
const EXCLUDE_MAX = 64;

export interface PutOptions {
  replication?: number;
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
  const created = await namenode("create", {
    path,
    ...(opts.replication === undefined ? {} : { replication: opts.replication }),
    clientId,
  });
  const { fileId } = created;
  log.debug({ path, fileId }, `created ${path} as ${fileId} (replication ${created.replication})`);

  // Commit needs at least this many confirmations; a file asking for fewer replicas needs only those.
  const minConfirmed = Math.min(ctx.config.client.minReplicasForCommit, created.replication);
  const inflightMax = ctx.config.client.chunksInflightMax;
  const inflight = new Set<Promise<void>>();
  let firstError: unknown = null;
  let chunkCount = 0;
  let sizeBytes = 0;

  const writeOne = async (index: number, data: Uint8Array): Promise<void> => {
    const exclude = new Set<string>();
    const policy = ctx.retryPolicy;
    const sleep = ctx.retryOptions.sleep ?? realSleep;
    const rng = ctx.retryOptions.rng ?? Math.random;
    const now = ctx.retryOptions.nowMs ?? ctx.nowMs;
    const chunkStartedMs = now();
    // The delay before the next attempt, or null when it would end past the retry deadline.
    const nextDelayMs = (attempt: number): number | null => {
      const delayMs = retryDelayMs(policy, attempt, rng());
      return passesDeadline(policy, now() - chunkStartedMs, delayMs) ? null : delayMs;
    };
    let lastFailures: ReplicaFailure[] = [];
    // The final error names the most recent replica failures, or says no nodes were offered at all.
    const giveUp = (attempts: number, confirmed: number): WoodsError => {
      if (lastFailures.length === 0) {
        return new WoodsError("NOT_ENOUGH_NODES", `chunk ${index} of ${path}: no replicas could be allocated after ${attempts} attempts`);
      }
      const why = lastFailures.map((f) => `${f.dn}: ${f.error.code} ${f.error.message}`).join("; ");
      return new WoodsError(
        "ALL_REPLICAS_FAILED",
        `chunk ${index} of ${path}: only ${confirmed} of ${minConfirmed} required replicas confirmed after ${attempts} attempts (last failures: ${why})`,
        { cause: lastFailures[0].error },
      );
    };
    for (let attempt = 1; ; attempt++) {
      if (firstError) throw new WoodsError("UNAVAILABLE", `chunk ${index} of ${path} not written: another chunk failed`);
      const excludeList = [...exclude].slice(-EXCLUDE_MAX);
      let alloc;
      try {
        alloc = await namenode("allocate", { fileId, index, ...(excludeList.length ? { exclude: excludeList } : {}) });
      } catch (e) {
        // Excluding every node that failed once may leave too few; the failures may have been passing.
        const delayMs = attempt < policy.maxAttempts ? nextDelayMs(attempt) : null;
        if (toWoodsError(e).code === "NOT_ENOUGH_NODES" && exclude.size > 0 && delayMs !== null) {
          log.warn({ path, index }, `no nodes left for chunk ${index} of ${path} after excluding ${excludeList.join(", ")}; trying them again`);
          exclude.clear();
          await sleep(delayMs);
          continue;
        }
        throw e;
      }
      if (alloc.replicas.length === 0) {
        // Defensive: the namenode should have said NOT_ENOUGH_NODES; treat it the same way.
        const delayMs = attempt < policy.maxAttempts ? nextDelayMs(attempt) : null;
        if (delayMs === null) throw giveUp(attempt, 0);
        exclude.clear();
        await sleep(delayMs);
        continue;
      }
      const result = await writeChunk({ chunkId: alloc.chunkId, version: alloc.version, replicas: alloc.replicas, data, frameSizeBytes: created.frameSizeBytes });
      if (result.confirmed.length >= minConfirmed) {
        await namenode("commit", {
          fileId,
          index,
          chunkId: alloc.chunkId,
          version: alloc.version,
          sizeBytes: result.sizeBytes,
          checksum: result.checksum,
          replicas: result.confirmed,
        });
        log.debug({ path, index, chunkId: alloc.chunkId, replicas: result.confirmed }, `chunk ${index} of ${path} committed on ${result.confirmed.join(", ")}`);
        return;
      }
      if (result.failed.length > 0) lastFailures = result.failed;
      for (const f of result.failed) exclude.add(f.dn);
      const why = result.failed.map((f) => `${f.dn}: ${f.error.code} ${f.error.message}`).join("; ");
      const delayMs = attempt < policy.maxAttempts ? nextDelayMs(attempt) : null;
      if (delayMs === null) throw giveUp(attempt, result.confirmed.length);
      log.warn(
        { path, index, chunkId: alloc.chunkId, confirmed: result.confirmed, attempt },
        `chunk ${index} of ${path} got ${result.confirmed.length} of ${minConfirmed} required confirmations (${why}); allocating again in ${delayMs} ms`,
      );
      await sleep(delayMs);
    }
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
