/**
 * `open`: start a direct write. Opens a temp file, subscribes to `woods.data.<chunkId>` and
 * writes each frame in arrival order, acknowledging it to the frame's reply subject.
 */
import type { Msg } from "@nats-io/transport-node";
import { WoodsError, toWoodsError, encode, type DatanodeRequest, type DatanodeReplies, type FrameAck } from "../../../messages/index.js";
import type { DatanodeContext } from "../context.js";
import type { ActiveWrite } from "../writes.js";
import { frameSeqOf, parseFrameHeaders } from "../frame-headers.js";

/**
 * How many client windows of frames may wait for the disk before we nack: a well-behaved client
 * never has more than one window (`client.writeWindowFrames`) outstanding, so this only bounds
 * memory against a runaway publisher.
 */
const FRAME_QUEUE_WINDOWS = 4;

export async function handleOpen(ctx: DatanodeContext, req: DatanodeRequest<"open">): Promise<DatanodeReplies["open"]> {
  if (req.maxSizeBytes > ctx.config.chunkSizeBytes) {
    throw new WoodsError("TOO_LARGE", `maxSizeBytes ${req.maxSizeBytes} exceeds chunkSizeBytes ${ctx.config.chunkSizeBytes}`);
  }
  const previous = ctx.writes.get(req.chunkId);
  if (previous) {
    // A client that retries open (e.g. after a lost reply) starts over; the old temp file goes.
    ctx.log.info({ chunkId: req.chunkId }, `write of chunk ${req.chunkId} restarted by a new open`);
    await ctx.writes.abort(previous);
  }
  const w = ctx.writes.add(req.chunkId, req.version, "direct");
  try {
    w.writer = await ctx.store.openWrite(req.chunkId, req.version, req.maxSizeBytes);
  } catch (e) {
    ctx.writes.detach(w);
    throw e;
  }
  if (w.aborted) {
    await w.writer.abort();
    throw new WoodsError("NOT_FOUND", `write of chunk ${req.chunkId} was aborted while opening`);
  }
  // The SUB goes out on this connection before the reply, so frames sent after the reply are routed to us.
  w.sub = ctx.nc.subscribe(ctx.subj.data(req.chunkId), {
    callback: (err, msg) => {
      if (!err) onFrame(ctx, w, msg);
    },
  });
  ctx.log.debug({ chunkId: req.chunkId, version: req.version }, `write of chunk ${req.chunkId} v${req.version} opened`);
  return {};
}

function sendAck(ctx: DatanodeContext, msg: Msg, seq: number, error?: WoodsError): void {
  if (!msg.reply) return;
  const ack: FrameAck = error ? { dn: ctx.id, seq, ok: false, error: error.toWire() } : { dn: ctx.id, seq, ok: true };
  try {
    ctx.nc.publish(msg.reply, encode(ack));
  } catch (e) {
    ctx.log.debug({ err: e }, "could not send a frame ack");
  }
}

function onFrame(ctx: DatanodeContext, w: ActiveWrite, msg: Msg): void {
  ctx.writes.touch(w);
  let meta: ReturnType<typeof parseFrameHeaders>;
  try {
    meta = parseFrameHeaders(msg.headers);
  } catch (e) {
    sendAck(ctx, msg, frameSeqOf(msg.headers), toWoodsError(e));
    return;
  }
  const limit = FRAME_QUEUE_WINDOWS * ctx.config.client.writeWindowFrames;
  if (w.framesQueued >= limit) {
    sendAck(ctx, msg, meta.seq, new WoodsError("UNAVAILABLE", `more than ${limit} frames of chunk ${w.chunkId} are waiting for the disk`));
    return;
  }
  w.framesQueued++;
  const data = msg.data;
  w.chain = w.chain.then(async () => {
    w.framesQueued--;
    try {
      if (w.aborted || !w.writer) throw new WoodsError("NOT_FOUND", `write of chunk ${w.chunkId} was aborted`);
      // Checked here, just before the write, so the bytes written are the bytes checked; the
      // block checksums of the chunk file come from the same single pass over the bytes.
      const measured = w.writer.measure(data);
      if (measured.crc !== meta.crc32) {
        throw new WoodsError("CHECKSUM", `frame ${meta.seq} of chunk ${w.chunkId} has CRC32 ${measured.crc.toString(16)}, header says ${meta.crc32.toString(16)}`);
      }
      await w.writer.write(meta.offset, data, measured);
      w.framesWritten++;
      sendAck(ctx, msg, meta.seq);
    } catch (e) {
      const err = toWoodsError(e, "IO");
      if (err.code !== "CHECKSUM" && err.code !== "BAD_REQUEST") {
        ctx.log.warn({ chunkId: w.chunkId, code: err.code }, `frame ${meta.seq} of chunk ${w.chunkId} failed: ${err.message}`);
      }
      sendAck(ctx, msg, meta.seq, err);
    }
  });
}
