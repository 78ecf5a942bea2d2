import test from "ava";
import { pino } from "pino";
import { loadDefaults, configSchema, type WoodsConfig } from "../../config/index.js";
import { WoodsError, subjects, type NamenodeVerb } from "../../messages/index.js";
import { put } from "../../actors/client/put.js";
import type { ChunkWriteRequest, ChunkWriteResult, ClientContext, NamenodeCall } from "../../actors/client/types.js";

/** Fake namenode: records every request and answers from `answer`. */
function fakeNamenode(answer: (verb: NamenodeVerb, body: Record<string, unknown>) => unknown) {
  const calls: Array<{ verb: NamenodeVerb; body: Record<string, unknown> }> = [];
  let chunkSeq = 0;
  const namenode = (async (verb: NamenodeVerb, body: Record<string, unknown>) => {
    calls.push({ verb, body });
    const custom = answer(verb, body);
    if (custom !== undefined) return custom;
    switch (verb) {
      case "create":
        return { fileId: "f1", path: body.path, replication: 3, chunkSizeBytes: 10, frameSizeBytes: 4, leaseMs: 60000 };
      case "allocate":
        return { chunkId: `c${chunkSeq++}`, version: 1, replicas: ["dn1", "dn2", "dn3"] };
      case "complete":
        return { path: "/a", size: body.sizeBytes };
      default:
        return {};
    }
  }) as unknown as NamenodeCall;
  return { calls, namenode };
}

function context(namenode: NamenodeCall, client: Partial<WoodsConfig["client"]> = {}): ClientContext {
  const base = configSchema.parse(loadDefaults());
  const config: WoodsConfig = { ...base, client: { ...base.client, ...client, retry: { ...base.client.retry, baseDelayMs: 1, maxDelayMs: 2, ...client.retry } } };
  return {
    nc: {} as ClientContext["nc"],
    subj: subjects("woods"),
    config,
    log: pino({ level: "silent" }),
    namenode,
    retryPolicy: config.client.retry,
    retryOptions: { sleep: async () => {}, rng: () => 0 },
    nowMs: () => 0,
  };
}

function allConfirm(req: ChunkWriteRequest): Promise<ChunkWriteResult> {
  return Promise.resolve({ confirmed: req.replicas, failed: [], checksum: "crc32:00000000", sizeBytes: req.data.length });
}

async function* bytes(n: number, piece = 3): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < n; at += piece) yield new Uint8Array(Math.min(piece, n - at)).fill(at & 0xff);
}

test("a 0-byte file is one create request (empty: true): no allocation, no separate complete", async (t) => {
  const nn = fakeNamenode(() => undefined);
  const r = await put(context(nn.namenode), allConfirm, bytes(0), "/empty");
  t.deepEqual(
    nn.calls.map((c) => c.verb),
    ["create"],
  );
  t.like(nn.calls[0].body, { path: "/empty", empty: true });
  t.is(r.size, 0);
  t.is(r.chunks, 0);
});

test("every chunk is allocated, written and committed with its index, and complete carries the totals", async (t) => {
  const nn = fakeNamenode(() => undefined);
  const written: ChunkWriteRequest[] = [];
  const r = await put(context(nn.namenode), (req) => (written.push(req), allConfirm(req)), bytes(25), "/dir/file");
  t.is(r.path, "/dir/file");
  t.is(r.size, 25);
  t.is(r.chunks, 3);
  t.deepEqual(
    written.map((w) => w.data.length),
    [10, 10, 5],
  );
  t.true(written.every((w) => w.frameSizeBytes === 4));
  const commits = nn.calls.filter((c) => c.verb === "commit").map((c) => c.body);
  t.deepEqual(
    commits.map((c) => c.index).sort(),
    [0, 1, 2],
  );
  t.deepEqual(commits.find((c) => c.index === 2)?.sizeBytes, 5);
  t.deepEqual(nn.calls.at(-1), { verb: "complete", body: { fileId: "f1", sizeBytes: 25, chunkCount: 3 } });
});

test("a bad remote path fails before any namenode request", async (t) => {
  const nn = fakeNamenode(() => undefined);
  const err = await t.throwsAsync(put(context(nn.namenode), allConfirm, bytes(5), "relative/path"));
  t.is((err as WoodsError).code, "INVALID_PATH");
  t.is(nn.calls.length, 0);
});

test("EXISTS from create is thrown as is and nothing is abandoned", async (t) => {
  const nn = fakeNamenode((verb) => {
    if (verb === "create") throw new WoodsError("EXISTS", "/a exists");
    return undefined;
  });
  const err = await t.throwsAsync(put(context(nn.namenode), allConfirm, bytes(5), "/a"));
  t.is((err as WoodsError).code, "EXISTS");
  t.deepEqual(
    nn.calls.map((c) => c.verb),
    ["create"],
  );
});

test("too few confirmations allocate the chunk again excluding the failed nodes, and commit names only confirmed replicas", async (t) => {
  const nn = fakeNamenode(() => undefined);
  let writes = 0;
  const flaky = async (req: ChunkWriteRequest): Promise<ChunkWriteResult> => {
    writes++;
    if (writes === 1) {
      return {
        confirmed: ["dn1"],
        failed: [
          { dn: "dn2", error: new WoodsError("TIMEOUT", "no ack") },
          { dn: "dn3", error: new WoodsError("IO", "disk") },
        ],
        checksum: "crc32:00000000",
        sizeBytes: req.data.length,
      };
    }
    return { confirmed: ["dn1", "dn4"], failed: [{ dn: "dn5", error: new WoodsError("IO", "x") }], checksum: "crc32:00000000", sizeBytes: req.data.length };
  };
  await put(context(nn.namenode, { minReplicasForCommit: 2 }), flaky, bytes(4), "/f");
  const allocs = nn.calls.filter((c) => c.verb === "allocate").map((c) => c.body);
  t.is(allocs.length, 2);
  t.is(allocs[0].exclude, undefined);
  t.deepEqual(allocs[1].exclude, ["dn2", "dn3"]);
  const commits = nn.calls.filter((c) => c.verb === "commit").map((c) => c.body);
  t.is(commits.length, 1);
  t.deepEqual(commits[0].replicas, ["dn1", "dn4"]);
  t.is(commits[0].chunkId, "c1");
});

test("a chunk that never gets enough confirmations fails the put with ALL_REPLICAS_FAILED and abandons the file", async (t) => {
  const nn = fakeNamenode(() => undefined);
  const never = async (req: ChunkWriteRequest): Promise<ChunkWriteResult> => ({
    confirmed: [],
    failed: req.replicas.map((dn) => ({ dn, error: new WoodsError("TIMEOUT", "no ack") })),
    checksum: "crc32:00000000",
    sizeBytes: req.data.length,
  });
  const err = await t.throwsAsync(put(context(nn.namenode, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, jitter: 0, deadlineMs: 60000 } }), never, bytes(4), "/f"));
  t.is((err as WoodsError).code, "ALL_REPLICAS_FAILED");
  t.regex(err!.message, /chunk 0 of \/f/);
  t.is(nn.calls.filter((c) => c.verb === "allocate").length, 3);
  t.is(nn.calls.at(-1)?.verb, "abandon");
  t.false(nn.calls.some((c) => c.verb === "complete"));
});

test("a source stream error abandons the file and is rethrown", async (t) => {
  const nn = fakeNamenode(() => undefined);
  async function* broken() {
    yield new Uint8Array(15);
    throw new Error("disk read failed");
  }
  await t.throwsAsync(put(context(nn.namenode), allConfirm, broken(), "/f"), { message: "disk read failed" });
  t.is(nn.calls.at(-1)?.verb, "abandon");
  t.false(nn.calls.some((c) => c.verb === "complete"));
});

test("no more than chunksInflightMax chunks are written at once, yet they do overlap", async (t) => {
  const nn = fakeNamenode(() => undefined);
  let now = 0;
  let peak = 0;
  const slow = async (req: ChunkWriteRequest) => {
    now++;
    peak = Math.max(peak, now);
    await new Promise((r) => setTimeout(r, 5));
    now--;
    return allConfirm(req);
  };
  const r = await put(context(nn.namenode, { chunksInflightMax: 3 }), slow, bytes(100, 7), "/f");
  t.is(r.chunks, 10);
  t.is(peak, 3);
});
