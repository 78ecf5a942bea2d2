/**
 * Stores one chunk's bytes on freshly allocated replicas, allocating again (excluding the nodes that
 * failed) until enough replicas confirm or the retry policy gives up. Shared by `put` (allocate +
 * commit per index) and `append` (new chunks attached at the end of a file).
 */
import { WoodsError, toWoodsError } from "../../messages/index.js";
import { passesDeadline, realSleep, retryDelayMs } from "./retry.js";
import type { ChunkWriter, ClientContext, ReplicaFailure } from "./types.js";

/** The schema's cap on `exclude` in an allocate request. */
const EXCLUDE_MAX = 64;

export interface Allocation {
  chunkId: string;
  version: number;
  replicas: string[];
}

/** A chunk stored on enough replicas, ready to be committed or attached. */
export interface StoredChunk {
  chunkId: string;
  version: number;
  sizeBytes: number;
  checksum: string;
  /** Replicas that confirmed it, in allocation order. */
  replicas: string[];
}

export interface StoreChunkOptions {
  /** For messages, e.g. `chunk 3 of /a`. */
  label: string;
  data: Uint8Array;
  frameSizeBytes: number;
  /** Fewest confirmations that make the chunk stored. */
  minConfirmed: number;
  /** Asks the namenode for a chunk and its replicas, avoiding `exclude`. */
  allocate: (exclude: string[]) => Promise<Allocation>;
  /** True when the caller has given up (another chunk failed): stop before the next attempt. */
  stopped?: () => boolean;
}

export async function storeChunk(ctx: ClientContext, writeChunk: ChunkWriter, o: StoreChunkOptions): Promise<StoredChunk> {
  const { log } = ctx;
  const exclude = new Set<string>();
  const policy = ctx.retryPolicy;
  const sleep = ctx.retryOptions.sleep ?? realSleep;
  const rng = ctx.retryOptions.rng ?? Math.random;
  const now = ctx.retryOptions.nowMs ?? ctx.nowMs;
  const startedMs = now();
  // The delay before the next attempt, or null when it would end past the retry deadline.
  const nextDelayMs = (attempt: number): number | null => {
    if (attempt >= policy.maxAttempts) return null;
    const delayMs = retryDelayMs(policy, attempt, rng());
    return passesDeadline(policy, now() - startedMs, delayMs) ? null : delayMs;
  };
  let lastFailures: ReplicaFailure[] = [];
  // The final error names the most recent replica failures, or says no nodes were offered at all.
  const giveUp = (attempts: number, confirmed: number): WoodsError => {
    if (lastFailures.length === 0) {
      return new WoodsError("NOT_ENOUGH_NODES", `${o.label}: no replicas could be allocated after ${attempts} attempts`);
    }
    const why = lastFailures.map((f) => `${f.dn}: ${f.error.code} ${f.error.message}`).join("; ");
    return new WoodsError(
      "ALL_REPLICAS_FAILED",
      `${o.label}: only ${confirmed} of ${o.minConfirmed} required replicas confirmed after ${attempts} attempts (last failures: ${why})`,
      { cause: lastFailures[0].error },
    );
  };
  for (let attempt = 1; ; attempt++) {
    if (o.stopped?.()) throw new WoodsError("UNAVAILABLE", `${o.label} not written: another chunk failed`);
    const excludeList = [...exclude].slice(-EXCLUDE_MAX);
    let alloc: Allocation;
    try {
      alloc = await o.allocate(excludeList);
    } catch (e) {
      // Excluding every node that failed once may leave too few; the failures may have been passing.
      const delayMs = nextDelayMs(attempt);
      if (toWoodsError(e).code === "NOT_ENOUGH_NODES" && exclude.size > 0 && delayMs !== null) {
        log.warn({ label: o.label }, `no nodes left for ${o.label} after excluding ${excludeList.join(", ")}; trying them again`);
        exclude.clear();
        await sleep(delayMs);
        continue;
      }
      throw e;
    }
    if (alloc.replicas.length === 0) {
      // Defensive: the namenode should have said NOT_ENOUGH_NODES; treat it the same way.
      const delayMs = nextDelayMs(attempt);
      if (delayMs === null) throw giveUp(attempt, 0);
      exclude.clear();
      await sleep(delayMs);
      continue;
    }
    const result = await writeChunk({ chunkId: alloc.chunkId, version: alloc.version, replicas: alloc.replicas, data: o.data, frameSizeBytes: o.frameSizeBytes });
    if (result.confirmed.length >= o.minConfirmed) {
      return { chunkId: alloc.chunkId, version: alloc.version, sizeBytes: result.sizeBytes, checksum: result.checksum, replicas: result.confirmed };
    }
    if (result.failed.length > 0) lastFailures = result.failed;
    for (const f of result.failed) exclude.add(f.dn);
    const why = result.failed.map((f) => `${f.dn}: ${f.error.code} ${f.error.message}`).join("; ");
    const delayMs = nextDelayMs(attempt);
    if (delayMs === null) throw giveUp(attempt, result.confirmed.length);
    log.warn(
      { label: o.label, chunkId: alloc.chunkId, confirmed: result.confirmed, attempt },
      `${o.label} got ${result.confirmed.length} of ${o.minConfirmed} required confirmations (${why}); allocating again in ${delayMs} ms`,
    );
    await sleep(delayMs);
  }
}
