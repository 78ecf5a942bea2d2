/**
 * The namenode against a real nats-server: datanodes are simulated by sending
 * heartbeat/report requests, clients by sending the control requests.
 */
import test from "ava";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { loadConfig, type WoodsConfig } from "../../config/index.js";
import { runNamenode, type NamenodeHandle } from "../../actors/namenode/index.js";
import { MetaLogAppender, type MetaLogFatalError } from "../../jetstream/index.js";
import { decode, encode, subjects, type DatanodeCommand, type NamenodeVerb } from "../../messages/index.js";
import { jetstreamManager } from "@nats-io/jetstream";

const subj = subjects("woods");
let server: NatsServerHandle;
let nc: NatsConnection;
let config: WoodsConfig;
let nn: NamenodeHandle | undefined;
const fatals: MetaLogFatalError[] = [];
const events: { kind: string; [k: string]: unknown }[] = [];

/** Simulated datanodes: heartbeat every 200 ms, remember the commands they receive and the chunks they hold. */
const dns = new Map<string, { beating: boolean; commands: DatanodeCommand[]; chunks: Map<string, number>; fullReportAsked: boolean }>();
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

async function heartbeat(id: string): Promise<any> {
  const r = await ok("heartbeat", {
    id,
    startedAtMs: 1,
    capacityBytes: 100e9,
    usedBytes: 1e9,
    availableBytes: id === "dn1" ? 90e9 : id === "dn2" ? 80e9 : 70e9,
    load: 0.5,
    activeWrites: 0,
    chunkCount: dns.get(id)!.chunks.size,
    dirs: [],
  });
  const dn = dns.get(id)!;
  dn.commands.push(...r.commands);
  dn.fullReportAsked = r.fullReport;
  if (r.fullReport) await fullReport(id);
  return r;
}

async function fullReport(id: string): Promise<void> {
  const chunks = [...dns.get(id)!.chunks].map(([cid, version]) => ({ id: cid, version, sizeBytes: 1 }));
  await ok("report", { id, full: true, reportId: `r${Date.now()}`, page: 0, last: true, chunks, removed: [] });
}

function startNamenode(): Promise<NamenodeHandle> {
  return runNamenode({ config, onFatal: (e) => fatals.push(e) });
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await wait(50);
  }
}

test.before(async () => {
  server = await startNatsServer();
  config = loadConfig({
    env: {},
    overrides: {
      nats: { url: server.url },
      replication: 2,
      chunkSizeBytes: 1024 * 1024,
      log: { level: process.env.WOODS_TEST_LOG_LEVEL ?? "silent" },
      namenode: { deadAfterMs: 1500, leaseMs: 2500, tickIntervalMs: 100, logPublishTimeoutMs: 2000, logPublishRetries: 1 },
    },
  });
  nc = await connect({ servers: server.url });
  nc.subscribe(subj.eventsAll(), { callback: (_e, m) => void events.push(decode(m.data).value as never) });
  for (const id of ["dn1", "dn2", "dn3"]) dns.set(id, { beating: true, commands: [], chunks: new Map(), fullReportAsked: false });
  nn = await startNamenode();
  heartbeatTimer = setInterval(() => {
    for (const [id, dn] of dns) if (dn.beating) void heartbeat(id).catch(() => undefined);
  }, 200);
});

test.after.always(async () => {
  clearInterval(heartbeatTimer);
  await nn?.stop().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

test.serial("a new datanode is asked for a full report, then joins the live nodes", async (t) => {
  await until("three nodes are alive", async () => (await ok("nodes", {})).nodes.filter((n: any) => n.state === "alive").length === 3);
  const { nodes } = await ok("nodes", {});
  t.deepEqual(nodes.map((n: any) => n.id), ["dn1", "dn2", "dn3"]);
  await until("full reports are no longer asked", () => [...dns.values()].every((d) => !d.fullReportAsked));
  t.true(events.some((e) => e.kind === "datanode.joined" && e.id === "dn1"));
  t.true(events.some((e) => e.kind === "namenode.started"));
});

test.serial("a file is created, written, completed, then visible to stat and ls in JSON, and survives a restart", async (t) => {
  const created = await ok("create", { path: "/docs/a.txt", clientId: "t1" });
  t.is(created.replication, 2);
  t.is(created.chunkSizeBytes, 1024 * 1024);
  t.regex(created.fileId, /^[0-9a-f]{32}$/);

  const hidden = await ok("ls", { prefix: "/" });
  t.deepEqual(hidden.entries, [], "a file being written is not listed");

  const sizes = [1024 * 1024, 100];
  for (const [index, sizeBytes] of sizes.entries()) {
    const a = await ok("allocate", { fileId: created.fileId, index });
    t.is(a.version, 1);
    t.is(a.replicas.length, 2);
    t.deepEqual(a.replicas, ["dn1", "dn2"], "free-space placement picks the nodes with the most space");
    for (const dn of a.replicas) dns.get(dn)!.chunks.set(a.chunkId, 1);
    await ok("commit", { fileId: created.fileId, index, chunkId: a.chunkId, version: 1, sizeBytes, checksum: "crc32:0badf00d", replicas: a.replicas });
  }
  const early = await req("complete", { fileId: created.fileId, sizeBytes: 5, chunkCount: 2 });
  t.is(early.error?.code, "BAD_REQUEST", "sizes must add up");
  const done = await ok("complete", { fileId: created.fileId, sizeBytes: sizes[0] + sizes[1], chunkCount: 2 });
  t.is(done.path, "/docs/a.txt");

  const h = headers();
  const jsonReply = await nc.request(subj.namenode("stat"), new TextEncoder().encode('{"path":"/docs/a.txt"}'), { timeout: 5000 });
  t.is(jsonReply.headers?.get("Content-Type"), "application/json");
  const stat = JSON.parse(new TextDecoder().decode(jsonReply.data));
  t.true(stat.ok);
  t.is(stat.state, "complete");
  t.is(stat.size, sizes[0] + sizes[1]);
  t.is(stat.chunks.length, 2);
  t.deepEqual(stat.chunks.map((c: any) => c.size), sizes);
  t.deepEqual([...stat.chunks[0].replicas].sort(), ["dn1", "dn2"]);
  h.set("Content-Type", "application/json");
  const lsReply = await nc.request(subj.namenode("ls"), new TextEncoder().encode('{"prefix":"/docs"}'), { timeout: 5000, headers: h });
  const ls = JSON.parse(new TextDecoder().decode(lsReply.data));
  t.deepEqual(ls.entries, [{ name: "a.txt", path: "/docs/a.txt", type: "file", size: sizes[0] + sizes[1] }]);
  const root = await ok("ls", {});
  t.deepEqual(root.entries, [{ name: "docs", path: "/docs", type: "dir" }]);
  await until("file.created is published", () => events.some((e) => e.kind === "file.created" && e.path === "/docs/a.txt"));

  // Restart: the namespace comes back from the log, replica locations from the datanodes' full reports.
  const oldEpoch = nn!.epoch;
  await nn!.stop();
  nn = await startNamenode();
  t.is(nn.epoch, oldEpoch + 1);
  const ping = await ok("ping", {});
  t.is(ping.epoch, oldEpoch + 1);
  // Until the reports arrive, stat answers UNAVAILABLE (retryable) rather than "no replicas".
  await until("replicas are known again", async () => {
    const r = await req("stat", { path: "/docs/a.txt" });
    if (!r.ok) {
      t.is(r.error.code, "UNAVAILABLE");
      t.true(r.error.retryable);
      return false;
    }
    return r.chunks.every((c: any) => c.replicas.length === 2);
  });
  const again = await ok("stat", { path: "/docs/a.txt" });
  t.is(again.size, sizes[0] + sizes[1]);
  t.is(again.chunks[1].checksum, "crc32:0badf00d");
  const fsck = await ok("fsck", {});
  t.like(fsck, { healthy: true, files: 1, chunks: 2, missing: 0, underReplicated: 0, liveNodes: 3 });

  // rm: gone from the namespace, and each replica's holder gets a delete order.
  const chunkIds = again.chunks.map((c: any) => c.id);
  t.deepEqual(await ok("rm", { path: "/docs/a.txt" }), { ok: true, path: "/docs/a.txt" });
  t.is((await req("stat", { path: "/docs/a.txt" })).error.code, "NOT_FOUND");
  t.deepEqual((await ok("ls", {})).entries, []);
  await until("delete orders reach dn1 and dn2", () =>
    ["dn1", "dn2"].every((dn) => chunkIds.every((id: string) => dns.get(dn)!.commands.some((c) => c.chunkId === id))),
  );
  t.true(events.some((e) => e.kind === "file.deleted" && e.path === "/docs/a.txt"));
});

test.serial("create errors: EXISTS, NOT_A_FILE, IS_DIRECTORY, INVALID_PATH and BAD_REQUEST", async (t) => {
  const f = await ok("create", { path: "/e/file" });
  t.is((await req("create", { path: "/e/file" })).error.code, "EXISTS", "a file being written blocks a second create");
  t.is((await req("create", { path: "/e/file/x" })).error.code, "NOT_A_FILE");
  t.is((await req("create", { path: "/e" })).error.code, "IS_DIRECTORY");
  t.is((await req("create", { path: "/a/../b" })).error.code, "INVALID_PATH");
  t.is((await req("create", { path: "relative/path" })).error.code, "INVALID_PATH");
  t.is((await req("create", { path: 7 })).error.code, "BAD_REQUEST");
  t.is((await req("allocate", { fileId: "not a valid id!", index: 0 })).error.code, "BAD_REQUEST");
  const garbage = await nc.request(subj.namenode("create"), new Uint8Array([0xc1, 0xc1, 0xc1]), { timeout: 5000 });
  const body = decode(garbage.data).value as any;
  t.false(body.ok);
  t.is(body.error.code, "BAD_REQUEST");
  await ok("abandon", { fileId: f.fileId });
  t.is((await req("stat", { path: "/e/file" })).error.code, "NOT_FOUND");
  t.is((await ok("ping", {})).role, "namenode", "the namenode keeps serving after bad requests");
});

test.serial("a writer that goes silent loses its file after leaseMs", async (t) => {
  const f = await ok("create", { path: "/lease/f" });
  const a = await ok("allocate", { fileId: f.fileId, index: 0 });
  await until("the lease expires", async () => (await req("stat", { path: "/lease/f" })).error?.code === "NOT_FOUND", 6000);
  const late = await req("commit", { fileId: f.fileId, index: 0, chunkId: a.chunkId, version: 1, sizeBytes: 1, checksum: "crc32:00000000", replicas: a.replicas });
  t.is(late.error.code, "LEASE_EXPIRED");
});

test.serial("a datanode without heartbeats becomes dead and gets no new chunks", async (t) => {
  dns.get("dn1")!.beating = false;
  await until("dn1 is dead", async () => (await ok("nodes", {})).nodes.find((n: any) => n.id === "dn1").state === "dead");
  t.true(events.some((e) => e.kind === "datanode.dead" && e.id === "dn1"));
  const f = await ok("create", { path: "/dead/f", replication: 3 });
  const a = await ok("allocate", { fileId: f.fileId, index: 0 });
  t.deepEqual([...a.replicas].sort(), ["dn2", "dn3"], "only the two live nodes are chosen");
  const ex = await ok("allocate", { fileId: f.fileId, index: 0, exclude: ["dn2"] });
  t.deepEqual(ex.replicas, ["dn3"]);
  const none = await req("allocate", { fileId: f.fileId, index: 0, exclude: ["dn2", "dn3"] });
  t.is(none.error.code, "NOT_ENOUGH_NODES");
  t.true(none.error.retryable);
  dns.get("dn1")!.beating = true;
});

test.serial("concurrent creates are group-committed into fewer log messages than entries", async (t) => {
  const jsm = await jetstreamManager(nc);
  const before = (await jsm.streams.info(subj.metaStream())).state.messages;
  const n = 300;
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => req("create", { path: `/group/f${i}` })));
  t.true(replies.every((r) => r.ok));
  const after = (await jsm.streams.info(subj.metaStream())).state.messages;
  t.true(after - before < n, `${n} creates took ${after - before} log messages`);
  t.true(after - before >= Math.ceil(n / config.namenode.logBatchMaxEntries));
  // Every acknowledged create is in the log: a replay sees them all.
  await nn!.stop();
  nn = await startNamenode();
  for (let i = 0; i < n; i += 37) t.is((await ok("stat", { path: `/group/f${i}` })).state, "writing");
});

test.serial("an empty file is created and completed in one request; a retry of it (same clientId) gets the same file, also after a restart", async (t) => {
  const first = await ok("create", { path: "/empty/one", clientId: "e1", empty: true });
  const st = await ok("stat", { path: "/empty/one" });
  t.is(st.state, "complete");
  t.is(st.size, 0);
  t.deepEqual(st.chunks, []);
  t.true((await ok("ls", { prefix: "/empty" })).entries.some((e: any) => e.name === "one"), "listed at once");
  const again = await ok("create", { path: "/empty/one", clientId: "e1", empty: true });
  t.is(again.fileId, first.fileId, "the retry is answered with the same file");
  const other = await req("create", { path: "/empty/one", clientId: "someone-else", empty: true });
  t.is(other.error?.code, "EXISTS", "another writer is refused");
  await nn!.stop();
  nn = await startNamenode();
  const afterRestart = await ok("create", { path: "/empty/one", clientId: "e1", empty: true });
  t.is(afterRestart.fileId, first.fileId, "the log replay remembers who created it");
});

test.serial("a second writer on the metadata stream fences the namenode", async (t) => {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(subj.metaStream());
  const intruder = new MetaLogAppender(nc, subj, {
    batchMaxEntries: 10,
    publishTimeoutMs: 2000,
    publishRetries: 0,
    retryDelayMs: 10,
    lastSeq: info.state.last_seq,
  });
  await intruder.append({ op: "epoch", epoch: 1000, namenodeId: "intruder", atMs: Date.now() });
  const r = await req("create", { path: "/fenced/f" });
  t.false(r.ok);
  t.is(r.error.code, "FENCED");
  t.is(fatals.length, 1);
  t.is(fatals[0].code, "FENCED");
  // The intruder is equally fenced by a stale view.
  const stale = new MetaLogAppender(nc, subj, { batchMaxEntries: 10, publishTimeoutMs: 2000, publishRetries: 0, retryDelayMs: 10, lastSeq: info.state.last_seq });
  const err = await stale.append({ op: "epoch", epoch: 1001, namenodeId: "late", atMs: Date.now() }).catch((e) => e);
  t.is(err.code, "FENCED");
});
