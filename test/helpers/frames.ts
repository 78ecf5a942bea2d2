/** Sends a direct write's frames the way the client does, for datanode tests. */
import { crc32 } from "node:zlib";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { FRAME_HEADERS, crcHex, decode, type FrameAck } from "../../messages/index.js";

/** Publishes every frame of `data` on the chunk's data subject and collects the acks, sorted by seq. */
export async function sendFrames(
  nc: NatsConnection,
  chunkId: string,
  data: Buffer,
  frameBytes: number,
  opts: { badCrcSeq?: number } = {},
): Promise<FrameAck[]> {
  const inbox = createInbox();
  const frames = Math.ceil(data.length / frameBytes);
  const acks: FrameAck[] = [];
  const done = new Promise<void>((resolve) => {
    const sub = nc.subscribe(inbox, {
      callback: (_e, m: Msg) => {
        acks.push(decode(m.data).value as FrameAck);
        if (acks.length === frames) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
  });
  for (let seq = 0; seq < frames; seq++) {
    const payload = data.subarray(seq * frameBytes, (seq + 1) * frameBytes);
    const h = headers();
    h.set(FRAME_HEADERS.offset, String(seq * frameBytes));
    h.set(FRAME_HEADERS.seq, String(seq));
    h.set(FRAME_HEADERS.crc32, seq === opts.badCrcSeq ? "deadbeef" : crcHex(crc32(payload)));
    nc.publish(`woods.data.${chunkId}`, payload, { reply: inbox, headers: h });
  }
  await Promise.race([done, new Promise((_r, rej) => setTimeout(() => rej(new Error(`only ${acks.length}/${frames} acks`)), 10_000))]);
  return acks.sort((a, b) => a.seq - b.seq);
}
