/**
 * Appends through a primary datanode (docs/append.md, tail mode): a real nats-server, three real
 * datanode actors, and a stand-in namenode that answers appendLease / appendCommit /
 * appendDropReplica the way the design says (one live lease epoch, commits at the committed
 * size, keys logged once, drops bump the version).
 */
import test from "ava";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { crc32 } from "node:zlib";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend } from "@nats-io/obj";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { runDatanode, type DatanodeHandle } from "../../actors/datanode/index.js";
import { loadConfig, type WoodsConfig } from "../../config/index.js";
import { call } from "../../actors/rpc.js";
import { chunkChecksum, decode, encode, type DatanodeReplies, type NamenodeReplies, type NamenodeRequest } from "../../messages/index.js";
import { sendFrames } from "../helpers/frames.js";

const FRAME = 256 * 1024;
const CHUNK_SIZE = 4 * 1024 * 1024;
const LEASE_MS = 30_000;

type AppendReply = DatanodeReplies["append"];

/** What the stand-in namenode knows of one leased chunk. */
interface FakeChunk {
  fileId: string;
  path: string;
  version: number;
  epoch: number;
  primary: string;
  replicas: string[];
  /** File offset of the chunk's first byte. */
  fileBase: number;
  sizeBytes: number;
  checksum: string;
  /** The committed bytes, to compare replicas against. */
  bytes: Buffer;
}

let server: NatsServerHandle;
let nc: NatsConnection;
let config: WoodsConfig;
const dns: Record<string, { handle: DatanodeHandle; dir: string; stopped?: boolean }> = {};
const chunks = new Map<string, FakeChunk>();
/** Appended keys → result, namespace-wide like the namenode's. */
const keys = new Map<string, { offset: number; sizeBytes: number }>();
const commits: NamenodeRequest<"appendCommit">[] = [];
const drops: NamenodeRequest<"appendDropReplica">[] = [];
const leaseAsks: NamenodeRequest<"appendLease">[] = [];
const reports: { id: string; chunks: { id: string; version: number; sizeBytes: number }[]; removed: { id: string; version: number }[] }[] = [];
/** While set, appendCommit waits for it before answering. */
let holdCommits: Promise<void> | undefined;
/** Data of each append the test sent, by key. */
const sent = new Map<string, Buffer>();

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const code = (e: unknown) => (e as { code?: string } | undefined)?.code;

function answer(m: Msg, body: unknown): void {
  m.respond(encode({ ok: true, ...(body as object) }));
}
function refuse(m: Msg, code: string, message: string): void {
  m.respond(encode({ ok: false, error: { code, message, retryable: code !== "BAD_REQUEST" } }));
}

/** The stand-in namenode: heartbeats, reports and the three verbs a primary calls. */
function serveFakeNamenode(): void {
  // Heartbeats, reports and the primary's append verbs come on the per-datanode subjects (`woods.namenode.dn.<id>.<verb>`).
  const on = (verb: string, fn: (req: any, m: Msg) => void | Promise<void>) =>
    nc.subscribe(`woods.namenode.dn.*.${verb}`, {
      callback: (_e, m) => void fn(decode(m.data).value, m),
    });
  on("heartbeat", (_req, m) => answer(m, { commands: [], fullReport: false }));
  on("report", (req, m) => {
    reports.push(req);
    answer(m, {});
  });
  on("appendLease", (req: NamenodeRequest<"appendLease">, m) => {
    leaseAsks.push(req);
    const c = chunks.get(req.chunkId);
    if (!c || c.epoch !== req.epoch) return refuse(m, "NOT_PRIMARY", `epoch ${req.epoch} is not the live lease on ${req.chunkId}`);
    if (c.primary !== req.dn) return refuse(m, "NOT_PRIMARY", `lease epoch ${req.epoch} is held by ${c.primary}, not ${req.dn}`);
    const reply: NamenodeReplies["appendLease"] = {
      fileId: c.fileId,
      path: c.path,
      version: c.version,
      epoch: c.epoch,
      replicas: [...c.replicas],
      sizeBytes: c.sizeBytes,
      checksum: c.checksum,
      chunkSizeBytes: CHUNK_SIZE,
      expiresInMs: LEASE_MS,
    };
    answer(m, reply);
  });
  on("appendCommit", async (req: NamenodeRequest<"appendCommit">, m) => {
    await holdCommits;
    const c = chunks.get(req.chunkId);
    if (!c || c.epoch !== req.epoch) return refuse(m, "NOT_PRIMARY", `epoch ${req.epoch} is not the live lease`);
    const dups = req.records.filter((r) => keys.has(r.key)).map((r) => ({ key: r.key, ...keys.get(r.key)! }));
    if (dups.length > 0) return answer(m, { applied: false, duplicates: dups });
    if (req.version !== c.version) return refuse(m, "STALE", `chunk is at v${c.version}, not v${req.version}`);
    if (req.fromBytes !== c.sizeBytes) return refuse(m, "STALE", `chunk has ${c.sizeBytes} committed bytes, not ${req.fromBytes}`);
    const added = Buffer.concat(req.records.map((r) => sent.get(r.key)!));
    if (req.fromBytes + added.length !== req.toBytes) return refuse(m, "BAD_REQUEST", "records do not add up");
    const bytes = Buffer.concat([c.bytes, added]);
    if (chunkChecksum(crc32(bytes)) !== req.checksum) return refuse(m, "BAD_REQUEST", `checksum ${req.checksum} is not the one of the bytes sent`);
    commits.push(req);
    const offsets: number[] = [];
    let at = c.fileBase + c.sizeBytes;
    for (const r of req.records) {
      keys.set(r.key, { offset: at, sizeBytes: r.sizeBytes });
      offsets.push(at);
      at += r.sizeBytes;
    }
    c.bytes = bytes;
    c.sizeBytes = req.toBytes;
    c.checksum = req.checksum;
    answer(m, { applied: true, offsets, fileSizeBytes: at, expiresInMs: LEASE_MS });
  });
  on("appendDropReplica", (req: NamenodeRequest<"appendDropReplica">, m) => {
    const c = chunks.get(req.chunkId);
    if (!c || c.epoch !== req.epoch) return refuse(m, "NOT_PRIMARY", `epoch ${req.epoch} is not the live lease`);
    if (req.version !== c.version) return refuse(m, "STALE", `chunk is at v${c.version}`);
    drops.push(req);
    c.version += 1;
    c.replicas = c.replicas.filter((dn) => !req.failed.includes(dn));
    answer(m, { version: c.version, replicas: [...c.replicas], expiresInMs: LEASE_MS });
  });
}

async function startDn(id: string): Promise<void> {
  const dir = dns[id]?.dir ?? mkdtempSync(join(tmpdir(), `woods-dn-append-${id}-`));
  dns[id] = { handle: await runDatanode({ id, dirs: [dir], config }), dir };
}

/** Writes `data` as chunk `chunkId` v1 on each of `on` through the ordinary write path. */
async function writeChunk(chunkId: string, data: Buffer, on: string[]): Promise<void> {
  for (const dn of on) {
    await call(nc, `woods.datanode.${dn}.open`, { chunkId, version: 1, maxSizeBytes: data.length }, 5000);
    const acks = await sendFrames(nc, chunkId, data, FRAME);
    await call(nc, `woods.datanode.${dn}.close`, { chunkId, version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), frames: acks.length }, 10_000);
  }
}

/** A leased chunk on dn1..dn3 with dn1 as primary under `epoch`. */
async function leasedChunk(chunkId: string, epoch: number, baseBytes = 100_000): Promise<FakeChunk> {
  const base = randomBytes(baseBytes);
  await writeChunk(chunkId, base, ["dn1", "dn2", "dn3"]);
  const c: FakeChunk = {
    fileId: `f-${chunkId}`,
    path: `/logs/${chunkId}`,
    version: 1,
    epoch,
    primary: "dn1",
    replicas: ["dn1", "dn2", "dn3"],
    fileBase: 0,
    sizeBytes: base.length,
    checksum: chunkChecksum(crc32(base)),
    bytes: base,
  };
  chunks.set(chunkId, c);
  return c;
}

function append(dn: string, chunkId: string, epoch: number, key: string, data: Buffer): Promise<AppendReply> {
  sent.set(key, data);
  return call<AppendReply>(nc, `woods.datanode.${dn}.append`, { chunkId, epoch, key, data }, 20_000);
}

/** Reads a whole chunk from one replica at `version`. */
async function readChunk(dn: string, chunkId: string, version: number, sizeBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < sizeBytes; at += FRAME) {
    const r = await call<{ data: Uint8Array }>(nc, `woods.datanode.${dn}.read`, { chunkId, version, offset: at, length: FRAME }, 5000);
    parts.push(Buffer.from(r.data));
  }
  return Buffer.concat(parts);
}

/** Resolves once the test's connection has seen `n` requests on `subject` (a silent second subscriber). */
function spy(subject: string, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const sub = nc.subscribe(subject, {
      callback: () => {
        if (++seen === n) {
          sub.unsubscribe();
          resolve();
        }
      },
    });
  });
}

test.before(async () => {
  setSha256Backend("native");
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  serveFakeNamenode();
  await nc.flush();
  config = loadConfig({
    env: {},
    overrides: {
      nats: { url: server.url },
      log: { level: (process.env.WOODS_TEST_LOG as "debug") ?? "silent" },
      frameSizeBytes: FRAME,
      chunkSizeBytes: CHUNK_SIZE,
      datanode: { heartbeatIntervalMs: 200, blockSizeBytes: 4096, appendBatchMaxBytes: 1024 * 1024, appendApplyTimeoutMs: 2000, scrubBytesPerSecond: 0 },
      client: { requestTimeoutMs: 3000, minReplicasForCommit: 2 },
    },
  });
  for (const id of ["dn1", "dn2", "dn3"]) await startDn(id);
});

test.after.always(async () => {
  for (const d of Object.values(dns)) await d.handle.stop().catch(() => undefined);
  await nc?.close();
  await server?.stop();
  for (const d of Object.values(dns)) rmSync(d.dir, { recursive: true, force: true });
});

test.serial("eight concurrent appends land once each, contiguous, in few batches, identical on every replica", async (t) => {
  const c = await leasedChunk("ap1", 7);
  const base = c.bytes;
  // Hold the first commit until every request has reached the server: the rest then queue
  // behind the first batch, and the next batch takes all of them.
  let release!: () => void;
  holdCommits = new Promise((r) => (release = r));
  const arrived = spy("woods.datanode.dn1.append", 8);
  const records = Array.from({ length: 8 }, (_, i) => ({ key: randomUUID(), data: randomBytes(1000 + i * 777) }));
  const replies = Promise.all(records.map((r) => append("dn1", "ap1", 7, r.key, r.data)));
  await arrived;
  await new Promise((r) => setTimeout(r, 300));
  release();
  holdCommits = undefined;
  const results = await replies;

  const ap1Commits = commits.filter((x) => x.chunkId === "ap1");
  t.log(`batches: ${ap1Commits.map((x) => x.records.length).join(" + ")}`);
  t.true(ap1Commits.length >= 1 && ap1Commits.length <= 3, `${ap1Commits.length} batches`);
  const committedKeys = ap1Commits.flatMap((x) => x.records.map((r) => r.key));
  t.is(committedKeys.length, 8);
  t.deepEqual(new Set(committedKeys), new Set(records.map((r) => r.key)));
  // Where each record landed: contiguous, never overlapping, each once.
  const placed = records.map((r, i) => ({ ...r, ...results[i] })).sort((a, b) => a.offset - b.offset);
  let at = base.length;
  for (const p of placed) {
    t.is(p.offset, at);
    t.is(p.sizeBytes, p.data.length);
    at += p.data.length;
  }
  t.is(Math.max(...results.map((r) => r.fileSizeBytes)), at);
  const expected = Buffer.concat([base, ...placed.map((p) => p.data)]);
  t.is(sha(c.bytes), sha(expected));
  for (const dn of ["dn1", "dn2", "dn3"]) t.is(sha(await readChunk(dn, "ap1", 1, expected.length)), sha(expected), `${dn} holds the committed bytes`);
  // The lease was asked for once, by the primary, for the epoch the clients named.
  t.deepEqual(
    leaseAsks.filter((x) => x.chunkId === "ap1"),
    [{ chunkId: "ap1", epoch: 7, dn: "dn1" }],
  );
});

test.serial("the same key sent twice is appended once; a key the namenode already holds gets its original result", async (t) => {
  const c = await leasedChunk("ap2", 8, 5000);
  const key = randomUUID();
  const data = randomBytes(321);
  const [a, b] = await Promise.all([append("dn1", "ap2", 8, key, data), append("dn1", "ap2", 8, key, data)]);
  t.deepEqual(a, b);
  t.is(a.offset, 5000);
  // A retry after the reply: answered from the primary's recent results, nothing appended.
  t.deepEqual(await append("dn1", "ap2", 8, key, data), a);
  t.is(c.sizeBytes, 5000 + data.length);
  t.is(commits.filter((x) => x.chunkId === "ap2").flatMap((x) => x.records).filter((r) => r.key === key).length, 1);

  // A key appended before through another primary: the namenode answers `duplicates`, the
  // primary answers that client with the original result and commits the rest alone.
  const oldKey = randomUUID();
  keys.set(oldKey, { offset: 12, sizeBytes: 7 });
  const fresh = randomUUID();
  let release!: () => void;
  holdCommits = new Promise((r) => (release = r));
  const arrived = spy("woods.datanode.dn1.append", 2);
  const both = Promise.all([append("dn1", "ap2", 8, oldKey, randomBytes(7)), append("dn1", "ap2", 8, fresh, randomBytes(50))]);
  await arrived;
  await new Promise((r) => setTimeout(r, 200));
  release();
  holdCommits = undefined;
  const [old, added] = await both;
  t.is(old.offset, 12);
  t.is(old.sizeBytes, 7);
  t.is(added.offset, 5000 + data.length);
  const expected = Buffer.concat([c.bytes]);
  t.is(expected.length, 5000 + data.length + 50);
  for (const dn of ["dn1", "dn2", "dn3"]) t.is(sha(await readChunk(dn, "ap2", 1, expected.length)), sha(expected), `${dn} holds the committed bytes`);
  // No replica kept the rewritten batch's first version as part of its copy.
  for (const dn of ["dn1", "dn2", "dn3"]) {
    const r = await call<{ sizeBytes: number }>(nc, `woods.datanode.${dn}.read`, { chunkId: "ap2", version: 1, offset: 0, length: 1 }, 5000);
    t.is(r.sizeBytes, expected.length);
  }
});

test.serial("an append under a lease epoch that is not the live one, or to a node that is not the primary, gets NOT_PRIMARY", async (t) => {
  await leasedChunk("ap3", 20, 1000);
  t.is((await append("dn1", "ap3", 20, randomUUID(), randomBytes(10))).offset, 1000);
  const older = await t.throwsAsync(append("dn1", "ap3", 19, randomUUID(), randomBytes(10)));
  t.is(code(older), "NOT_PRIMARY");
  const unknown = await t.throwsAsync(append("dn1", "ap3", 21, randomUUID(), randomBytes(10)));
  t.is(code(unknown), "NOT_PRIMARY");
  const notPrimary = await t.throwsAsync(append("dn2", "ap3", 20, randomUUID(), randomBytes(10)));
  t.is(code(notPrimary), "NOT_PRIMARY");
  // A record that would cross the chunk size is sent to new chunks.
  const full = await t.throwsAsync(append("dn1", "ap3", 20, randomUUID(), randomBytes(CHUNK_SIZE)));
  t.is(code(full), "CHUNK_FULL");
  // The live lease still works, and the replicas fence the old epoch.
  t.is((await append("dn1", "ap3", 20, randomUUID(), randomBytes(10))).offset, 1010);
  const c = chunks.get("ap3")!;
  const fenced = await t.throwsAsync(
    call(nc, "woods.datanode.dn2.appendApply", { chunkId: "ap3", version: 1, epoch: 19, offset: c.sizeBytes, crcBefore: crc32(c.bytes), data: randomBytes(5) }, 5000),
  );
  t.is(code(fenced), "STALE");
});

test.serial("a repair source with an uncommitted tail copies exactly the committed bytes", async (t) => {
  const base = randomBytes(70_000);
  await writeChunk("rp1", base, ["dn1"]);
  // A batch applied on dn1 but never committed: an uncommitted tail.
  await call(nc, "woods.datanode.dn1.appendApply", { chunkId: "rp1", version: 1, epoch: 1, offset: base.length, crcBefore: crc32(base), data: randomBytes(9000) }, 5000);
  await new Objm(nc).create(config.prefix + "-staging").catch(() => undefined);
  const r = await call<DatanodeReplies["replicate"]>(
    nc,
    "woods.datanode.dn1.replicate",
    { repairId: "r-rp1", chunkId: "rp1", version: 1, sizeBytes: base.length, checksum: chunkChecksum(crc32(base)), targets: ["dn2"], bucket: "woods-staging" },
    20_000,
  );
  t.deepEqual(r, { ok: true, confirmed: ["dn2"], failed: [] } as never);
  t.is(sha(await readChunk("dn2", "rp1", 1, base.length)), sha(base));
  // An order for more bytes than the source holds is refused.
  const short = await t.throwsAsync(
    call(nc, "woods.datanode.dn1.replicate", { repairId: "r-rp2", chunkId: "rp1", version: 1, sizeBytes: base.length + 10_000, checksum: chunkChecksum(0), targets: ["dn3"], bucket: "woods-staging" }, 20_000),
  );
  t.is(code(short), "STALE");
});

test.serial("a secondary that stopped is dropped: the namenode bumps the version and the survivors hold it", async (t) => {
  const c = await leasedChunk("ap4", 30, 3000);
  t.is((await append("dn1", "ap4", 30, randomUUID(), randomBytes(100))).offset, 3000);
  await dns.dn3.handle.stop();
  dns.dn3.stopped = true;
  const data = randomBytes(2000);
  const r = await append("dn1", "ap4", 30, randomUUID(), data);
  t.is(r.offset, 3100);
  t.deepEqual(drops.filter((d) => d.chunkId === "ap4").map((d) => ({ version: d.version, failed: d.failed })), [{ version: 1, failed: ["dn3"] }]);
  t.is(c.version, 2);
  t.deepEqual(commits.filter((x) => x.chunkId === "ap4").map((x) => x.version), [1, 2]);
  for (const dn of ["dn1", "dn2"]) {
    t.true(existsSync(join(dns[dn].dir, "chunks", "ap4_v2.chunk")), `${dn} renamed its copy`);
    t.false(existsSync(join(dns[dn].dir, "chunks", "ap4_v1.chunk")));
    t.is(sha(await readChunk(dn, "ap4", 2, c.sizeBytes)), sha(c.bytes));
  }
  // The dropped copy keeps the old version (stale): never renamed, never given the new bytes.
  t.deepEqual(readdirSync(join(dns.dn3.dir, "chunks")).filter((f) => f.startsWith("ap4")), ["ap4_v1.chunk"]);
  // The survivors told the namenode: v2 stored, v1 gone.
  for (const dn of ["dn1", "dn2"]) {
    const mine = reports.filter((x) => x.id === dn);
    t.true(mine.some((x) => x.chunks.some((ch) => ch.id === "ap4" && ch.version === 2)), `${dn} reported v2`);
    t.true(mine.some((x) => x.removed.some((ch) => ch.id === "ap4" && ch.version === 1)), `${dn} reported v1 removed`);
  }
  // Down to one replica (fewer than minReplicasForCommit = 2): the batch fails, retryably.
  await dns.dn2.handle.stop();
  dns.dn2.stopped = true;
  const alone = await t.throwsAsync(append("dn1", "ap4", 30, randomUUID(), randomBytes(10)));
  t.is(code(alone), "NOT_ENOUGH_NODES");
  t.is(c.version, 3);
});
