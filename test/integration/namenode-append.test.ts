/**
 * The namenode side of appends (docs/append.md) against a real nats-server and a
 * real namenode process. The test plays the datanodes (heartbeats, reports), the
 * primary replica (appendLease, appendCommit, appendDropReplica) and the client
 * (appendLocate, appendAllocate, appendChunks). The namenode is killed with
 * SIGKILL and restarted to check that answers survive it.
 */
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { stringify as toYaml } from "yaml";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { SnapshotStore } from "../../jetstream/index.js";
import { decodeSnapshot } from "../../actors/namenode/snapshot-format.js";
import { decode, encode, subjects, type NamenodeVerb, type DatanodeCommand } from "../../messages/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const subj = subjects("woods");
const CHUNK = 1024 * 1024;
const LEASE_MS = 3000;
const PATH = "/logs/app.log";

let server: NatsServerHandle;
let nc: NatsConnection;
let configFile: string;
let namenode: ChildProcess | undefined;
let namenodeStderr = "";
const events: { kind: string; [k: string]: unknown }[] = [];

/** Simulated datanodes: the chunk versions they hold, the orders they got; heartbeats every 200 ms. */
const dns = new Map<string, { chunks: Map<string, number>; commands: DatanodeCommand[]; beating: boolean }>();
let heartbeatTimer: NodeJS.Timeout | undefined;

async function req(verb: NamenodeVerb, body: unknown): Promise<any> {
  const reply = await nc.request(subj.namenode(verb), encode(body), { timeout: 5000 });
  return decode(reply.data).value;
}

async function ok(verb: NamenodeVerb, body: unknown): Promise<any> {
  const r = await req(verb, body);
  if (!r.ok) throw new Error(`${verb} failed: ${r.error.code} ${r.error.message}`);
  return r;
}

/** The error code a request is refused with (fails the test if it succeeds). */
async function refused(verb: NamenodeVerb, body: unknown): Promise<{ code: string; message: string; retryable: boolean }> {
  const r = await req(verb, body);
  if (r.ok) throw new Error(`${verb} succeeded, expected an error: ${JSON.stringify(r)}`);
  return r.error;
}

async function heartbeat(id: string): Promise<void> {
  const dn = dns.get(id)!;
  const r = await ok("heartbeat", {
    id,
    startedAtMs: 1,
    capacityBytes: 100e9,
    usedBytes: 1e9,
    availableBytes: id === "dn1" ? 90e9 : id === "dn2" ? 80e9 : 70e9,
    load: 0.5,
    activeWrites: 0,
    chunkCount: dn.chunks.size,
    dirs: [],
  });
  dn.commands.push(...r.commands);
  if (r.fullReport) {
    const chunks = [...dn.chunks].map(([cid, version]) => ({ id: cid, version, sizeBytes: 1 }));
    await ok("report", { id, full: true, reportId: `r${Date.now()}`, page: 0, last: true, chunks, removed: [] });
  }
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; namenode stderr: ${namenodeStderr.slice(-2000)}`);
    await wait(50);
  }
}

/** Starts the namenode as its own process (sources run through tsx). */
async function startNamenode(): Promise<void> {
  const code = [
    `const { loadConfig } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "config", "index.ts")).href)});`,
    `const { runNamenode } = await import(${JSON.stringify(pathToFileURL(join(ROOT, "actors", "namenode", "index.ts")).href)});`,
    `const nn = await runNamenode({ config: loadConfig({ file: process.env.WOODS_CONFIG, env: {} }) });`,
    `process.on("SIGTERM", () => nn.stop().finally(() => process.exit(0)));`,
  ].join("\n");
  namenodeStderr = "";
  const child = spawn(process.execPath, ["--import=tsx", "--input-type=module", "-e", code], {
    cwd: ROOT,
    env: { ...process.env, WOODS_CONFIG: configFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const keep = (d: Buffer) => (namenodeStderr = (namenodeStderr + d).slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  namenode = child;
  await until("the namenode answers", async () => (await req("ping", {}).catch(() => undefined))?.ok === true, 60_000);
}

/** kill -9 of the namenode process, then waits for it to be gone. */
async function killNamenode(): Promise<void> {
  const child = namenode!;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await gone;
  namenode = undefined;
}

const crc = (n: number) => `crc32:${n.toString(16).padStart(8, "0")}`;

test.before(async () => {
  server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), "woods-nn-append-"));
  configFile = join(dir, "woods.yaml");
  writeFileSync(
    configFile,
    toYaml({
      nats: { url: server.url },
      replication: 2,
      chunkSizeBytes: CHUNK,
      log: { level: process.env.WOODS_TEST_LOG_LEVEL ?? "warn" },
      namenode: {
        deadAfterMs: 3000,
        tickIntervalMs: 100,
        appendLeaseMs: LEASE_MS,
        safeModeExtensionMs: 0,
        safeModeMaxMs: 5000,
        // Snapshots every few entries: a restart loads one (format 2, with the append keys) and replays the rest.
        snapshotEveryEntries: 1,
      },
    }),
  );
  nc = await connect({ servers: server.url });
  nc.subscribe(subj.eventsAll(), { callback: (_e, m) => void events.push(decode(m.data).value as never) });
  for (const id of ["dn1", "dn2", "dn3"]) dns.set(id, { chunks: new Map(), commands: [], beating: true });
  await startNamenode();
  heartbeatTimer = setInterval(() => {
    for (const [id, dn] of dns) if (dn.beating) void heartbeat(id).catch(() => undefined);
  }, 200);
  await until("three datanodes are alive", async () => (await ok("nodes", {})).nodes.filter((n: any) => n.state === "alive").length === 3);

  // A complete file of one 100-byte chunk on dn1 and dn2 (free-space placement).
  const created = await ok("create", { path: PATH, clientId: "writer" });
  const a = await ok("allocate", { fileId: created.fileId, index: 0 });
  for (const dn of a.replicas) dns.get(dn)!.chunks.set(a.chunkId, 1);
  await ok("commit", { fileId: created.fileId, index: 0, chunkId: a.chunkId, version: 1, sizeBytes: 100, checksum: crc(100), replicas: a.replicas });
  await ok("complete", { fileId: created.fileId, sizeBytes: 100, chunkCount: 1 });
});

test.after.always(async () => {
  clearInterval(heartbeatTimer);
  if (namenode && namenode.exitCode === null) namenode.kill("SIGKILL");
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

/** Locates an append expected to go in place; returns the tail answer. */
async function locateTail(key: string, sizeBytes: number): Promise<any> {
  const r = await ok("appendLocate", { path: PATH, key, sizeBytes });
  if (r.mode !== "tail") throw new Error(`expected tail mode, got ${JSON.stringify(r)}`);
  return r;
}

test.serial("appends go only to complete files: NOT_FOUND says how to create one, IS_DIRECTORY, EXISTS while written", async (t) => {
  const nf = await refused("appendLocate", { path: "/nope", key: "x1", sizeBytes: 1 });
  t.is(nf.code, "NOT_FOUND");
  t.regex(nf.message, /woods put - \/nope < \/dev\/null/);
  t.is((await refused("appendLocate", { path: "/logs", key: "x1", sizeBytes: 1 })).code, "IS_DIRECTORY");
  await ok("create", { path: "/logs/writing", clientId: "w2" });
  t.is((await refused("appendLocate", { path: "/logs/writing", key: "x1", sizeBytes: 1 })).code, "EXISTS");
  t.is((await refused("appendAllocate", { path: "/nope" })).code, "NOT_FOUND");
});

test.serial("locate grants a lease, the primary reads it, a commit makes the bytes part of the file, and stat shows the new size", async (t) => {
  const loc = await locateTail("k1", 10);
  t.is(loc.epoch, 1, "the first lease of the namespace");
  t.is(loc.primary, "dn1", "the least-loaded live replica (ties broken by id)");
  t.deepEqual([...loc.replicas].sort(), ["dn1", "dn2"]);
  t.is(loc.version, 1);
  const again = await locateTail("k1b", 10);
  t.is(again.epoch, 1, "a live lease is reused");

  t.is((await refused("appendLease", { chunkId: loc.chunkId, epoch: 1, dn: "dn2" })).code, "NOT_PRIMARY");
  t.is((await refused("appendLease", { chunkId: loc.chunkId, epoch: 9, dn: "dn1" })).code, "NOT_PRIMARY");
  const lease = await ok("appendLease", { chunkId: loc.chunkId, epoch: 1, dn: "dn1" });
  t.like(lease, { fileId: loc.fileId, path: PATH, version: 1, epoch: 1, sizeBytes: 100, checksum: crc(100), chunkSizeBytes: CHUNK });
  t.true(lease.expiresInMs > 0 && lease.expiresInMs <= LEASE_MS);

  const body = { chunkId: loc.chunkId, epoch: 1, version: 1, fromBytes: 100, toBytes: 110, checksum: crc(110), records: [{ key: "k1", sizeBytes: 10 }] };
  const c = await ok("appendCommit", body);
  t.like(c, { applied: true, offsets: [100], fileSizeBytes: 110 });
  t.true(c.expiresInMs > 0);
  const retried = await ok("appendCommit", body);
  t.like(retried, { applied: true, offsets: [100], fileSizeBytes: 110 }, "a retry after a lost reply gets the same answer");

  const stat = await ok("stat", { path: PATH });
  t.is(stat.size, 110);
  t.deepEqual(stat.chunks.map((ch: any) => [ch.size, ch.checksum, ch.version]), [[110, crc(110), 1]]);
  t.like(await ok("appendLocate", { path: PATH, key: "k1", sizeBytes: 10 }), { mode: "done", offset: 100, sizeBytes: 10 });
  t.true(events.some((e) => e.kind === "chunk.lease.granted" && e.chunkId === loc.chunkId && e.epoch === 1));
  t.true(events.some((e) => e.kind === "file.appended" && e.path === PATH && e.offset === 100));
});

test.serial("a key appended before gives its original offset, also after the namenode is killed and restarted", async (t) => {
  const loc = await locateTail("k2", 5);
  const c = await ok("appendCommit", {
    chunkId: loc.chunkId,
    epoch: loc.epoch,
    version: 1,
    fromBytes: 110,
    toBytes: 115,
    checksum: crc(115),
    records: [{ key: "k2", sizeBytes: 5 }],
  });
  t.deepEqual(c.offsets, [110]);
  const dup = await ok("appendCommit", {
    chunkId: loc.chunkId,
    epoch: loc.epoch,
    version: 1,
    fromBytes: 115,
    toBytes: 122,
    checksum: crc(122),
    records: [{ key: "k3", sizeBytes: 2 }, { key: "k2", sizeBytes: 5 }],
  });
  t.deepEqual(dup, { ok: true, applied: false, duplicates: [{ key: "k2", offset: 110, sizeBytes: 5 }] }, "nothing of the batch is logged");
  t.is((await ok("stat", { path: PATH })).size, 115);

  // The namenode wrote snapshots meanwhile: the newest carries the append keys.
  const store = await SnapshotStore.open(nc, subj.snapshotBucket(), 1);
  const newest = await until("a snapshot holding k2 is written", async () => {
    const list = await store.list();
    if (list.length === 0) return undefined;
    const { header, ns } = decodeSnapshot(await store.read(list[0].name));
    return ns.appendedKey("k2") ? header : undefined;
  });
  t.is(newest.v, 3);

  await killNamenode();
  await startNamenode();
  t.like(await ok("appendLocate", { path: PATH, key: "k2", sizeBytes: 5 }), { mode: "done", offset: 110, sizeBytes: 5 });
  const retried = await ok("appendCommit", {
    chunkId: loc.chunkId,
    epoch: loc.epoch,
    version: 1,
    fromBytes: 110,
    toBytes: 115,
    checksum: crc(115),
    records: [{ key: "k2", sizeBytes: 5 }],
  });
  t.like(retried, { applied: true, offsets: [110], fileSizeBytes: 115 }, "the same answer from the restarted namenode");
  const stat = await until("stat answers after the restart", async () => {
    const r = await req("stat", { path: PATH });
    return r.ok ? r : undefined;
  });
  t.is(stat.size, 115);
  const relocated = await locateTail("k4", 1);
  t.true(relocated.epoch >= loc.epoch, "lease epochs never go back across a restart");
});

test.serial("a commit under a lease that was superseded by a new one is refused; the new holder's commit lands", async (t) => {
  const old = await locateTail("k5", 3);
  await until("the lease ran out", () => events.some((e) => e.kind === "chunk.lease.ended" && e.chunkId === old.chunkId && e.epoch === old.epoch && e.reason === "expired"));
  const fresh = await locateTail("k5", 3);
  t.true(fresh.epoch > old.epoch, "a new lease takes a higher epoch");
  const stale = await refused("appendCommit", {
    chunkId: old.chunkId,
    epoch: old.epoch,
    version: 1,
    fromBytes: 115,
    toBytes: 118,
    checksum: crc(118),
    records: [{ key: "k5", sizeBytes: 3 }],
  });
  t.is(stale.code, "NOT_PRIMARY");
  t.true(stale.retryable);
  t.is((await refused("appendLease", { chunkId: old.chunkId, epoch: old.epoch, dn: old.primary })).code, "NOT_PRIMARY");
  const c = await ok("appendCommit", {
    chunkId: fresh.chunkId,
    epoch: fresh.epoch,
    version: 1,
    fromBytes: 115,
    toBytes: 118,
    checksum: crc(118),
    records: [{ key: "k5", sizeBytes: 3 }],
  });
  t.deepEqual(c.offsets, [115]);
  t.is((await ok("stat", { path: PATH })).size, 118);
});

/** The lease of the last tail append, for the test after it. */
let lastTail: any;

test.serial("a replica dropped mid-append leaves the others at a new version; a retried drop gets the same answer", async (t) => {
  const loc = await locateTail("k6", 1);
  lastTail = loc;
  const body = { chunkId: loc.chunkId, epoch: loc.epoch, version: 1, failed: ["dn2"] };
  const r = await ok("appendDropReplica", body);
  t.like(r, { version: 2, replicas: ["dn1"] });
  t.like(await ok("appendDropReplica", body), { version: 2, replicas: ["dn1"] }, "a retry after a lost reply");
  t.true(events.some((e) => e.kind === "chunk.version.bumped" && e.chunkId === loc.chunkId && e.version === 2));
  dns.get("dn1")!.chunks.set(loc.chunkId, 2);
  const stat = await ok("stat", { path: PATH });
  t.deepEqual(stat.chunks.map((ch: any) => [ch.version, ch.replicas]), [[2, ["dn1"]]], "only the survivor is read from");
  t.is((await refused("appendCommit", { chunkId: loc.chunkId, epoch: loc.epoch, version: 1, fromBytes: 118, toBytes: 119, checksum: crc(119), records: [{ key: "k6", sizeBytes: 1 }] })).code, "STALE");
  const c = await ok("appendCommit", { chunkId: loc.chunkId, epoch: loc.epoch, version: 2, fromBytes: 118, toBytes: 119, checksum: crc(119), records: [{ key: "k6", sizeBytes: 1 }] });
  t.deepEqual(c.offsets, [118]);
  t.false(dns.get("dn2")!.commands.some((o) => o.chunkId === loc.chunkId), "no delete of the stale copy while the chunk is leased");
});

test.serial("new chunks attached by appendChunks seal the old last chunk: a later tail commit to it is refused", async (t) => {
  const loc = lastTail;
  const big = await ok("appendLocate", { path: PATH, key: "big1", sizeBytes: CHUNK });
  t.like(big, { mode: "chunks", fileId: loc.fileId, replication: 2, chunkSizeBytes: CHUNK });
  const full = await ok("appendLocate", { path: PATH, key: "k8", sizeBytes: 1, full: loc.chunkId });
  t.is(full.mode, "chunks", "the primary said the chunk is full");

  const a1 = await ok("appendAllocate", { path: PATH });
  const a2 = await ok("appendAllocate", { path: PATH, exclude: ["dn1"] });
  t.is(a1.fileId, loc.fileId);
  t.false(a2.replicas.includes("dn1"));
  for (const a of [a1, a2]) for (const dn of a.replicas) dns.get(dn)!.chunks.set(a.chunkId, 1);
  const attach = {
    path: PATH,
    key: "big1",
    chunks: [
      { chunkId: a1.chunkId, version: 1, sizeBytes: CHUNK, checksum: crc(1), replicas: a1.replicas },
      { chunkId: a2.chunkId, version: 1, sizeBytes: 1000, checksum: crc(2), replicas: a2.replicas },
    ],
  };
  const r = await ok("appendChunks", attach);
  t.like(r, { offset: 119, sizeBytes: CHUNK + 1000, fileSizeBytes: 119 + CHUNK + 1000 });
  t.like(await ok("appendChunks", attach), { offset: 119, sizeBytes: CHUNK + 1000, fileSizeBytes: 119 + CHUNK + 1000 }, "a retried attach");
  t.true(events.some((e) => e.kind === "chunk.lease.ended" && e.chunkId === loc.chunkId && e.reason === "sealed"));

  const late = await refused("appendCommit", { chunkId: loc.chunkId, epoch: loc.epoch, version: 2, fromBytes: 119, toBytes: 120, checksum: crc(120), records: [{ key: "k7", sizeBytes: 1 }] });
  t.is(late.code, "NOT_PRIMARY");
  // Sealed, or already being re-replicated now that its lease ended: either way no tail commit lands on it.
  t.regex(late.message, /sealed|re-replicated/);
  const stat = await ok("stat", { path: PATH });
  t.is(stat.size, 119 + CHUNK + 1000);
  t.deepEqual(stat.chunks.map((ch: any) => ch.size), [119, CHUNK, 1000]);
  t.deepEqual([...stat.chunks[2].replicas].sort(), [...a2.replicas].sort(), "the confirmed replicas are readable at once");

  const next = await locateTail("k9", 10);
  t.is(next.chunkId, a2.chunkId, "the new last chunk is appendable in place");
  t.true(next.epoch > loc.epoch);
  t.is((await refused("appendChunks", { ...attach, key: "big2" })).code, "EXISTS", "a chunk is attached once");
});

test.serial("a last chunk left under-replicated takes no more appends in place while a full replica set can be placed elsewhere", async (t) => {
  const before = await locateTail("k10", 1);
  t.is(before.primary, "dn2");
  t.deepEqual([...before.replicas].sort(), ["dn2", "dn3"]);
  dns.get("dn2")!.beating = false;
  try {
    await until("dn2 is dead", async () => (await ok("nodes", {})).nodes.find((n: any) => n.id === "dn2").state === "dead");
    const moved = await ok("appendLocate", { path: PATH, key: "k10", sizeBytes: 1 });
    t.is(moved.mode, "chunks", "dn1 and dn3 can hold a new chunk with both replicas");
  } finally {
    dns.get("dn2")!.beating = true;
  }
  await until("dn2 is alive again", async () => (await ok("nodes", {})).nodes.find((n: any) => n.id === "dn2").state === "alive");
});

test.serial("a dead primary's lease is superseded, and the version moves on so the dead copy can never be served again", async (t) => {
  const before = await locateTail("k11", 1);
  t.is(before.primary, "dn2");
  // dn1 goes too: no full replica set can be placed, so appends go on in place on what is left.
  dns.get("dn1")!.beating = false;
  dns.get("dn2")!.beating = false;
  try {
    await until("dn1 and dn2 are dead", async () => (await ok("nodes", {})).nodes.filter((n: any) => n.state === "dead").length === 2);
    const after = await locateTail("k11", 1);
    t.like(after, { chunkId: before.chunkId, primary: "dn3", replicas: ["dn3"], version: before.version + 1 });
    t.true(after.epoch > before.epoch);
    // Superseded at once if dn2 was found dead first; otherwise it had run out by then.
    t.true(events.some((e) => e.kind === "chunk.lease.ended" && e.epoch === before.epoch && (e.reason === "superseded" || e.reason === "expired")));
    t.is((await refused("appendCommit", { chunkId: before.chunkId, epoch: before.epoch, version: before.version, fromBytes: 1000, toBytes: 1001, checksum: crc(1), records: [{ key: "k11", sizeBytes: 1 }] })).code, "NOT_PRIMARY");
    const lease = await ok("appendLease", { chunkId: after.chunkId, epoch: after.epoch, dn: "dn3" });
    t.like(lease, { version: before.version + 1, replicas: ["dn3"], sizeBytes: 1000 });
    const stat = await ok("stat", { path: PATH });
    t.deepEqual(stat.chunks.at(-1).replicas, ["dn3"]);
    t.is(stat.chunks.at(-1).version, before.version + 1);
    t.true(events.some((e) => e.kind === "chunk.version.bumped" && e.chunkId === before.chunkId && (e.failed as string[]).includes("dn2")));
  } finally {
    dns.get("dn1")!.beating = true;
    dns.get("dn2")!.beating = true;
  }
});

test.serial("deleting a file forgets its keys: a retried append then finds the file gone", async (t) => {
  await ok("rm", { path: PATH });
  t.is((await refused("appendLocate", { path: PATH, key: "k1", sizeBytes: 10 })).code, "NOT_FOUND");
});
