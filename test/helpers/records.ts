/**
 * Self-describing append records, so a test can read a file back and prove that every
 * acknowledged append is there exactly once, whole and contiguous:
 *
 *   "WREC" | u32 total length | u16 writer | u32 seq | payload | first 8 bytes of SHA-256(header..payload)
 *
 * `parseRecords` walks the file from byte 0; any gap, padding, tear or interleaving breaks the walk.
 */
import { createHash } from "node:crypto";
import { WoodsClient } from "../../actors/client/index.js";
import { loadConfig } from "../../config/index.js";
import { seededBytes, credsFor, type ConfigTree } from "./cluster.js";

const MAGIC = Buffer.from("WREC", "latin1");
const HEADER_BYTES = 4 + 4 + 2 + 4;
const TRAILER_BYTES = 8;
export const RECORD_OVERHEAD_BYTES = HEADER_BYTES + TRAILER_BYTES;

export function encodeRecord(writer: number, seq: number, payloadBytes: number): Buffer {
  const total = HEADER_BYTES + payloadBytes + TRAILER_BYTES;
  const out = Buffer.alloc(total);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(total, 4);
  out.writeUInt16LE(writer, 8);
  out.writeUInt32LE(seq, 10);
  seededBytes(payloadBytes, writer * 1_000_003 + seq).copy(out, HEADER_BYTES);
  createHash("sha256").update(out.subarray(0, total - TRAILER_BYTES)).digest().copy(out, total - TRAILER_BYTES, 0, TRAILER_BYTES);
  return out;
}

export interface ParsedRecord {
  writer: number;
  seq: number;
  offset: number;
  size: number;
}

/** Walks `data` record by record; throws at the first byte that is not a whole, intact record. */
export function parseRecords(data: Buffer): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let at = 0;
  while (at < data.length) {
    if (data.length - at < HEADER_BYTES + TRAILER_BYTES || !data.subarray(at, at + 4).equals(MAGIC)) {
      throw new Error(`no record header at offset ${at} (file is ${data.length} bytes)`);
    }
    const total = data.readUInt32LE(at + 4);
    if (total < HEADER_BYTES + TRAILER_BYTES || at + total > data.length) throw new Error(`record at ${at} claims ${total} bytes, past the end`);
    const digest = createHash("sha256").update(data.subarray(at, at + total - TRAILER_BYTES)).digest().subarray(0, TRAILER_BYTES);
    if (!digest.equals(data.subarray(at + total - TRAILER_BYTES, at + total))) throw new Error(`record at ${at} is torn or damaged (hash mismatch)`);
    out.push({ writer: data.readUInt16LE(at + 8), seq: data.readUInt32LE(at + 10), offset: at, size: total });
    at += total;
  }
  return out;
}

export interface AppendOutcome {
  writer: number;
  seq: number;
  size: number;
  /** Offset the append was acknowledged at; undefined when it failed (its outcome is unknown). */
  offset?: number;
  error?: string;
}

/** Sizes for a record's payload: mostly small, some large enough to need new chunks. */
export type SizeFn = (writer: number, seq: number) => number;

/**
 * `writers` clients (each its own NATS connection) append records to `path` one after another,
 * `perWriter` each or until stop(). Every outcome is recorded.
 */
export async function startAppenders(opts: {
  url: string;
  config?: ConfigTree;
  path: string;
  writers: number;
  perWriter: number;
  size: SizeFn;
}): Promise<{ outcomes: AppendOutcome[]; done: Promise<void>; stop(): Promise<void>; close(): Promise<void> }> {
  const config = loadConfig({ env: {}, overrides: { ...(opts.config ?? {}), nats: { url: opts.url, creds: credsFor(opts.url, "client") ?? "" }, log: { level: "silent" } } as never });
  const clients = await Promise.all(Array.from({ length: opts.writers }, (_, i) => WoodsClient.connect(config, { name: `appender-${i}` })));
  const outcomes: AppendOutcome[] = [];
  let stopped = false;
  const done = Promise.all(
    clients.map(async (c, writer) => {
      for (let seq = 0; seq < opts.perWriter && !stopped; seq++) {
        const rec = encodeRecord(writer, seq, opts.size(writer, seq));
        try {
          const r = await c.append(rec, opts.path);
          outcomes.push({ writer, seq, size: rec.length, offset: r.offset });
        } catch (e) {
          outcomes.push({ writer, seq, size: rec.length, error: (e as Error).message });
        }
      }
    }),
  ).then(() => undefined);
  return {
    outcomes,
    done,
    async stop() {
      stopped = true;
      await done;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

/**
 * Checks a file's bytes against the outcomes: the file parses as whole records; every acknowledged
 * append is there exactly once at its acknowledged offset; a failed one at most once; nothing else.
 * Returns a list of problems (empty = all good).
 */
export function checkAppended(data: Buffer, outcomes: AppendOutcome[], baseRecords: ParsedRecord[] = []): string[] {
  const problems: string[] = [];
  let parsed: ParsedRecord[];
  try {
    parsed = parseRecords(data);
  } catch (e) {
    return [(e as Error).message];
  }
  const seen = new Map<string, ParsedRecord[]>();
  for (const r of parsed) {
    const k = `${r.writer}:${r.seq}`;
    seen.set(k, [...(seen.get(k) ?? []), r]);
  }
  const known = new Set(baseRecords.map((r) => `${r.writer}:${r.seq}`));
  for (const o of outcomes) {
    const k = `${o.writer}:${o.seq}`;
    known.add(k);
    const found = seen.get(k) ?? [];
    if (o.offset !== undefined) {
      if (found.length !== 1) problems.push(`acknowledged record ${k} appears ${found.length} times`);
      else if (found[0].offset !== o.offset) problems.push(`record ${k} acknowledged at ${o.offset} but found at ${found[0].offset}`);
    } else if (found.length > 1) problems.push(`failed record ${k} appears ${found.length} times`);
  }
  for (const k of seen.keys()) if (!known.has(k)) problems.push(`record ${k} was never appended`);
  return problems;
}
