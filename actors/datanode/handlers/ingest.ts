/** `ingest`: copy a staged chunk from the Object Store into a local replica, verify, commit. */
import { Objm } from "@nats-io/obj";
import { WoodsError, toWoodsError, type DatanodeRequest, type DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";
import { announceStored } from "../announce.js";

const BUCKET_RE = /^[A-Za-z0-9_-]{1,256}$/;

export async function handleIngest(ctx: DatanodeContext, req: DatanodeRequest<"ingest">): Promise<DatanodeReplies["ingest"]> {
  if (!BUCKET_RE.test(req.bucket)) throw new WoodsError("BAD_REQUEST", `bucket ${JSON.stringify(req.bucket)} must match [A-Za-z0-9_-]{1,256}`);
  if (req.sizeBytes > ctx.config.chunkSizeBytes) {
    throw new WoodsError("TOO_LARGE", `sizeBytes ${req.sizeBytes} exceeds chunkSizeBytes ${ctx.config.chunkSizeBytes}`);
  }
  const held = ctx.store.get(req.chunkId, req.version);
  if (held && held.sizeBytes === req.sizeBytes && held.checksum === req.checksum) {
    // Already here (a retried ingest, or a repair to a node the namenode did not know held it):
    // succeed, and tell the namenode again so it learns the location.
    announceStored(ctx, { chunkId: held.chunkId, version: held.version, sizeBytes: held.sizeBytes, checksum: held.checksum });
    return { sizeBytes: held.sizeBytes, checksum: held.checksum };
  }
  const w = ctx.writes.add(req.chunkId, req.version, "ingest");
  let result: DatanodeReplies["ingest"] | undefined;
  let failure: unknown;
  // The whole copy runs on the write's chain so an `abort` waits for it to stop.
  w.chain = (async () => {
    try {
      result = await copyObject(ctx, req, w);
    } catch (e) {
      failure = e;
    }
  })();
  await w.chain;
  ctx.writes.detach(w);
  if (failure !== undefined || !result) {
    await w.writer?.abort();
    throw toWoodsError(failure ?? new WoodsError("NOT_FOUND", "ingest was aborted"), "IO");
  }
  announceStored(ctx, { chunkId: req.chunkId, version: req.version, ...result });
  return result;
}

async function copyObject(
  ctx: DatanodeContext,
  req: DatanodeRequest<"ingest">,
  w: { aborted: boolean; writer?: import("../store.js").ChunkWriter },
): Promise<DatanodeReplies["ingest"]> {
  let store;
  try {
    store = await new Objm(ctx.nc).open(req.bucket);
  } catch (e) {
    throw new WoodsError("NOT_FOUND", `object store bucket ${req.bucket} cannot be opened: ${(e as Error).message}`, { cause: e });
  }
  const obj = await store.get(req.object);
  if (!obj) throw new WoodsError("NOT_FOUND", `object ${req.object} is not in bucket ${req.bucket}`);
  if (obj.info.size !== req.sizeBytes) {
    await obj.data.cancel().catch(() => undefined);
    throw new WoodsError("CHECKSUM", `object ${req.object} has ${obj.info.size} bytes, ingest says ${req.sizeBytes}`);
  }
  const writer = await ctx.store.openWrite(req.chunkId, req.version, req.sizeBytes);
  w.writer = writer;
  const reader = obj.data.getReader();
  // A reader whose connection was dropped (e.g. as a slow consumer) can wait forever; without a
  // bound the write would stay open and every retry of this chunk would get EXISTS.
  const idleMs = ctx.config.client.requestTimeoutMs;
  let offset = 0;
  try {
    for (;;) {
      if (w.aborted) throw new WoodsError("NOT_FOUND", `ingest of chunk ${req.chunkId} was aborted`);
      const { value, done } = await readWithin(reader, idleMs, req.object);
      if (done) break;
      await writer.write(offset, value);
      offset += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  const streamError = await obj.error;
  if (streamError) throw new WoodsError("IO", `reading object ${req.object} failed: ${streamError.message}`, { cause: streamError });
  return writer.close(req.sizeBytes, req.checksum);
}

/** One read of the object stream, failing with TIMEOUT when no bytes arrive for `idleMs`. */
async function readWithin<T>(reader: ReadableStreamDefaultReader<T>, idleMs: number, object: string): Promise<ReadableStreamReadResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WoodsError("TIMEOUT", `no bytes of object ${object} for ${idleMs} ms`)), idleMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
