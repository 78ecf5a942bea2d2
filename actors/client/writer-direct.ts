/**
 * The direct write path: every frame of a chunk is published once on
 * `<prefix>.data.<chunkId>` and the broker fans it out to every replica that
 * opened the write; each replica acks each frame to our inbox. A sliding
 * window of `client.writeWindowFrames` frames bounds what is in flight.
 */
import { crc32 } from "node:zlib";
import { createInbox, headers as natsHeaders } from "@nats-io/transport-node";
import {
  FRAME_HEADERS,
  WoodsError,
  chunkChecksum,
  crcHex,
  crc32Combine,
  decode,
  toWoodsError,
  type DatanodeReplies,
  type FrameAck,
} from "../../messages/index.js";
import { call, transportError } from "../rpc.js";
import type { ChunkWriteRequest, ChunkWriteResult, ClientContext, ReplicaFailure } from "./types.js";

type WriterContext = Pick<ClientContext, "nc" | "subj" | "config" | "log">;

/** A frame sent and not yet acked by every replica still in the write. */
interface PendingFrame {
  waiting: Set<string>;
  timer: NodeJS.Timeout;
}

/** Tells a replica to drop its half-written chunk; best effort, never throws. */
export function abortReplica(ctx: WriterContext, dn: string, chunkId: string): void {
  call(ctx.nc, ctx.subj.datanode(dn, "abort"), { chunkId }, ctx.config.client.requestTimeoutMs).catch((e) => {
    ctx.log.debug({ dn, chunkId, err: e }, `abort of chunk ${chunkId} on ${dn} failed: ${(e as Error).message}`);
  });
}

/** Reads a FrameAck off the wire, or null when it is not one (ignored, never fatal). */
function parseAck(data: Uint8Array): FrameAck | null {
  try {
    const v = decode(data).value as Partial<FrameAck>;
    if (typeof v !== "object" || v === null || typeof v.dn !== "string" || typeof v.seq !== "number" || typeof v.ok !== "boolean") {
      return null;
    }
    return v as FrameAck;
  } catch {
    return null;
  }
}

/** The CRC32 of a chunk built from its frames' CRCs as they are sent, in order. */
class RunningCrc {
  private crc = 0;
  private through = 0;
  constructor(private readonly data: Uint8Array) {}

  /** CRC32 of the frame at `offset`, folded into the chunk's when it is the next one. */
  next(offset: number, frame: Uint8Array): number {
    const c = crc32(frame) >>> 0;
    if (offset === this.through) {
      this.crc = crc32Combine(this.crc, c, frame.length);
      this.through += frame.length;
    }
    return c;
  }

  /** The whole chunk's CRC32 (checksumming whatever was not sent, e.g. after every replica failed). */
  whole(): number {
    if (this.through < this.data.length) {
      const rest = this.data.subarray(this.through);
      this.crc = crc32Combine(this.crc, crc32(rest), rest.length);
      this.through = this.data.length;
    }
    return this.crc;
  }
}

/** Writes one chunk to its replicas over the broker fan-out; replicas that fail are reported, not thrown. */
export async function writeChunkDirect(ctx: WriterContext, req: ChunkWriteRequest): Promise<ChunkWriteResult> {
  const { nc, subj, config, log } = ctx;
  const { chunkId, version, data, frameSizeBytes } = req;
  const timeoutMs = config.client.requestTimeoutMs;
  const sizeBytes = data.length;
  // Each byte is checksummed once: every frame's CRC is combined into the chunk's as it is sent.
  const chunkCrc = new RunningCrc(data);
  const failed: ReplicaFailure[] = [];

  // 1. Every replica opens a temp file and subscribes to the data subject before answering.
  const opened = await Promise.all(
    req.replicas.map(async (dn) => {
      try {
        await call<DatanodeReplies["open"]>(nc, subj.datanode(dn, "open"), { chunkId, version, maxSizeBytes: sizeBytes }, timeoutMs);
        return dn;
      } catch (e) {
        failed.push({ dn, error: toWoodsError(e) });
        log.warn({ dn, chunkId, err: e }, `${dn} could not open chunk ${chunkId}: ${(e as Error).message}`);
        abortReplica(ctx, dn, chunkId);
        return null;
      }
    }),
  );
  const active = new Set(opened.filter((dn): dn is string => dn !== null));
  if (active.size === 0) return { confirmed: [], failed, checksum: chunkChecksum(chunkCrc.whole()), sizeBytes };

  // 2. Stream the frames.
  const windowFrames = config.client.writeWindowFrames;
  const ackTimeoutMs = config.client.frameAckTimeoutMs;
  const frameCount = Math.ceil(sizeBytes / frameSizeBytes);
  const pending = new Map<number, PendingFrame>();
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const settle = (seq: number) => {
    const p = pending.get(seq);
    if (!p) return;
    clearTimeout(p.timer);
    pending.delete(seq);
    notify();
  };
  const drop = (dn: string, error: WoodsError) => {
    if (!active.delete(dn)) return;
    failed.push({ dn, error });
    log.warn({ dn, chunkId, code: error.code }, `${dn} was dropped from the write of chunk ${chunkId}: ${error.message}`);
    for (const [seq, p] of pending) {
      p.waiting.delete(dn);
      if (p.waiting.size === 0) settle(seq);
    }
    abortReplica(ctx, dn, chunkId);
    notify();
  };

  const inbox = createInbox();
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err) return;
      const ack = parseAck(msg.data);
      if (!ack) {
        log.debug({ chunkId }, `ignored a malformed frame ack for chunk ${chunkId}`);
        return;
      }
      if (!ack.ok) {
        drop(ack.dn, WoodsError.fromWire(ack.error as Parameters<typeof WoodsError.fromWire>[0]));
        return;
      }
      const p = pending.get(ack.seq);
      // Late or duplicate acks (frame already settled) are harmless.
      if (!p || !p.waiting.delete(ack.dn)) return;
      if (p.waiting.size === 0) settle(ack.seq);
    },
  });

  const dataSubject = subj.data(chunkId);
  const streamStartMs = performance.now();
  try {
    for (let seq = 0; seq < frameCount && active.size > 0; seq++) {
      while (pending.size >= windowFrames && active.size > 0) await new Promise<void>((r) => (wake = r));
      if (active.size === 0) break;
      const offset = seq * frameSizeBytes;
      const frame = data.subarray(offset, Math.min(offset + frameSizeBytes, sizeBytes));
      const h = natsHeaders();
      h.set(FRAME_HEADERS.offset, String(offset));
      h.set(FRAME_HEADERS.seq, String(seq));
      h.set(FRAME_HEADERS.crc32, crcHex(chunkCrc.next(offset, frame)));
      const timer = setTimeout(() => {
        const p = pending.get(seq);
        if (!p) return;
        for (const dn of [...p.waiting]) {
          drop(dn, new WoodsError("TIMEOUT", `no ack for frame ${seq} of chunk ${chunkId} within ${ackTimeoutMs} ms`));
        }
      }, ackTimeoutMs);
      pending.set(seq, { waiting: new Set(active), timer });
      nc.publish(dataSubject, frame, { reply: inbox, headers: h });
    }
    while (pending.size > 0 && active.size > 0) await new Promise<void>((r) => (wake = r));
  } catch (e) {
    // Publishing failed (connection closed or too large): nobody can have the whole chunk.
    const err = transportError(e, dataSubject);
    for (const dn of [...active]) drop(dn, err);
  } finally {
    sub.unsubscribe();
    for (const p of pending.values()) clearTimeout(p.timer);
    pending.clear();
  }

  const checksum = chunkChecksum(chunkCrc.whole());
  const closeStartMs = performance.now();
  // 3. Survivors verify length and CRC, fsync and rename; only their answer makes a replica count.
  const closed = await Promise.all(
    [...active].map(async (dn) => {
      try {
        const r = await call<DatanodeReplies["close"]>(
          nc,
          subj.datanode(dn, "close"),
          { chunkId, version, sizeBytes, checksum, frames: frameCount },
          timeoutMs,
        );
        if (r.checksum !== checksum || r.sizeBytes !== sizeBytes) {
          throw new WoodsError("CHECKSUM", `${dn} stored ${r.sizeBytes} bytes ${r.checksum}, expected ${sizeBytes} bytes ${checksum}`);
        }
        return dn;
      } catch (e) {
        const error = toWoodsError(e);
        failed.push({ dn, error });
        log.warn({ dn, chunkId, code: error.code }, `${dn} failed to close chunk ${chunkId}: ${error.message}`);
        abortReplica(ctx, dn, chunkId);
        return null;
      }
    }),
  );
  log.debug(
    { chunkId, streamMs: Math.round(closeStartMs - streamStartMs), closeMs: Math.round(performance.now() - closeStartMs) },
    `chunk ${chunkId}: frames acked in ${Math.round(closeStartMs - streamStartMs)} ms, replicas closed in ${Math.round(performance.now() - closeStartMs)} ms`,
  );
  const confirmedSet = new Set(closed.filter((dn): dn is string => dn !== null));
  const confirmed = req.replicas.filter((dn) => confirmedSet.has(dn));
  return { confirmed, failed, checksum, sizeBytes };
}
