/**
 * Progress reports of put, get and append (`onProgress`), without a terminal: a fake
 * namenode and a fake connection answer, and the reported bytes must grow and add up.
 */
import test from "ava";
import { crc32 } from "node:zlib";
import { Writable } from "node:stream";
import { pino } from "pino";
import { loadDefaults, configSchema, type WoodsConfig } from "../../config/index.js";
import { chunkChecksum, decode, encode, subjects, type NamenodeVerb } from "../../messages/index.js";
import { put } from "../../actors/client/put.js";
import { get } from "../../actors/client/get.js";
import { append } from "../../actors/client/append.js";
import type { ChunkWriteRequest, ChunkWriteResult, ClientContext, NamenodeCall } from "../../actors/client/types.js";

interface Report {
  done: number;
  total?: number;
}

function context(namenode: NamenodeCall, over: Partial<WoodsConfig> = {}, nc: Partial<ClientContext["nc"]> = {}): ClientContext {
  const base = configSchema.parse(loadDefaults());
  const config: WoodsConfig = { ...base, ...over, client: { ...base.client, ...over.client, retry: { ...base.client.retry, baseDelayMs: 1, maxDelayMs: 2 } } };
  return {
    nc: nc as ClientContext["nc"],
    subj: subjects("woods"),
    config,
    log: pino({ level: "silent" }),
    namenode,
    retryPolicy: config.client.retry,
    retryOptions: { sleep: async () => {}, rng: () => 0 },
    nowMs: () => 0,
  };
}

const allConfirm = (req: ChunkWriteRequest): Promise<ChunkWriteResult> =>
  Promise.resolve({ confirmed: req.replicas, failed: [], checksum: "crc32:00000000", sizeBytes: req.data.length });

async function* bytes(n: number, piece = 3): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < n; at += piece) yield new Uint8Array(Math.min(piece, n - at)).fill(at & 0xff);
}

/** Reports grow strictly, never pass the size, and the last one is the whole size. */
function assertAddsUp(t: import("ava").ExecutionContext, reports: Report[], size: number, total?: number): void {
  t.true(reports.length > 0, "at least one report");
  for (let i = 1; i < reports.length; i++) t.true(reports[i].done > reports[i - 1].done, `report ${i} grows`);
  t.true(reports.every((r) => r.done <= size));
  t.is(reports.at(-1)?.done, size);
  t.true(reports.every((r) => r.total === total));
}

test("put reports the committed bytes after each chunk, ending at the file size", async (t) => {
  let seq = 0;
  const namenode = (async (verb: NamenodeVerb, body: Record<string, unknown>) => {
    if (verb === "create") return { fileId: "f1", path: body.path, replication: 3, chunkSizeBytes: 10, frameSizeBytes: 4, leaseMs: 60000 };
    if (verb === "allocate") return { chunkId: `c${seq++}`, version: 1, replicas: ["dn1", "dn2", "dn3"] };
    if (verb === "complete") return { path: "/a", size: body.sizeBytes };
    return {};
  }) as unknown as NamenodeCall;
  const reports: Report[] = [];
  const r = await put(context(namenode), allConfirm, bytes(47), "/a", { onProgress: (done, total) => reports.push({ done, total }) });
  t.is(r.size, 47);
  t.is(reports.length, 5, "one report per chunk");
  assertAddsUp(t, reports, 47);
});

test("get reports bytes as they reach the sink in frame-sized pieces, with the file size as the total", async (t) => {
  const file = Buffer.from(Array.from({ length: 23 }, (_, i) => (i * 7) & 0xff));
  const chunks = [file.subarray(0, 10), file.subarray(10, 20), file.subarray(20)];
  const namenode = (async (verb: NamenodeVerb) => {
    if (verb !== "stat") throw new Error(`unexpected ${verb}`);
    return {
      path: "/g",
      size: file.length,
      replication: 1,
      state: "complete",
      ctimeMs: 0,
      mtimeMs: 0,
      chunks: chunks.map((c, i) => ({ id: `c${i}`, version: 1, size: c.length, checksum: chunkChecksum(crc32(c)), replicas: ["dn1"] })),
    };
  }) as unknown as NamenodeCall;
  // A datanode on a fake connection: `read {chunkId, offset, length}` answers from `chunks`.
  const nc = {
    request: async (_subject: string, data: Uint8Array) => {
      const req = decode(data).value as { chunkId: string; offset: number; length: number };
      const c = chunks[Number(req.chunkId.slice(1))];
      const slice = c.subarray(req.offset, req.offset + req.length);
      return { data: encode({ ok: true, data: slice, sizeBytes: slice.length }), headers: undefined };
    },
  } as unknown as Partial<ClientContext["nc"]>;
  const got: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got.push(Buffer.from(chunk));
      cb();
    },
  });
  const reports: Report[] = [];
  const r = await get(context(namenode, { frameSizeBytes: 4 }, nc), "/g", sink, { onProgress: (done, total) => reports.push({ done, total }) });
  t.is(r.size, file.length);
  t.deepEqual(Buffer.concat(got), file);
  t.is(reports.length, 7, "pieces of 4, 4, 2 per 10-byte chunk and one of 3");
  assertAddsUp(t, reports, file.length, file.length);
});

test("an append in chunks mode reports each stored chunk; a tail append reports once; both end at the appended size", async (t) => {
  let seq = 0;
  const attached: number[] = [];
  const namenode = (async (verb: NamenodeVerb, body: Record<string, unknown>) => {
    switch (verb) {
      case "appendLocate":
        return (body.sizeBytes as number) > 8
          ? { mode: "chunks", fileId: "f1", replication: 2, chunkSizeBytes: 10, frameSizeBytes: 4 }
          : { mode: "tail", fileId: "f1", chunkId: "t1", version: 1, epoch: 1, primary: "dn1", replicas: ["dn1", "dn2"] };
      case "appendAllocate":
        return { fileId: "f1", chunkId: `a${seq++}`, version: 1, replicas: ["dn1", "dn2"] };
      case "appendChunks": {
        const size = (body.chunks as { sizeBytes: number }[]).reduce((n, c) => n + c.sizeBytes, 0);
        attached.push(size);
        return { offset: 100, sizeBytes: size, fileSizeBytes: 100 + size };
      }
      default:
        throw new Error(`unexpected ${verb}`);
    }
  }) as unknown as NamenodeCall;
  // The tail primary on a fake connection.
  const nc = {
    info: { client_id: 1 },
    request: async (_subject: string, data: Uint8Array) => {
      const req = decode(data).value as { data: Uint8Array };
      return { data: encode({ ok: true, offset: 5, sizeBytes: req.data.length, fileSizeBytes: 5 + req.data.length }), headers: undefined };
    },
  } as unknown as Partial<ClientContext["nc"]>;
  const base = configSchema.parse(loadDefaults());
  const ctx = context(namenode, { client: { ...base.client, appendTailMaxBytes: 8 } }, nc);

  const big: Report[] = [];
  const r1 = await append(ctx, allConfirm, bytes(33), "/log", { onProgress: (done, total) => big.push({ done, total }) });
  t.like(r1, { mode: "chunks", size: 33, offset: 100 });
  t.deepEqual(attached, [33]);
  t.is(big.length, 4, "one report per stored chunk (10, 10, 10, 3)");
  assertAddsUp(t, big, 33);

  const small: Report[] = [];
  const r2 = await append(ctx, allConfirm, bytes(5, 5), "/log", { onProgress: (done, total) => small.push({ done, total }) });
  t.like(r2, { mode: "tail", size: 5, offset: 5 });
  t.deepEqual(small, [{ done: 5, total: undefined }]);
});
