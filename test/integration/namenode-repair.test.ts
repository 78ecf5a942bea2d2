/**
 * The namenode's fault handling against a real nats-server, with simulated
 * datanodes: they heartbeat, report, carry out delete orders and answer
 * `replicate` (copying the chunk to the targets in their model), so the
 * watchdog's repairs, trims, corrupt and safe-mode handling can be watched end
 * to end. Crash points are tested on a namenode child process.
 */
import test from "ava";
import { spawn } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { loadConfig, type WoodsConfig } from "../../config/index.js";
import { runNamenode, type NamenodeHandle } from "../../actors/namenode/index.js";
import { decode, encode, subjects, okBody, errorBody, type DatanodeCommand, type NamenodeVerb } from "../../messages/index.js";

const subj = subjects("woods");
const ROOT = new URL("../..", import.meta.url).pathname;
let server: NatsServerHandle;
let nc: NatsConnection;
let config: WoodsConfig;
let nn: NamenodeHandle | undefined;
const events: { kind: string; [k: string]: unknown }[] = [];

interface SimDn {
  beating: boolean;
  /** Withhold full reports (a slow datanode after a namenode restart). */
  holdReports: boolean;
  chunks: Map<string, number>;
  corrupt: Map<string, number>;
  commands: DatanodeCommand[];
  replicateCalls: number;
  /** Answer the next N replicate orders with an error. */
  failReplicates: number;
  availableBytes: number;
}
const dns = new Map<string, SimDn>();
let heartbeatTimer: NodeJS.Timeout | undefined;

async function req(verb: NamenodeVerb, body: unknown, timeout = 5000): Promise<any> {
  const reply = await nc.request(subj.namenode(verb), encode(body), { timeout });
  return decode(reply.data).value;
}

async function ok(verb: NamenodeVerb, body: unknown): Promise<any> {
  const r = await req(verb, body);
  if (!r.ok) throw new Error(`${verb} failed: ${r.error.code} ${r.error.message}`);
  return r;
}

async function delta(id: string, over: { chunks?: { id: string; version: number; sizeBytes: number }[]; removed?: { id: string; version: number }[]; corrupt?: { id: string; version: number; reason: string }[] }) {
  await ok("report", { id, full: false, reportId: `d${Date.now()}`, page: 0, last: true, chunks: [], removed: [], ...over });
}

async function heartbeat(id: string): Promise<void> {
  const dn = dns.get(id)!;
  const r = await ok("heartbeat", {
    id,
    startedAtMs: 1,
    capacityBytes: 100e9,
    usedBytes: 1e9,
    availableBytes: dn.availableBytes,
    load: 0.5,
    activeWrites: 0,
    chunkCount: dn.chunks.size,
    dirs: [],
  });
  for (const c of r.commands as DatanodeCommand[]) {
    dn.commands.push(c);
    const removed = dn.chunks.delete(c.chunkId) || dn.corrupt.delete(c.chunkId);
    if (removed) await delta(id, { removed: [{ id: c.chunkId, version: c.version }] });
  }
  if (r.fullReport && !dn.holdReports) {
    const chunks = [...dn.chunks].map(([cid, version]) => ({ id: cid, version, sizeBytes: 100 }));
    const corrupt = [...dn.corrupt].map(([cid, version]) => ({ id: cid, version, reason: "scrub" }));
    await ok("report", { id, full: true, reportId: `r${Date.now()}`, page: 0, last: true, chunks, removed: [], corrupt });
  }
}

/** A simulated datanode answering `replicate`: the targets get the chunk and report it. */
function serveReplicate(id: string): void {
  nc.subscribe(subj.datanode(id, "replicate"), {
    callback: (_e, m) => {
      void (async () => {
        const body = decode(m.data).value as any;
        const dn = dns.get(id)!;
        dn.replicateCalls++;
        await wait(300);
        if (dn.failReplicates > 0) {
          dn.failReplicates--;
          m.respond(encode(errorBody({ code: "IO", message: `${id} could not read its copy`, retryable: true })));
          return;
        }
        const confirmed: string[] = [];
        for (const t of body.targets as string[]) {
          const target = dns.get(t)!;
          if (!target.beating) continue;
          target.chunks.set(body.chunkId, body.version);
          await delta(t, { chunks: [{ id: body.chunkId, version: body.version, sizeBytes: body.sizeBytes }] });
          confirmed.push(t);
        }
        const failed = (body.targets as string[]).filter((t) => !confirmed.includes(t)).map((dn) => ({ dn, code: "UNAVAILABLE", message: "down" }));
        m.respond(encode(okBody({ confirmed, failed })));
      })();
    },
  });
}

function startNamenode(): Promise<NamenodeHandle> {
  return runNamenode({ config });
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await wait(50);
  }
}

const eventsOf = (kind: string, chunkId?: string) => events.filter((e) => e.kind === kind && (chunkId === undefined || e.chunkId === chunkId));

/** Writes a one-chunk file through the namenode, as a client would; returns its chunk id and replicas. */
async function writeFile(path: string): Promise<{ chunkId: string; replicas: string[] }> {
  const f = await ok("create", { path, clientId: `w-${path}` });
  const a = await ok("allocate", { fileId: f.fileId, index: 0 });
  for (const dn of a.replicas) dns.get(dn)!.chunks.set(a.chunkId, 1);
  await ok("commit", { fileId: f.fileId, index: 0, chunkId: a.chunkId, version: 1, sizeBytes: 100, checksum: "crc32:0badf00d", replicas: a.replicas });
  await ok("complete", { fileId: f.fileId, sizeBytes: 100, chunkCount: 1 });
  return { chunkId: a.chunkId, replicas: a.replicas };
}

const holders = (chunkId: string) => [...dns].filter(([, d]) => d.chunks.has(chunkId)).map(([id]) => id).sort();

test.before(async () => {
  server = await startNatsServer();
  config = loadConfig({
    env: {},
    overrides: {
      nats: { url: server.url },
      replication: 2,
      chunkSizeBytes: 1024 * 1024,
      log: { level: process.env.WOODS_TEST_LOG_LEVEL ?? "silent" },
      namenode: {
        deadAfterMs: 1500,
        leaseMs: 20_000,
        tickIntervalMs: 100,
        logPublishTimeoutMs: 2000,
        logPublishRetries: 1,
        orphanGraceMs: 1000,
        repairTimeoutMs: 3000,
        repairAttemptsMax: 3,
        safeModeExtensionMs: 300,
        safeModeMaxMs: 20_000,
        stagingMaxAgeMs: 3000,
      },
    },
  });
  nc = await connect({ servers: server.url });
  nc.subscribe(subj.eventsAll(), { callback: (_e, m) => void events.push(decode(m.data).value as never) });
  const space: Record<string, number> = { dn1: 90e9, dn2: 80e9, dn3: 70e9, dn4: 60e9 };
  for (const id of Object.keys(space)) {
    dns.set(id, { beating: true, holdReports: false, chunks: new Map(), corrupt: new Map(), commands: [], replicateCalls: 0, failReplicates: 0, availableBytes: space[id] });
    serveReplicate(id);
  }
  nn = await startNamenode();
  heartbeatTimer = setInterval(() => {
    for (const [id, dn] of dns) if (dn.beating) void heartbeat(id).catch(() => undefined);
  }, 150);
  await until("four nodes are alive", async () => (await ok("nodes", {})).nodes.filter((n: any) => n.state === "alive").length === 4);
});

test.after.always(async () => {
  clearInterval(heartbeatTimer);
  await nn?.stop().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

test.serial("a namenode on an empty namespace leaves safe mode at once", async (t) => {
  await until("safe mode is left", () => eventsOf("namenode.safemode.left").length > 0, 3000);
  t.false((await ok("fsck", {})).safeMode);
  t.is(eventsOf("namenode.safemode.entered").length, 1);
  t.regex(String(eventsOf("namenode.safemode.left")[0].reason), /no committed chunk/);
});

test.serial("a chunk of a dead datanode is re-replicated from a live copy, and trimmed when the node returns", async (t) => {
  const { chunkId, replicas } = await writeFile("/r/a");
  t.deepEqual([...replicas].sort(), ["dn1", "dn2"]);
  dns.get("dn1")!.beating = false;
  await until("dn1 is dead", () => events.some((e) => e.kind === "datanode.dead" && e.id === "dn1"));
  await until("the repair is running", async () => (await ok("fsck", {})).repairsInflight === 1, 3000);
  const during = (await ok("nodes", {})).nodes;
  t.is(during.find((n: any) => n.id === "dn2").repairs, 1, "the source counts the repair");
  t.is(during.find((n: any) => n.id === "dn3").repairs, 1, "so does the target");
  await until("the chunk is repaired", () => eventsOf("chunk.repaired", chunkId).length > 0);
  const under = eventsOf("chunk.underreplicated", chunkId)[0];
  t.like(under, { live: 1, replication: 2, path: "/r/a" });
  const repaired = eventsOf("chunk.repaired", chunkId)[0];
  t.like(repaired, { source: "dn2", targets: ["dn3"], bytes: 100 });
  t.true((repaired.ms as number) >= 250, "the repair time is measured");
  const stat = await ok("stat", { path: "/r/a" });
  t.deepEqual([...stat.chunks[0].replicas].sort(), ["dn2", "dn3"]);
  await until("fsck is healthy again", async () => {
    const f = await ok("fsck", {});
    return f.healthy && f.repairsInflight === 0;
  });

  // dn1 comes back with its copy: three good copies for replication 2, so one goes (the fullest: dn3).
  dns.get("dn1")!.beating = true;
  await until("dn1 is alive again", () => events.some((e) => e.kind === "datanode.alive" && e.id === "dn1"));
  await until("the surplus copy is trimmed", () => eventsOf("chunk.trimmed", chunkId).length > 0);
  t.like(eventsOf("chunk.trimmed", chunkId)[0], { dn: "dn3", reason: "surplus" });
  await until("dn3 deleted it", () => !dns.get("dn3")!.chunks.has(chunkId));
  t.true(dns.get("dn3")!.commands.some((c) => c.chunkId === chunkId && c.reason === "surplus"));
  t.deepEqual(holders(chunkId), ["dn1", "dn2"]);
  await until("fsck is healthy", async () => (await ok("fsck", {})).healthy);
  t.is(dns.get("dn1")!.replicateCalls + dns.get("dn4")!.replicateCalls, 0, "only the live holder was asked to copy");
});

test.serial("a corrupt replica is never served, is repaired from a good copy, and deleted after that", async (t) => {
  const { chunkId } = await writeFile("/r/corrupt");
  const [bad, good] = holders(chunkId);
  dns.get(bad)!.chunks.delete(chunkId);
  dns.get(bad)!.corrupt.set(chunkId, 1);
  await delta(bad, { corrupt: [{ id: chunkId, version: 1, reason: "block 0 CRC mismatch" }] });
  await until("chunk.corrupt is published", () => eventsOf("chunk.corrupt", chunkId).length > 0);
  t.like(eventsOf("chunk.corrupt", chunkId)[0], { dn: bad, reason: "block 0 CRC mismatch", path: "/r/corrupt" });
  const stat = await ok("stat", { path: "/r/corrupt" });
  t.deepEqual(stat.chunks[0].replicas, [good], "the corrupt copy is not listed");
  const fsck = await ok("fsck", {});
  t.is(fsck.corrupt, 1);
  t.false(fsck.healthy);
  await until("the chunk is repaired", () => eventsOf("chunk.repaired", chunkId).length > 0);
  t.is(eventsOf("chunk.repaired", chunkId)[0].source, good);
  await until("the corrupt copy is ordered deleted", () => dns.get(bad)!.commands.some((c) => c.chunkId === chunkId && c.reason === "corrupt"));
  t.like(eventsOf("chunk.trimmed", chunkId)[0], { dn: bad, reason: "corrupt" });
  // The corrupt copy went only after the good copies met the replication factor.
  const trimmedAt = eventsOf("chunk.trimmed", chunkId)[0].atMs as number;
  t.true(trimmedAt >= (eventsOf("chunk.repaired", chunkId)[0].atMs as number));
  await until("fsck is healthy", async () => {
    const f = await ok("fsck", {});
    return f.healthy && f.corrupt === 0;
  });
});

test.serial("a failed repair is reported and retried", async (t) => {
  const { chunkId } = await writeFile("/r/retry");
  const [lost, source] = holders(chunkId);
  dns.get(source)!.failReplicates = 1;
  // The copy on `lost` vanishes (its dir failed): reported removed.
  dns.get(lost)!.chunks.delete(chunkId);
  await delta(lost, { removed: [{ id: chunkId, version: 1 }] });
  await until("the failure is announced", () => eventsOf("chunk.repair.failed", chunkId).length > 0);
  t.like(eventsOf("chunk.repair.failed", chunkId)[0], { source, code: "IO", attempt: 1 });
  await until("the retry succeeds", () => eventsOf("chunk.repaired", chunkId).length > 0);
  t.is(dns.get(source)!.replicateCalls >= 2, true);
  await until("fsck is healthy", async () => (await ok("fsck", {})).healthy);
});

test.serial("after a restart the namenode stays in safe mode until the datanodes reported, and a retried create or commit completes once", async (t) => {
  // A write in flight across the restart: created and allocated before, committed after.
  const f = await ok("create", { path: "/r/inflight", clientId: "writer-7" });
  const a = await ok("allocate", { fileId: f.fileId, index: 0 });
  for (const dn of a.replicas) dns.get(dn)!.chunks.set(a.chunkId, 1);
  const repairedBefore = events.filter((e) => e.kind === "chunk.repaired").length;

  for (const dn of dns.values()) dn.holdReports = true;
  await nn!.stop();
  const enteredBefore = eventsOf("namenode.safemode.entered").length;
  nn = await startNamenode();
  await until("safe mode entered", () => eventsOf("namenode.safemode.entered").length > enteredBefore);
  const fsck = await ok("fsck", {});
  t.true(fsck.safeMode);
  const stat = await req("stat", { path: "/r/a" });
  t.is(stat.error?.code, "UNAVAILABLE");
  t.true(stat.error?.retryable);
  await wait(600);
  t.true((await ok("fsck", {})).safeMode, "still in safe mode while nothing is reported");
  t.is(events.filter((e) => e.kind === "chunk.repaired").length, repairedBefore, "no repair storm in safe mode");

  const retried = await ok("create", { path: "/r/inflight", clientId: "writer-7" });
  t.is(retried.fileId, f.fileId, "the same writer gets its file back");
  t.is((await req("create", { path: "/r/inflight", clientId: "someone-else" })).error.code, "EXISTS");
  await ok("commit", { fileId: f.fileId, index: 0, chunkId: a.chunkId, version: 1, sizeBytes: 10, checksum: "crc32:00000001", replicas: a.replicas });
  await ok("commit", { fileId: f.fileId, index: 0, chunkId: a.chunkId, version: 1, sizeBytes: 10, checksum: "crc32:00000001", replicas: a.replicas });
  await ok("complete", { fileId: f.fileId, sizeBytes: 10, chunkCount: 1 });
  t.like(await ok("complete", { fileId: f.fileId, sizeBytes: 10, chunkCount: 1 }), { path: "/r/inflight", size: 10 }, "a retried complete succeeds");

  const leftBefore = eventsOf("namenode.safemode.left").length;
  for (const dn of dns.values()) dn.holdReports = false;
  await until("safe mode is left", () => eventsOf("namenode.safemode.left").length > leftBefore);
  t.false((await ok("fsck", {})).safeMode);
  t.is((await ok("stat", { path: "/r/a" })).chunks[0].replicas.length, 2);
  await until("fsck is healthy", async () => (await ok("fsck", {})).healthy);
});

test.serial("nodes reports failed data dirs", async (t) => {
  const hb = { id: "dn4", startedAtMs: 1, capacityBytes: 100e9, usedBytes: 1e9, availableBytes: 60e9, load: 0.5, activeWrites: 0, chunkCount: 0 };
  dns.get("dn4")!.beating = false;
  await ok("heartbeat", { ...hb, dirs: [{ path: "/d1", capacityBytes: 1, availableBytes: 1, failed: true }, { path: "/d2", capacityBytes: 1, availableBytes: 1, failed: false }] });
  t.is((await ok("nodes", {})).nodes.find((n: any) => n.id === "dn4").failedDirs, 1);
  await ok("heartbeat", { ...hb, dirs: [] });
  dns.get("dn4")!.beating = true;
  t.is((await ok("nodes", {})).nodes.find((n: any) => n.id === "dn4").failedDirs, 0);
});

test.serial("old objects in the staging bucket are deleted, young ones kept", async (t) => {
  const os = await new Objm(nc).create(subj.stagingBucket());
  await os.putBlob({ name: "old-repair" }, new Uint8Array([1, 2, 3]));
  await wait(1500);
  await os.putBlob({ name: "young-repair" }, new Uint8Array([4]));
  await until("the old object is swept", async () => (await os.info("old-repair"))?.deleted === true, 8000);
  t.false((await os.info("young-repair"))?.deleted ?? true, "the young object is still there");
});

/** Runs a namenode child process with a crash point armed; resolves with how it ended. */
function crashingNamenode(spec: string): { exited: Promise<{ code: number | null; signal: string | null }>; ready: Promise<void> } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", 'const { runNamenode } = await import("./actors/namenode/index.js"); const { loadConfig } = await import("./config/index.js"); await runNamenode({ config: loadConfig() }); process.stdout.write("ready\\n");'],
    {
      cwd: ROOT,
      env: { ...process.env, WOODS_NATS: server.url, WOODS_FAULT_NAMENODE_CRASH: spec, WOODS_LOG_LEVEL: "warn", WOODS_NAMENODE_TICK_INTERVAL_MS: "100" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("ready") && resolve());
    child.once("exit", () => reject(new Error(`namenode child exited before serving: ${stderr}`)));
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { ready, exited };
}

test.serial("crash points kill the namenode at the chosen instant; acknowledged or not, a retry completes once", async (t) => {
  await nn!.stop();
  nn = undefined;
  for (const [spec, expectLogged] of [
    ["before-append:create", false],
    ["after-puback:create", true],
    ["after-reply:create", true],
  ] as const) {
    const path = `/crash/${spec.split(":")[0]}`;
    const child = crashingNamenode(spec);
    await child.ready;
    const r = await req("create", { path, clientId: `c-${spec}` }, 3000).catch((e) => ({ lost: e }));
    const end = await child.exited;
    t.is(end.signal, "SIGKILL", `${spec}: the namenode killed itself`);
    if (spec.startsWith("after-reply")) t.true((r as any).ok, "after-reply: the answer arrived before the crash");
    else t.truthy((r as any).lost, `${spec}: the client saw no answer`);
    nn = await startNamenode();
    const seen = await req("stat", { path });
    t.is(seen.ok === true, expectLogged, `${spec}: the create is ${expectLogged ? "" : "not "}in the log`);
    const again = await ok("create", { path, clientId: `c-${spec}` });
    if (spec.startsWith("after-reply")) t.is(again.fileId, (r as any).fileId, "the retry returns the acknowledged file");
    t.is((await ok("stat", { path })).state, "writing");
    await nn.stop();
    nn = undefined;
  }
  nn = await startNamenode();
});
