import test from "ava";
import { pino } from "pino";
import { loadDefaults, configSchema, type WoodsConfig } from "../../config/index.js";
import { WoodsError, subjects, type NamenodeVerb } from "../../messages/index.js";
import { put } from "../../actors/client/put.js";
import { replicaOrder } from "../../actors/client/get.js";
import type { ChunkWriteRequest, ChunkWriteResult, ClientContext, NamenodeCall } from "../../actors/client/types.js";

test("replicas that failed earlier in a read are tried last, the rest keep the namenode's order", (t) => {
  t.deepEqual(replicaOrder(["dn1", "dn2", "dn3"], new Set()), ["dn1", "dn2", "dn3"]);
  t.deepEqual(replicaOrder(["dn1", "dn2", "dn3"], new Set(["dn1"])), ["dn2", "dn3", "dn1"]);
  t.deepEqual(replicaOrder(["dn3", "dn1", "dn2"], new Set(["dn1", "dn3"])), ["dn2", "dn3", "dn1"]);
  t.deepEqual(replicaOrder([], new Set(["dn1"])), []);
});

/** A namenode that allocates fresh chunks forever and records the verbs it saw. */
function namenode(verbs: NamenodeVerb[], bodies: Record<string, unknown>[]): NamenodeCall {
  let seq = 0;
  return (async (verb: NamenodeVerb, body: Record<string, unknown>) => {
    verbs.push(verb);
    bodies.push(body);
    if (verb === "create") return { fileId: "f1", path: body.path, replication: 3, chunkSizeBytes: 10, frameSizeBytes: 4, leaseMs: 60000 };
    if (verb === "allocate") return { chunkId: `c${seq++}`, version: 1, replicas: ["dn1", "dn2", "dn3"] };
    return {};
  }) as unknown as NamenodeCall;
}

function context(nn: NamenodeCall, retry: WoodsConfig["client"]["retry"], clock: { now: number }): ClientContext {
  const base = configSchema.parse(loadDefaults());
  const config: WoodsConfig = { ...base, client: { ...base.client, retry } };
  return {
    nc: {} as ClientContext["nc"],
    subj: subjects("woods"),
    config,
    log: pino({ level: "silent" }),
    namenode: nn,
    retryPolicy: retry,
    retryOptions: { sleep: async (ms) => void (clock.now += ms), rng: () => 0.5, nowMs: () => clock.now },
    nowMs: () => clock.now,
  };
}

async function* fourBytes(): AsyncGenerator<Uint8Array> {
  yield new Uint8Array(4);
}

test("a chunk write that keeps failing stops at the retry deadline, well before maxAttempts", async (t) => {
  const verbs: NamenodeVerb[] = [];
  const clock = { now: 0 };
  const failing = async (req: ChunkWriteRequest): Promise<ChunkWriteResult> => {
    clock.now += 1000; // each try waits a second for acks that never come
    return { confirmed: [], failed: req.replicas.map((dn) => ({ dn, error: new WoodsError("TIMEOUT", "no ack") })), checksum: "crc32:00000000", sizeBytes: 4 };
  };
  const retry = { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 1000, jitter: 0, deadlineMs: 5000 };
  const err = await t.throwsAsync(put(context(namenode(verbs, []), retry, clock), failing, fourBytes(), "/f"));
  t.is((err as WoodsError).code, "ALL_REPLICAS_FAILED");
  // Tries end at 1000, 3000, 5000 ms; a 4th would start at 6000 > 5000.
  t.is(verbs.filter((v) => v === "allocate").length, 3);
  t.true(clock.now <= 5000 + 1000);
  t.is(verbs.at(-1), "abandon");
});

test("each put sends its own clientId on create (retries resend the same body)", async (t) => {
  const verbs: NamenodeVerb[] = [];
  const bodies: Record<string, unknown>[] = [];
  const clock = { now: 0 };
  const ok = async (req: ChunkWriteRequest): Promise<ChunkWriteResult> => ({ confirmed: req.replicas, failed: [], checksum: "crc32:00000000", sizeBytes: 4 });
  const retry = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1, jitter: 0, deadlineMs: 5000 };
  await put(context(namenode(verbs, bodies), retry, clock), ok, fourBytes(), "/a");
  await put(context(namenode(verbs, bodies), retry, clock), ok, fourBytes(), "/b");
  const ids = bodies.filter((_b, i) => verbs[i] === "create").map((b) => b.clientId);
  t.is(ids.length, 2);
  t.true(ids.every((id) => typeof id === "string" && id.length > 8 && id.length <= 128));
  t.not(ids[0], ids[1], "two puts are two writers");
});
