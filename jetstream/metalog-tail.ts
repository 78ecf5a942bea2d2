/**
 * A standby namenode's view of the metadata log: it follows the stream as the active namenode
 * appends (an ordered consumer that never ends), and at takeover it claims the log by appending
 * its epoch entry with the expected last sequence, catching up again whenever the old writer
 * slipped one more batch in first.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, DeliverPolicy, JetStreamApiError, JetStreamApiCodes } from "@nats-io/jetstream";
import { encode, WoodsError, type LogBatch, type LogEntry, type Subjects } from "../messages/index.js";
import { parseBatch, metaLogBounds, replayMetaLog, type LogSink } from "./metalog.js";

export interface MetaLogTail {
  /** Sequence of the last batch applied. */
  readonly lastSeq: number;
  /** Stops following; resolves once no more batches will be delivered. */
  stop(): Promise<void>;
}

/**
 * Delivers every batch after `afterSeq`, in order, as it is appended, until `stop()`. A gap (the
 * messages after `afterSeq` were purged) or an unreadable batch calls `onError` and ends the tail:
 * the caller starts over from a snapshot. The ordered consumer recreates itself after a server or
 * leader change.
 */
export async function tailMetaLog(
  nc: NatsConnection,
  subj: Subjects,
  afterSeq: number,
  onBatch: (batch: LogBatch, seq: number) => void,
  onError: (err: Error) => void,
): Promise<MetaLogTail> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(subj.metaStream(), {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: afterSeq + 1,
    filter_subjects: subj.metaLog(),
  });
  const messages = await consumer.consume({ max_messages: 1024 });
  let lastSeq = afterSeq;
  let stopped = false;
  const done = (async () => {
    try {
      for await (const m of messages) {
        if (stopped) break;
        if (m.seq !== lastSeq + 1) throw new WoodsError("INTERNAL", `the metadata log jumped from ${lastSeq} to ${m.seq} (purged under a standby?)`);
        onBatch(parseBatch(m.data, m.seq), m.seq);
        lastSeq = m.seq;
      }
    } catch (e) {
      if (!stopped) onError(e as Error);
    }
  })();
  return {
    get lastSeq() {
      return lastSeq;
    },
    async stop() {
      stopped = true;
      await messages.close().catch(() => undefined);
      await done;
    },
  };
}

/**
 * Appends `entry` as the first batch of a new writer: catches up from `afterSeq` (calling `onBatch`
 * for what the previous writer appended meanwhile) and publishes with the expected last sequence,
 * again and again until it lands or `attempts` run out. Resolves with the sequence it landed at.
 */
export async function claimMetaLog(
  nc: NatsConnection,
  subj: Subjects,
  afterSeq: number,
  entry: () => LogEntry,
  onBatch: (batch: LogBatch, seq: number) => void,
  opts: { timeoutMs: number; attempts: number; log?: LogSink },
): Promise<number> {
  const js = jetstream(nc, { timeout: opts.timeoutMs });
  let seq = afterSeq;
  let lastError: unknown;
  for (let attempt = 0; attempt < opts.attempts; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    try {
      const bounds = await metaLogBounds(nc, subj);
      if (bounds.lastSeq > seq) {
        // seq follows each applied batch, so a replay cut short resumes after the last one applied.
        await replayMetaLog(
          nc,
          subj,
          (b, s) => {
            if (s <= seq) return;
            onBatch(b, s);
            seq = s;
          },
          { fromSeq: seq + 1 },
        );
      }
      const batch: LogBatch = { v: 1, entries: [entry()] };
      const ack = await js.publish(subj.metaLog(), encode(batch), { expect: { lastSequence: seq }, timeout: opts.timeoutMs });
      return ack.seq;
    } catch (e) {
      lastError = e;
      const raced = e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamWrongLastSequence;
      opts.log?.warn({ err: e, attempt, afterSeq: seq }, raced ? `the log moved past ${seq} while claiming it: catching up` : `claiming the log failed: ${(e as Error).message}`);
    }
  }
  throw new WoodsError("UNAVAILABLE", `could not claim the metadata log after ${opts.attempts} attempts: ${(lastError as Error)?.message}`, { cause: lastError });
}
