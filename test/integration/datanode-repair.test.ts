import test from "ava";
import { randomBytes, createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, renameSync, writeFileSync, openSync, readSync, writeSync, closeSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { runDatanode, type DatanodeHandle } from "../../actors/datanode/index.js";
import { loadConfig, type WoodsConfig } from "../../config/index.js";
import { call } from "../../actors/rpc.js";
import { chunkChecksum, decode, encode, type FrameAck, type DatanodeReplies } from "../../messages/index.js";
import { canMountTmpfs } from "../helpers/tmpfs.js";
import { sendFrames } from "../helpers/frames.js";

const FRAME = 256 * 1024;
const BUCKET = "woods-staging";

let server: NatsServerHandle;
let nc: NatsConnection;
let os: ObjectStore;
let config: WoodsConfig;
const dns: Record<string, { handle: DatanodeHandle; dirs: string[] }> = {};
const heartbeats: Record<string, unknown>[] = [];
const reports: Record<string, unknown>[] = [];
const events: Record<string, unknown>[] = [];
const pendingCommands: Record<string, unknown[]> = {};
const askFull = new Set<string>();

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const code = (e: unknown) => (e as { code?: string } | undefined)?.code;

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function startDn(id: string, dirs: string[], overrides: Partial<WoodsConfig["datanode"]> = {}): Promise<void> {
  const c = { ...config, datanode: { ...config.datanode, ...overrides } };
  dns[id] = { handle: await runDatanode({ id, dirs, config: c }), dirs };
}

function newDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `woods-dn-repair-${name}-`));
}

test.before(async () => {
  setSha256Backend("native");
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  // A stand-in namenode: records heartbeats and reports, hands out orders, asks for full reports on demand.
  nc.subscribe("woods.namenode.dn.*.heartbeat", {
    callback: (_e, m) => {
      const hb = decode(m.data).value as Record<string, unknown>;
      heartbeats.push(hb);
      const id = hb.id as string;
      const commands = pendingCommands[id] ?? [];
      pendingCommands[id] = [];
      m.respond(encode({ ok: true, commands, fullReport: askFull.delete(id) }));
    },
  });
  nc.subscribe("woods.namenode.dn.*.report", {
    callback: (_e, m) => {
      reports.push(decode(m.data).value as Record<string, unknown>);
      m.respond(encode({ ok: true }));
    },
  });
  nc.subscribe("woods.events.>", {
    callback: (_e, m) => {
      events.push(decode(m.data).value as Record<string, unknown>);
    },
  });
  config = loadConfig({
    env: {},
    overrides: {
      nats: { url: server.url },
      log: { level: (process.env.WOODS_TEST_LOG as "debug") ?? "silent" },
      frameSizeBytes: FRAME,
      client: { requestTimeoutMs: 5000 },
      datanode: { heartbeatIntervalMs: 100, blockSizeBytes: 65536, dirCheckIntervalMs: 150, scrubBytesPerSecond: 0 },
    },
  });
  os = await new Objm(nc).create(BUCKET);
  await startDn("dn1", [newDir("dn1")]);
  await startDn("dn2", [newDir("dn2")]);
  await startDn("dn3", [newDir("dn3a"), newDir("dn3b")]);
});

test.after.always(async () => {
  for (const { handle } of Object.values(dns)) await handle.stop().catch(() => undefined);
  await nc?.close();
  await server?.stop();
  for (const { dirs } of Object.values(dns)) for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Puts `data` on datanode `dn` as chunk `chunkId` v`version` through the staged path. */
async function place(dn: string, chunkId: string, data: Buffer, version = 1): Promise<void> {
  const object = `place-${chunkId}-${dn}`;
  await os.putBlob({ name: object, options: { max_chunk_size: FRAME } }, data);
  await call(nc, `woods.datanode.${dn}.ingest`, { chunkId, version, bucket: BUCKET, object, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)) }, 10_000);
  await os.delete(object);
}

async function readAll(dn: string, chunkId: string, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; at += FRAME) {
    const r = await call<{ data: Uint8Array }>(nc, `woods.datanode.${dn}.read`, { chunkId, version: 1, offset: at, length: FRAME }, 5000);
    parts.push(Buffer.from(r.data));
  }
  return Buffer.concat(parts);
}

function replicateOrder(chunkId: string, data: Buffer, targets: string[], extra: Record<string, unknown> = {}) {
  return { repairId: `rep-${chunkId}-${targets.join("-")}`, chunkId, version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), targets, bucket: BUCKET, ...extra };
}

/** Whether staged object `name` is absent or deleted, and no object's data is left in the bucket (only small delete markers). */
async function stagedGone(name: string): Promise<boolean> {
  const info = await os.info(name);
  const status = await os.status();
  return (info === null || info.deleted === true) && status.size < 64 * 1024;
}

const deltasFrom = (dn: string) => reports.filter((r) => r.id === dn && r.full === false);
const lists = (r: Record<string, unknown>, field: string, id: string) => ((r[field] as { id: string }[] | undefined) ?? []).some((c) => c.id === id);

test.serial("replicate copies a chunk from dn1 to dn2 through staging; dn2 reports it and the staged object is gone", async (t) => {
  const data = randomBytes(FRAME * 5 + 777);
  await place("dn1", "rc1", data);
  reports.length = 0;
  const order = replicateOrder("rc1", data, ["dn2"]);
  const reply = await call<DatanodeReplies["replicate"]>(nc, "woods.datanode.dn1.replicate", order, 30_000);
  t.deepEqual(reply.confirmed, ["dn2"]);
  t.deepEqual(reply.failed, []);
  t.is(sha(await readAll("dn2", "rc1", data.length)), sha(data));
  t.true(await stagedGone(order.repairId));
  await waitFor("a delta from dn2 listing rc1", () => deltasFrom("dn2").find((r) => lists(r, "chunks", "rc1")));
  t.true(events.some((e) => e.kind === "chunk.stored" && e.dn === "dn2" && e.chunkId === "rc1"));
  // The source still holds and serves its copy.
  t.is(sha(await readAll("dn1", "rc1", data.length)), sha(data));
});

test.serial("replicate to a target that already holds the chunk succeeds there and reports it again; an absent target fails alone", async (t) => {
  const data = randomBytes(FRAME + 5);
  await place("dn1", "rc2", data);
  await place("dn2", "rc2", data);
  reports.length = 0;
  const reply = await call<DatanodeReplies["replicate"]>(nc, "woods.datanode.dn1.replicate", replicateOrder("rc2", data, ["dn2", "ghost"]), 30_000);
  t.deepEqual(reply.confirmed, ["dn2"]);
  t.is(reply.failed.length, 1);
  t.is(reply.failed[0].dn, "ghost");
  t.is(reply.failed[0].code, "UNAVAILABLE");
  await waitFor("dn2 to report rc2 again", () => deltasFrom("dn2").find((r) => lists(r, "chunks", "rc2")));
});

test.serial("replicate refuses a chunk it does not hold, a version it does not hold, and orders from an older epoch", async (t) => {
  const data = randomBytes(100);
  await place("dn1", "rc3", data, 2);
  const missing = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", replicateOrder("nothere", data, ["dn2"]), 5000));
  t.is(code(missing), "NOT_FOUND");
  const stale = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", replicateOrder("rc3", data, ["dn2"]), 5000));
  t.is(code(stale), "STALE");
  const ok = await call<DatanodeReplies["replicate"]>(nc, "woods.datanode.dn1.replicate", replicateOrder("rc3", data, ["dn2"], { version: 2, epoch: 7 }), 30_000);
  t.deepEqual(ok.confirmed, ["dn2"]);
  const fenced = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", replicateOrder("rc3", data, ["dn3"], { version: 2, epoch: 6, repairId: "old" }), 5000));
  t.is(code(fenced), "FENCED");
  const bad = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", replicateOrder("rc3", data, ["dn2"], { version: 2, bucket: "no.dots" }), 5000));
  t.is(code(bad), "BAD_REQUEST");
});

test.serial("replicate from a corrupt source fails with CHECKSUM, reports the replica corrupt and stages nothing; a corrupt delete order removes it", async (t) => {
  const data = randomBytes(FRAME * 3);
  await place("dn1", "rc4", data);
  const path = join(dns.dn1.dirs[0], "chunks", "rc4_v1.chunk");
  const fd = openSync(path, "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, FRAME * 2 + 9);
  writeSync(fd, Buffer.from([b[0] ^ 0x40]), 0, 1, FRAME * 2 + 9);
  closeSync(fd);
  reports.length = 0;
  const order = replicateOrder("rc4", data, ["dn2"]);
  const err = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", order, 30_000));
  t.is(code(err), "CHECKSUM");
  const delta = await waitFor("a corrupt report from dn1", () => deltasFrom("dn1").find((r) => lists(r, "corrupt", "rc4")));
  // Not also `removed`: the namenode applies removals after corrupt marks and would forget the copy to delete.
  t.false(lists(delta, "removed", "rc4"));
  t.true(events.some((e) => e.kind === "chunk.corrupt" && e.dn === "dn1" && e.chunkId === "rc4"));
  t.true(await stagedGone(order.repairId));
  t.is(code(await t.throwsAsync(call(nc, "woods.datanode.dn2.read", { chunkId: "rc4", version: 1, offset: 0, length: 1 }, 5000))), "NOT_FOUND");
  t.is(code(await t.throwsAsync(call(nc, "woods.datanode.dn1.read", { chunkId: "rc4", version: 1, offset: 0, length: 1 }, 5000))), "NOT_FOUND");
  t.deepEqual(readdirSync(join(dns.dn1.dirs[0], "corrupt")), ["rc4_v1.chunk"]);

  // A full report lists it as corrupt, not as held.
  reports.length = 0;
  askFull.add("dn1");
  const full = await waitFor("a full report from dn1", () => reports.find((r) => r.id === "dn1" && r.full === true && r.last === true));
  t.true(lists(full, "corrupt", "rc4"));
  t.false(lists(full, "chunks", "rc4"));

  reports.length = 0;
  pendingCommands.dn1 = [{ type: "delete", chunkId: "rc4", version: 1, reason: "corrupt" }];
  await waitFor("dn1 to report the corrupt copy removed", () => deltasFrom("dn1").find((r) => lists(r, "removed", "rc4")));
  t.deepEqual(readdirSync(join(dns.dn1.dirs[0], "corrupt")), []);
});

test.serial("a data dir replaced by a file is reported failed, its chunks removed, and dn3 keeps serving and writing from the other dir", async (t) => {
  const [a, b] = dns.dn3.dirs;
  const onA = randomBytes(5000);
  await place("dn3", "dd1", onA);
  const home = existsSync(join(a, "chunks", "dd1_v1.chunk")) ? a : b;
  const other = home === a ? b : a;
  reports.length = 0;
  renameSync(home, `${home}.gone`);
  writeFileSync(home, "this data dir is gone");
  t.teardown(() => rmSync(`${home}.gone`, { recursive: true, force: true }));

  const delta = await waitFor("dn3 to report dd1 removed", () => deltasFrom("dn3").find((r) => lists(r, "removed", "dd1")));
  t.truthy(delta);
  const ev = await waitFor("a datanode.dir.failed event", () => events.find((e) => e.kind === "datanode.dir.failed" && e.dn === "dn3"));
  t.is(ev.dir, home);
  const hb = await waitFor("a heartbeat with the failed dir", () =>
    heartbeats.find((h) => h.id === "dn3" && (h.dirs as { path: string; failed: boolean }[]).some((d) => d.path === home && d.failed)),
  );
  const dirs = hb.dirs as { path: string; failed: boolean; availableBytes: number }[];
  t.is(dirs.find((d) => d.path === home)!.availableBytes, 0);
  t.false(dirs.find((d) => d.path === other)!.failed);
  t.true((hb.availableBytes as number) > 0);
  t.is(code(await t.throwsAsync(call(nc, "woods.datanode.dn3.read", { chunkId: "dd1", version: 1, offset: 0, length: 1 }, 5000))), "NOT_FOUND");
  const fresh = randomBytes(7000);
  await place("dn3", "dd2", fresh);
  t.true(existsSync(join(other, "chunks", "dd2_v1.chunk")));
  t.is(sha(await readAll("dn3", "dd2", fresh.length)), sha(fresh));
});



(canMountTmpfs() ? test.serial : test.skip)("a disk that fills during a write acknowledges no chunk, leaves nothing behind, and the heartbeat shows it full", async (t) => {
  const dir = newDir("full");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir]);
  t.teardown(() => {
    try {
      execFileSync("umount", ["-l", dir]);
    } catch {
      /* already unmounted */
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await startDn("dnfull", [dir]);
  const data = randomBytes(3 * 1024 * 1024);
  await call(nc, "woods.datanode.dnfull.open", { chunkId: "full1", version: 1, maxSizeBytes: data.length }, 5000);
  // Someone else fills the disk after the write was placed.
  writeFileSync(join(dir, "filler"), Buffer.alloc(2 * 1024 * 1024));
  const acks = await sendFrames(nc, "full1", data, FRAME);
  t.true(acks.some((a) => !a.ok && a.error?.code === "NO_SPACE"), JSON.stringify(acks.filter((a) => !a.ok)));
  const closed = await t.throwsAsync(
    call(nc, "woods.datanode.dnfull.close", { chunkId: "full1", version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), frames: acks.length }, 5000),
  );
  t.truthy(code(closed));
  t.deepEqual(readdirSync(join(dir, "chunks")), []);
  t.deepEqual(readdirSync(join(dir, "tmp")), []);
  const before = heartbeats.length;
  const hb = await waitFor("a heartbeat from dnfull", () => heartbeats.slice(before).find((h) => h.id === "dnfull"));
  t.true((hb.availableBytes as number) < 2.5 * 1024 * 1024);
  t.true((hb.availableBytes as number) < config.namenode.fullReserveBytes);
  t.is(hb.chunkCount, 0);
  // A full disk is not a failed one.
  t.false((hb.dirs as { failed: boolean }[])[0].failed);
  t.false(events.some((e) => e.kind === "datanode.dir.failed" && e.dn === "dnfull"));
  await dns.dnfull.handle.stop();
  delete dns.dnfull;
});
