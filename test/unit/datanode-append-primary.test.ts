import test from "ava";
import { randomBytes, randomUUID } from "node:crypto";
import { crc32 } from "node:zlib";
import { AppendPrimary, type PrimaryIo } from "../../actors/datanode/append-primary.js";
import { createLogger } from "../../actors/logger.js";
import { WoodsError, chunkChecksum, type DatanodeReplies, type DatanodeRequest, type NamenodeReplies, type NamenodeRequest } from "../../messages/index.js";

const log = createLogger("datanode", "test", "silent");
const code = (e: unknown) => (e as { code?: string } | undefined)?.code;
type Verb = "appendLease" | "appendCommit" | "appendDropReplica";

/**
 * A namenode and replicas in memory, with the semantics of docs/append.md, and hooks to make a
 * verb fail. The clock is simulated: `clock.ms` moves only when a test moves it (or sleeps).
 */
class World {
  clock = { ms: 1_000_000 };
  epoch = 5;
  version = 1;
  replicas = ["dn1", "dn2", "dn3"];
  chunkSizeBytes = 1 << 20;
  leaseMs = 10_000;
  committed: Buffer;
  keys = new Map<string, { offset: number; sizeBytes: number }>();
  copies = new Map<string, { version: number; bytes: Buffer }>();
  calls: { verb: Verb; body: unknown }[] = [];
  /** Per verb: what the next calls do before (or instead of) answering. */
  faults: Partial<Record<Verb, ("timeout-after" | "timeout" | "unavailable" | "not-primary")[]>> = {};
  failingReplicas = new Set<string>();
  sleeps: number[] = [];

  constructor(base: Buffer) {
    this.committed = base;
    for (const dn of this.replicas) this.copies.set(dn, { version: 1, bytes: Buffer.from(base) });
  }

  io(): PrimaryIo {
    return {
      id: "dn1",
      log,
      now: () => this.clock.ms,
      sleep: async (ms) => {
        this.sleeps.push(ms);
        this.clock.ms += ms;
      },
      namenode: async (verb, body) => this.namenode(verb, body) as never,
      apply: async (dn, req) => this.apply(dn, req),
    };
  }

  private async namenode(verb: Verb, body: any): Promise<unknown> {
    this.calls.push({ verb, body });
    const fault = this.faults[verb]?.shift();
    if (fault === "timeout") throw new WoodsError("TIMEOUT", `${verb} timed out`);
    if (fault === "unavailable") throw new WoodsError("UNAVAILABLE", "no responders");
    if (fault === "not-primary") throw new WoodsError("NOT_PRIMARY", "lease superseded");
    const reply = this.answer(verb, body);
    // The namenode did it, but the reply is lost.
    if (fault === "timeout-after") throw new WoodsError("TIMEOUT", `${verb} timed out`);
    return reply;
  }

  private answer(verb: Verb, body: any): unknown {
    if (body.epoch !== this.epoch) throw new WoodsError("NOT_PRIMARY", `epoch ${body.epoch} is not live`);
    if (verb === "appendLease") {
      return {
        fileId: "f1",
        path: "/f",
        version: this.version,
        epoch: this.epoch,
        replicas: [...this.replicas],
        sizeBytes: this.committed.length,
        checksum: chunkChecksum(crc32(this.committed)),
        chunkSizeBytes: this.chunkSizeBytes,
        expiresInMs: this.leaseMs,
      } satisfies NamenodeReplies["appendLease"];
    }
    if (verb === "appendDropReplica") {
      const req = body as NamenodeRequest<"appendDropReplica">;
      this.version++;
      this.replicas = this.replicas.filter((dn) => !req.failed.includes(dn));
      return { version: this.version, replicas: [...this.replicas], expiresInMs: this.leaseMs };
    }
    const req = body as NamenodeRequest<"appendCommit">;
    const found = req.records.map((r) => this.keys.get(r.key));
    if (found.every((k) => k !== undefined)) {
      // An exact retry of a batch that was applied: the same answer (like commitRetry).
      const exact = found[0]!.offset === req.fromBytes;
      if (exact) return { applied: true, offsets: found.map((k) => k!.offset), fileSizeBytes: this.committed.length, expiresInMs: this.leaseMs };
    }
    const dups = req.records.filter((r) => this.keys.has(r.key)).map((r) => ({ key: r.key, ...this.keys.get(r.key)! }));
    if (dups.length > 0) return { applied: false, duplicates: dups };
    if (req.version !== this.version || req.fromBytes !== this.committed.length) throw new WoodsError("STALE", "view out of date");
    const primary = this.copies.get("dn1")!.bytes;
    const next = primary.subarray(0, req.toBytes);
    if (chunkChecksum(crc32(next)) !== req.checksum) throw new WoodsError("BAD_REQUEST", "checksum");
    const offsets: number[] = [];
    let at = req.fromBytes;
    for (const r of req.records) {
      this.keys.set(r.key, { offset: at, sizeBytes: r.sizeBytes });
      offsets.push(at);
      at += r.sizeBytes;
    }
    this.committed = Buffer.from(next);
    return { applied: true, offsets, fileSizeBytes: at, expiresInMs: this.leaseMs };
  }

  private async apply(dn: string, req: DatanodeRequest<"appendApply">): Promise<DatanodeReplies["appendApply"]> {
    if (this.failingReplicas.has(dn)) throw new WoodsError("UNAVAILABLE", `${dn} is gone`);
    const c = this.copies.get(dn)!;
    if (req.version < c.version) throw new WoodsError("STALE", "older version");
    if (req.offset > c.bytes.length) throw new WoodsError("STALE", "behind");
    if ((crc32(c.bytes.subarray(0, req.offset)) >>> 0) !== req.crcBefore) throw new WoodsError("CHECKSUM", "crcBefore");
    c.bytes = Buffer.concat([c.bytes.subarray(0, req.offset), req.data]);
    c.version = req.version;
    return { sizeBytes: c.bytes.length, crc: crc32(c.bytes) >>> 0 };
  }

  count(verb: Verb): number {
    return this.calls.filter((c) => c.verb === verb).length;
  }
}

function primaryFor(w: World, limits: Partial<ConstructorParameters<typeof AppendPrimary>[1]> = {}): AppendPrimary {
  return new AppendPrimary(w.io(), {
    batchMaxBytes: 1 << 20,
    payloadMaxBytes: 8 << 20,
    applyTimeoutMs: 1000,
    requestTimeoutMs: 1000,
    minReplicasForCommit: 2,
    ...limits,
  });
}

const rec = (n: number) => ({ key: randomUUID(), data: randomBytes(n) });

test("records queued together go in one batch, land contiguously and every replica holds the committed bytes", async (t) => {
  const w = new World(randomBytes(1000));
  const p = primaryFor(w);
  const rs = [rec(10), rec(20), rec(30)];
  const out = await Promise.all(rs.map((r) => p.append({ chunkId: "c1", epoch: 5, ...r })));
  t.deepEqual(
    out.map((o) => o.offset),
    [1000, 1010, 1030],
  );
  t.true(out.every((o) => o.fileSizeBytes === 1060));
  t.is(w.count("appendCommit"), 1);
  t.is(w.count("appendLease"), 1);
  for (const c of w.copies.values()) t.true(c.bytes.equals(w.committed));
});

test("a commit whose reply was lost is retried and answered once; the next batch follows it", async (t) => {
  const w = new World(randomBytes(500));
  const p = primaryFor(w);
  w.faults.appendCommit = ["timeout-after"];
  const a = rec(40);
  const r = await p.append({ chunkId: "c1", epoch: 5, ...a });
  t.is(r.offset, 500);
  t.is(w.count("appendCommit"), 2);
  t.deepEqual(w.sleeps, [100]);
  // The retry was answered as applied, so the committed size is known: no need to ask again.
  const b = await p.append({ chunkId: "c1", epoch: 5, ...rec(7) });
  t.is(b.offset, 540);
  t.is(w.count("appendLease"), 1);
  t.is(w.committed.length, 547);
});

test("a namenode that is down for a while gets the commit once it is back, within the lease", async (t) => {
  const w = new World(randomBytes(100));
  const p = primaryFor(w);
  w.faults.appendCommit = ["unavailable", "unavailable", "timeout", "unavailable"];
  const r = await p.append({ chunkId: "c1", epoch: 5, ...rec(9) });
  t.is(r.offset, 100);
  t.deepEqual(w.sleeps, [100, 200, 400, 800]);
  // ... but not past the lease: the batch fails retryably and nothing is lost or doubled.
  w.faults.appendCommit = Array(100).fill("unavailable");
  const lost = rec(3);
  const err = await t.throwsAsync(p.append({ chunkId: "c1", epoch: 5, ...lost }));
  t.is(code(err), "UNAVAILABLE");
  t.true((err as WoodsError).retryable);
  t.is(w.committed.length, 109);
  w.faults.appendCommit = [];
  // The retry lands once (after the lease is read again).
  t.is((await p.append({ chunkId: "c1", epoch: 5, ...lost })).offset, 109);
  t.is(w.committed.length, 112);
});

test("a commit refused as NOT_PRIMARY answers NOT_PRIMARY and the lease is asked for again", async (t) => {
  const w = new World(randomBytes(100));
  const p = primaryFor(w);
  await p.append({ chunkId: "c1", epoch: 5, ...rec(1) });
  w.faults.appendCommit = ["not-primary"];
  t.is(code(await t.throwsAsync(p.append({ chunkId: "c1", epoch: 5, ...rec(1) }))), "NOT_PRIMARY");
  // A new lease (a higher epoch) went to this node: clients carry it, the primary learns it.
  w.epoch = 6;
  t.is((await p.append({ chunkId: "c1", epoch: 6, ...rec(1) })).offset, 101);
  t.is(code(await t.throwsAsync(p.append({ chunkId: "c1", epoch: 5, ...rec(1) }))), "NOT_PRIMARY");
  t.is(w.count("appendLease"), 2);
});

test("a record that would cross the chunk size gets CHUNK_FULL and the rest of the queue commits", async (t) => {
  const w = new World(randomBytes(900));
  w.chunkSizeBytes = 1000;
  const p = primaryFor(w);
  const [a, b, c] = [rec(50), rec(80), rec(40)];
  const out = await Promise.allSettled([a, b, c].map((r) => p.append({ chunkId: "c1", epoch: 5, ...r })));
  t.is(out[0].status === "fulfilled" && out[0].value.offset, 900);
  t.is(out[1].status === "rejected" && code(out[1].reason), "CHUNK_FULL");
  t.is(out[2].status === "fulfilled" && out[2].value.offset, 950);
  t.true(w.committed.equals(Buffer.concat([w.committed.subarray(0, 900), a.data, c.data])));
});

test("a lease that ran out locally is read again before the next batch; one the namenode ended gives NOT_PRIMARY", async (t) => {
  const w = new World(randomBytes(10));
  const p = primaryFor(w);
  await p.append({ chunkId: "c1", epoch: 5, ...rec(5) });
  w.clock.ms += w.leaseMs;
  await p.append({ chunkId: "c1", epoch: 5, ...rec(5) });
  t.is(w.count("appendLease"), 2);
  w.clock.ms += w.leaseMs;
  w.epoch = 9;
  t.is(code(await t.throwsAsync(p.append({ chunkId: "c1", epoch: 5, ...rec(5) }))), "NOT_PRIMARY");
  t.is(w.committed.length, 20);
});

test("retries join the record in flight and later ones get the recorded result", async (t) => {
  const w = new World(randomBytes(10));
  const p = primaryFor(w);
  const a = rec(5);
  const [x, y] = await Promise.all([p.append({ chunkId: "c1", epoch: 5, ...a }), p.append({ chunkId: "c1", epoch: 5, ...a })]);
  t.deepEqual(x, y);
  t.deepEqual(await p.append({ chunkId: "c1", epoch: 5, ...a }), x);
  t.is(w.committed.length, 15);
  t.is(w.count("appendCommit"), 1);
});

test("a batch whose records were all committed before is answered with their results and the size is read again", async (t) => {
  const w = new World(randomBytes(10));
  const p = primaryFor(w);
  const a = rec(5);
  // Committed by another primary before (the namenode knows the key), not in this batch order.
  w.keys.set(a.key, { offset: 3, sizeBytes: 5 });
  const r = await p.append({ chunkId: "c1", epoch: 5, ...a });
  t.deepEqual(r, { offset: 3, sizeBytes: 5, fileSizeBytes: 8 });
  t.is(w.committed.length, 10);
  // The replicas' uncommitted tail is cut by the next batch.
  const b = rec(4);
  t.is((await p.append({ chunkId: "c1", epoch: 5, ...b })).offset, 10);
  for (const c of w.copies.values()) t.true(c.bytes.equals(w.committed));
});

test("replicas that fail are dropped and the batch goes on at the new version; the primary's own failure makes it step down", async (t) => {
  const w = new World(randomBytes(10));
  const p = primaryFor(w);
  w.failingReplicas.add("dn3");
  const r = await p.append({ chunkId: "c1", epoch: 5, ...rec(5) });
  t.is(r.offset, 10);
  t.is(w.version, 2);
  t.deepEqual(w.replicas, ["dn1", "dn2"]);
  t.is(w.copies.get("dn2")!.version, 2);
  t.is(w.copies.get("dn3")!.version, 1);
  w.failingReplicas.add("dn1");
  t.is(code(await t.throwsAsync(p.append({ chunkId: "c1", epoch: 5, ...rec(5) }))), "NOT_PRIMARY");
  t.deepEqual(w.replicas, ["dn2"]);
  t.is(w.committed.length, 15);
});
