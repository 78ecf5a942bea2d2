/** `close`: end a direct write; verify length and CRC, commit durably, then answer. */
import { WoodsError, type DatanodeRequest, type DatanodeReplies } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";
import { announceStored } from "../announce.js";

export async function handleClose(ctx: DatanodeContext, req: DatanodeRequest<"close">): Promise<DatanodeReplies["close"]> {
  const w = ctx.writes.get(req.chunkId);
  if (!w || w.kind !== "direct") {
    const held = ctx.store.get(req.chunkId, req.version);
    // A retried close after a lost reply: the chunk is already committed with these exact bytes.
    if (held && held.sizeBytes === req.sizeBytes && held.checksum === req.checksum) return { sizeBytes: held.sizeBytes, checksum: held.checksum };
    throw new WoodsError("NOT_FOUND", `no open write of chunk ${req.chunkId} on ${ctx.id}`);
  }
  if (w.version !== req.version) throw new WoodsError("BAD_REQUEST", `chunk ${req.chunkId} is being written at v${w.version}, not v${req.version}`);
  ctx.writes.detach(w);
  await w.chain;
  const writer = w.writer;
  if (!writer || w.aborted) throw new WoodsError("NOT_FOUND", `write of chunk ${req.chunkId} was aborted`);
  if (w.framesWritten !== req.frames) {
    await writer.abort();
    throw new WoodsError("CHECKSUM", `chunk ${req.chunkId}: ${w.framesWritten} frames written, close says ${req.frames}`);
  }
  const result = await writer.close(req.sizeBytes, req.checksum);
  ctx.log.debug({ chunkId: req.chunkId, version: req.version, sizeBytes: result.sizeBytes }, `chunk ${req.chunkId} v${req.version} stored`);
  announceStored(ctx, { chunkId: req.chunkId, version: req.version, ...result });
  return result;
}
