/**
 * `replicate`: a repair order from the namenode to a source replica. The repair path is the
 * staged write path: verify the local replica while streaming it into Object Store bucket
 * `bucket` as object `repairId`, have every target `ingest` it in parallel, then delete the
 * object (always, success or not) and answer which targets confirmed. Exactly the bytes
 * [0, sizeBytes) of the order are copied: the last chunk of a file being appended to may hold an
 * uncommitted tail here, and the copy must match the namenode's checksum of the committed bytes.
 */
import { Objm, type ObjectStore } from "@nats-io/obj";
import { WoodsError, toWoodsError, type DatanodeRequest, type DatanodeReplies } from "../../../messages/index.js";
import { call } from "../../rpc.js";
import type { DatanodeContext } from "../context.js";

const BUCKET_RE = /^[A-Za-z0-9_-]{1,256}$/;
/**
 * Most repair jobs one datanode runs as a source at once. The namenode already bounds this
 * (`namenode.repairInflightPerNodeMax`); this only protects the node from a confused or
 * duplicated namenode: each job holds an open chunk file and an Object Store upload.
 */
export const REPLICATE_INFLIGHT_MAX = 4;
/** An ingest moves a whole chunk and fsyncs it: give it several ordinary request timeouts. */
const INGEST_TIMEOUT_FACTOR = 4;

type Reply = DatanodeReplies["replicate"];

/** Repair jobs running on this node, by repairId (a retried order joins the running job). */
export class ReplicateJobs {
  readonly running = new Map<string, Promise<Reply>>();
}

export async function handleReplicate(ctx: DatanodeContext, req: DatanodeRequest<"replicate">): Promise<Reply> {
  const jobs = ctx.replications;
  // FENCED when from an older namenode than one seen (namenode-epoch.ts).
  await ctx.fence.admit(req.epoch);
  const same = jobs.running.get(req.repairId);
  if (same) return same;
  if (!BUCKET_RE.test(req.bucket)) throw new WoodsError("BAD_REQUEST", `bucket ${JSON.stringify(req.bucket)} must match [A-Za-z0-9_-]{1,256}`);
  if (jobs.running.size >= REPLICATE_INFLIGHT_MAX) {
    throw new WoodsError("UNAVAILABLE", `${ctx.id} already runs ${jobs.running.size} repairs (at most ${REPLICATE_INFLIGHT_MAX})`);
  }
  const source = checkSource(ctx, req);
  const job = runRepair(ctx, req, source).finally(() => jobs.running.delete(req.repairId));
  jobs.running.set(req.repairId, job);
  return job;
}

/**
 * The local replica the order names, or NOT_FOUND / STALE when this node does not hold it. The
 * copy may be longer than the order (an uncommitted append tail); its first `sizeBytes` are
 * checked against the order's checksum while they are streamed.
 */
function checkSource(ctx: DatanodeContext, req: DatanodeRequest<"replicate">) {
  const held = ctx.store.get(req.chunkId, req.version);
  if (!held) {
    const other = ctx.store.get(req.chunkId);
    if (other) throw new WoodsError("STALE", `${ctx.id} holds chunk ${req.chunkId} at v${other.version}, not v${req.version}`);
    const bad = ctx.store.getCorrupt(req.chunkId, req.version) ? " (its copy here is corrupt)" : "";
    throw new WoodsError("NOT_FOUND", `${ctx.id} does not hold chunk ${req.chunkId} v${req.version}${bad}`);
  }
  if (held.sizeBytes < req.sizeBytes || (held.sizeBytes === req.sizeBytes && held.checksum !== req.checksum)) {
    throw new WoodsError("STALE", `${ctx.id} holds chunk ${req.chunkId} v${req.version} as ${held.sizeBytes} bytes ${held.checksum}, the order says ${req.sizeBytes} bytes ${req.checksum}`);
  }
  return held;
}

async function openBucket(ctx: DatanodeContext, bucket: string): Promise<ObjectStore> {
  const objm = new Objm(ctx.nc);
  try {
    return await objm.open(bucket);
  } catch {
    // Missing (or being created by someone else): create opens an existing bucket too. File storage is the default.
    ctx.log.info({ bucket }, `creating staging bucket ${bucket}`);
    return objm.create(bucket);
  }
}

async function runRepair(ctx: DatanodeContext, req: DatanodeRequest<"replicate">, source: ReturnType<typeof checkSource>): Promise<Reply> {
  const began = Date.now();
  const what = `chunk ${req.chunkId} v${req.version}`;
  ctx.log.info({ repairId: req.repairId, chunkId: req.chunkId, version: req.version, targets: req.targets }, `repair ${req.repairId}: copying ${what} to ${req.targets.join(", ")}`);
  let bucket: ObjectStore;
  try {
    bucket = await openBucket(ctx, req.bucket);
  } catch (e) {
    throw new WoodsError("UNAVAILABLE", `repair ${req.repairId}: staging bucket ${req.bucket} cannot be opened: ${(e as Error).message}`, { cause: e });
  }
  try {
    await stage(ctx, bucket, req, source);
    const settled = await Promise.all(req.targets.map((dn) => ingestOn(ctx, dn, req)));
    const reply: Reply = { confirmed: [], failed: [] };
    for (const s of settled) {
      if (s.error) reply.failed.push({ dn: s.dn, code: s.error.code, message: s.error.message });
      else reply.confirmed.push(s.dn);
    }
    const level = reply.failed.length === 0 ? "info" : "warn";
    ctx.log[level](
      { repairId: req.repairId, confirmed: reply.confirmed, failed: reply.failed, elapsedMs: Date.now() - began },
      `repair ${req.repairId}: ${what} copied to ${reply.confirmed.join(", ") || "no target"}` +
        (reply.failed.length ? `; failed on ${reply.failed.map((f) => `${f.dn} (${f.code})`).join(", ")}` : "") +
        ` in ${Date.now() - began} ms`,
    );
    return reply;
  } finally {
    // Deleted whatever happened: a partial upload is purged by the Object Store itself, a complete one here.
    await bucket.delete(req.repairId).catch((e) => ctx.log.warn({ err: e, repairId: req.repairId }, `repair ${req.repairId}: could not delete staged object`));
  }
}

/** Streams the verified local replica into the bucket; a CHECKSUM here means the source is corrupt (already reported by the store). */
async function stage(ctx: DatanodeContext, bucket: ObjectStore, req: DatanodeRequest<"replicate">, source: ReturnType<typeof checkSource>): Promise<void> {
  const slices = ctx.store.readVerified(source, ctx.config.frameSizeBytes, { lengthBytes: req.sizeBytes, checksum: req.checksum });
  let readError: unknown;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await slices.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (e) {
        readError = e;
        controller.error(e);
      }
    },
    async cancel() {
      await slices.return(undefined);
    },
  });
  try {
    await bucket.put({ name: req.repairId, options: { max_chunk_size: ctx.config.frameSizeBytes } }, stream);
  } catch (e) {
    if (readError !== undefined) {
      const err = toWoodsError(readError, "IO");
      ctx.log.warn({ repairId: req.repairId, code: err.code }, `repair ${req.repairId}: source ${ctx.id} could not read chunk ${req.chunkId}: ${err.message}`);
      throw err;
    }
    throw new WoodsError("UNAVAILABLE", `repair ${req.repairId}: staging chunk ${req.chunkId} in ${req.bucket} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    await slices.return(undefined).catch(() => undefined);
  }
}

async function ingestOn(ctx: DatanodeContext, dn: string, req: DatanodeRequest<"replicate">): Promise<{ dn: string; error?: WoodsError }> {
  try {
    const r = await call<DatanodeReplies["ingest"]>(
      ctx.nc,
      ctx.subj.datanode(dn, "ingest"),
      { chunkId: req.chunkId, version: req.version, bucket: req.bucket, object: req.repairId, sizeBytes: req.sizeBytes, checksum: req.checksum },
      ctx.config.client.requestTimeoutMs * INGEST_TIMEOUT_FACTOR,
    );
    if (r.sizeBytes !== req.sizeBytes || r.checksum !== req.checksum) {
      return { dn, error: new WoodsError("CHECKSUM", `${dn} ingested ${r.sizeBytes} bytes ${r.checksum}, expected ${req.sizeBytes} bytes ${req.checksum}`) };
    }
    return { dn };
  } catch (e) {
    return { dn, error: toWoodsError(e, "IO") };
  }
}
