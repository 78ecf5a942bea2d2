/**
 * `get`: stat, then read each chunk in ranged slices (`readInflightMax` in
 * flight) from its replicas, failing over on error, timeout or CHECKSUM.
 * Every slice of a chunk is fetched and the chunk's whole CRC32 checked (combined
 * from the slices' own) before any of it reaches the sink, so a bad replica can be retried without emitting bad bytes; the
 * next chunk is fetched while the current one drains into the sink.
 * Failing over is immediate (no backoff: another replica is another disk), and a
 * replica that failed once in a `get` is tried last for the rest of it, so a frozen
 * datanode costs one request timeout per file, not one per chunk.
 */
import { once } from "node:events";
import type { Writable } from "node:stream";
import { crc32 } from "node:zlib";
import { WoodsError, chunkChecksum, crc32Combine, normalizePath, toWoodsError, type ChunkInfo, type DatanodeReplies } from "../../messages/index.js";
import { call } from "../rpc.js";
import type { ClientContext, ProgressListener } from "./types.js";

type ReaderContext = Pick<ClientContext, "nc" | "subj" | "config" | "log" | "namenode" | "nowMs">;

export interface GetOptions {
  /** Called as bytes reach the sink (in pieces of at most `frameSizeBytes`), with the file's size as the total. */
  onProgress?: ProgressListener;
}

export interface GetResult {
  size: number;
  ms: number;
}

/** The slices `[offset, length]` of a chunk of `sizeBytes`, each at most `sliceBytes`. */
export function slicesOf(sizeBytes: number, sliceBytes: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let offset = 0; offset < sizeBytes; offset += sliceBytes) out.push([offset, Math.min(sliceBytes, sizeBytes - offset)]);
  return out;
}

/** Writes to a stream, waiting for 'drain' when it is full; rejects if the sink errors or closes first. */
export async function writeWithBackpressure(sink: Writable, data: Uint8Array): Promise<void> {
  if (sink.destroyed || sink.writableEnded) throw new WoodsError("IO", "the output stream is closed");
  if (sink.write(data)) return;
  const ac = new AbortController();
  try {
    await Promise.race([
      once(sink, "drain", { signal: ac.signal }),
      once(sink, "error", { signal: ac.signal }).then(([e]) => {
        throw toWoodsError(e, "IO");
      }),
      once(sink, "close", { signal: ac.signal }).then(() => {
        throw new WoodsError("IO", "the output stream closed while writing");
      }),
    ]);
  } finally {
    ac.abort();
  }
}

/**
 * Reads one chunk, slices spread over `readInflightMax` workers. With `lanes` > 1 the slices are
 * dealt round robin over the first `lanes` replicas of `order` (several disks and datanodes serve one
 * chunk at once); with 1 every slice goes to the first. A replica that fails is out for the rest of
 * the pass: its slice, and every later one, goes to the next replica still in, so a pass moves forward only.
 */
async function readPass(
  ctx: ReaderContext,
  chunk: ChunkInfo,
  order: string[],
  lanes: number,
  frameSizeBytes: number,
  suspects: Set<string>,
): Promise<{ pieces: Uint8Array[]; crc: number; used: string[] }> {
  const { nc, subj, config } = ctx;
  const queue = slicesOf(chunk.size, frameSizeBytes);
  // The slices are kept as they arrived (no copy into one chunk-sized buffer), each checksummed
  // once; the chunk's CRC is combined from theirs.
  const pieces: Uint8Array[] = new Array(queue.length);
  const crcs: number[] = new Array(queue.length);
  let next = 0;
  let live = order.slice();
  const used = new Set<string>();
  const errors: string[] = [];

  const readSlice = async (index: number, offset: number, length: number): Promise<void> => {
    for (;;) {
      if (live.length === 0) {
        throw new WoodsError("ALL_REPLICAS_FAILED", `chunk ${chunk.id}: every replica failed (${errors.join("; ") || "no live replica"})`);
      }
      const dn = live[index % Math.min(lanes, live.length)];
      used.add(dn);
      try {
        const r = await call<DatanodeReplies["read"]>(
          nc,
          subj.datanode(dn, "read"),
          { chunkId: chunk.id, version: chunk.version, offset, length },
          config.client.requestTimeoutMs,
        );
        const bytes = r.data;
        if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
          throw new WoodsError("IO", `${dn} returned ${bytes instanceof Uint8Array ? bytes.length : "no"} bytes for a ${length}-byte slice at ${offset}`);
        }
        pieces[index] = bytes;
        crcs[index] = crc32(bytes) >>> 0;
        return;
      } catch (e) {
        const err = toWoodsError(e);
        suspects.add(dn);
        // Only the first worker to see this replica fail takes it out of the pass.
        if (live.includes(dn)) {
          errors.push(`${dn}: ${err.code} ${err.message}`);
          live = live.filter((x) => x !== dn);
          ctx.log.warn(
            { dn, chunkId: chunk.id, offset, code: err.code },
            `read of chunk ${chunk.id} at ${offset} from ${dn} failed (${err.message}); ${live.length > 0 ? `falling over to ${live.slice(0, lanes).join(", ")}` : "no replica left"}`,
          );
        }
      }
    }
  };

  const worker = async () => {
    while (next < queue.length) {
      const index = next++;
      const [offset, length] = queue[index];
      await readSlice(index, offset, length);
    }
  };
  const workers = Math.max(1, Math.min(config.client.readInflightMax, queue.length));
  const runs = Array.from({ length: workers }, worker);
  const settled = await Promise.allSettled(runs);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failure) throw failure.reason;
  let crc = 0;
  for (let i = 0; i < queue.length; i++) crc = crc32Combine(crc, crcs[i], queue[i][1]);
  return { pieces, crc, used: order.filter((dn) => used.has(dn)) };
}

/** `replicas` in the namenode's order, except that replicas in `suspects` go last (stable). */
export function replicaOrder(replicas: readonly string[], suspects: ReadonlySet<string>): string[] {
  return [...replicas.filter((dn) => !suspects.has(dn)), ...replicas.filter((dn) => suspects.has(dn))];
}

/**
 * Reads and verifies a whole chunk (returned as its slices, in order), trying passes that start at successive replicas until one
 * matches the checksum. `suspects` (replicas that already failed in this operation) are tried
 * last, and every replica that fails now is added to it.
 */
export async function readChunk(ctx: ReaderContext, chunk: ChunkInfo, frameSizeBytes: number, suspects: Set<string> = new Set()): Promise<Uint8Array[]> {
  if (chunk.size === 0) return [];
  const problems: string[] = [];
  const order = replicaOrder(chunk.replicas, suspects);
  // First every replica not suspected serves a share of the slices; if the assembled chunk does
  // not match its checksum (a replica holds other, self-consistent bytes), passes from one replica
  // each, starting at successive ones, find a copy that does.
  const spread = ctx.config.client.readFromAllReplicas ? order.filter((dn) => !suspects.has(dn)).length : 1;
  const passes: Array<{ from: number; lanes: number }> = spread > 1 ? [{ from: 0, lanes: spread }] : [];
  for (let first = 0; first < order.length; first++) passes.push({ from: first, lanes: 1 });
  for (const { from, lanes } of passes) {
    let pass: Awaited<ReturnType<typeof readPass>>;
    try {
      pass = await readPass(ctx, chunk, order.slice(from), lanes, frameSizeBytes, suspects);
    } catch (e) {
      // A failed pass already tried every replica from `from` on.
      problems.push((e as Error).message);
      break;
    }
    const got = chunkChecksum(pass.crc);
    if (got === chunk.checksum) return pass.pieces;
    const msg = `data from ${pass.used.join(", ")} has ${got}, the namenode recorded ${chunk.checksum}`;
    problems.push(msg);
    // A mixed pass cannot say which replica was wrong; single-replica passes can.
    if (lanes === 1) for (const dn of pass.used) suspects.add(dn);
    ctx.log.warn({ chunkId: chunk.id, replicas: pass.used }, `chunk ${chunk.id} failed its checksum: ${msg}; trying ${lanes > 1 ? "one replica at a time" : "another replica"}`);
  }
  throw new WoodsError(
    "ALL_REPLICAS_FAILED",
    `chunk ${chunk.id} (version ${chunk.version}) could not be read from any of [${chunk.replicas.join(", ")}]: ${problems.join("; ") || "no live replica"}`,
  );
}

/** Fetches `remote` into `sink` in order, honouring backpressure. Does not end the sink. */
export async function get(ctx: ReaderContext, remote: string, sink: Writable, opts: GetOptions = {}): Promise<GetResult> {
  const path = normalizePath(remote);
  const startedMs = ctx.nowMs();
  const st = await ctx.namenode("stat", { path });
  if (st.state !== "complete") throw new WoodsError("NOT_FOUND", `${path} is still being written and cannot be read yet`);
  const frameSizeBytes = ctx.config.frameSizeBytes;
  const chunks = st.chunks;

  // Prefetch one chunk ahead: chunk k+1 is read while chunk k drains into the sink.
  const suspects = new Set<string>();
  const fetch = (k: number) => {
    const p = readChunk(ctx, chunks[k], frameSizeBytes, suspects);
    p.catch(() => {}); // observed when awaited; avoids an unhandled rejection while we are busy writing
    return p;
  };
  let size = 0;
  let nextRead = chunks.length > 0 ? fetch(0) : null;
  for (let k = 0; k < chunks.length; k++) {
    const pieces = await nextRead!;
    nextRead = k + 1 < chunks.length ? fetch(k + 1) : null;
    for (const piece of pieces) {
      await writeWithBackpressure(sink, piece);
      size += piece.length;
      opts.onProgress?.(size, st.size);
    }
  }
  if (size !== st.size) throw new WoodsError("INTERNAL", `${path}: chunks add up to ${size} bytes but the file is ${st.size} bytes`);
  const ms = ctx.nowMs() - startedMs;
  ctx.log.debug({ path, size, ms }, `fetched ${path}: ${size} bytes in ${ms} ms`);
  return { size, ms };
}
