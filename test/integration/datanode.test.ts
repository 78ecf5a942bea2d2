import test from "ava";
import { randomBytes, createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend } from "@nats-io/obj";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { runDatanode } from "../../actors/datanode/index.js";
import { loadConfig } from "../../config/index.js";
import { call } from "../../actors/rpc.js";
import { chunkChecksum, decode, encode, type FrameAck } from "../../messages/index.js";
import { sendFrames } from "../helpers/frames.js";

const FRAME = 256 * 1024;
const IDLE_MS = 600;

let server: NatsServerHandle;
let nc: NatsConnection;
let dn: { stop(): Promise<void> };
let dataDir: string;
const heartbeats: Record<string, unknown>[] = [];
const reports: Record<string, unknown>[] = [];
let pendingCommands: unknown[] = [];
let askFullReport = true;

test.before(async () => {
  server = await startNatsServer();
  dataDir = mkdtempSync(join(tmpdir(), "woods-dn-it-"));
  nc = await connect({ servers: server.url });
  // A stand-in namenode that records heartbeats and reports and hands out orders.
  nc.subscribe("woods.namenode.dn.*.heartbeat", {
    callback: (_e, m) => {
      heartbeats.push(decode(m.data).value as Record<string, unknown>);
      const commands = pendingCommands;
      pendingCommands = [];
      m.respond(encode({ ok: true, commands, fullReport: askFullReport }));
      askFullReport = false;
    },
  });
  nc.subscribe("woods.namenode.dn.*.report", {
    callback: (_e, m) => {
      reports.push(decode(m.data).value as Record<string, unknown>);
      m.respond(encode({ ok: true }));
    },
  });
  const config = loadConfig({
    env: {},
    overrides: {
      nats: { url: server.url },
      log: { level: (process.env.WOODS_TEST_LOG as "debug") ?? "silent" },
      frameSizeBytes: FRAME,
      datanode: { heartbeatIntervalMs: 100, writeIdleTimeoutMs: IDLE_MS, blockSizeBytes: 65536, reportPageMaxChunks: 1 },
    },
  });
  dn = await runDatanode({ id: "dn1", dirs: [dataDir], config });
});

test.after.always(async () => {
  await dn?.stop();
  await nc?.close();
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");


async function writeChunk(chunkId: string, data: Buffer) {
  await call(nc, "woods.datanode.dn1.open", { chunkId, version: 1, maxSizeBytes: data.length }, 5000);
  const acks = await sendFrames(nc, chunkId, data, FRAME);
  const frames = acks.length;
  const closed = await call<{ sizeBytes: number; checksum: string }>(
    nc,
    "woods.datanode.dn1.close",
    { chunkId, version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), frames },
    10_000,
  );
  return { acks, closed };
}

async function readAll(chunkId: string, size: number, slice: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < size; at += slice) {
    const r = await call<{ data: Uint8Array; sizeBytes: number }>(nc, "woods.datanode.dn1.read", { chunkId, version: 1, offset: at, length: slice }, 5000);
    parts.push(Buffer.from(r.data));
  }
  return Buffer.concat(parts);
}

test.serial("a chunk written as acknowledged frames reads back identical in any slicing", async (t) => {
  const data = randomBytes(FRAME * 5 + 12345);
  const { acks, closed } = await writeChunk("itc1", data);
  t.is(acks.length, 6);
  t.true(acks.every((a, i) => a.ok && a.dn === "dn1" && a.seq === i));
  t.is(closed.sizeBytes, data.length);
  t.is(closed.checksum, chunkChecksum(crc32(data)));
  t.is(sha(await readAll("itc1", data.length, FRAME)), sha(data));
  t.is(sha(await readAll("itc1", data.length, 100_003)), sha(data));
  const mid = await call<{ data: Uint8Array; sizeBytes: number }>(nc, "woods.datanode.dn1.read", { chunkId: "itc1", offset: 65530, length: 20 }, 5000);
  t.true(Buffer.from(mid.data).equals(data.subarray(65530, 65550)));
  t.is(mid.sizeBytes, data.length);
  t.deepEqual(readdirSync(join(dataDir, "chunks")), ["itc1_v1.chunk"]);
});

test.serial("a frame with a bad CRC gets a nack and the close then fails", async (t) => {
  const data = randomBytes(FRAME * 3);
  await call(nc, "woods.datanode.dn1.open", { chunkId: "itc2", version: 1, maxSizeBytes: data.length }, 5000);
  const acks = await sendFrames(nc, "itc2", data, FRAME, { badCrcSeq: 1 });
  t.true(acks[0].ok);
  t.false(acks[1].ok);
  t.is(acks[1].error?.code, "CHECKSUM");
  // The frame after the missing one leaves a gap and is refused too.
  t.false(acks[2].ok);
  const err = await t.throwsAsync(
    call(nc, "woods.datanode.dn1.close", { chunkId: "itc2", version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), frames: 3 }, 5000),
  );
  t.is((err as { code?: string }).code, "CHECKSUM");
  t.deepEqual(readdirSync(join(dataDir, "tmp")), []);
});

test.serial("malformed requests get BAD_REQUEST replies and the datanode keeps serving", async (t) => {
  const garbage = await nc.request("woods.datanode.dn1.read", Uint8Array.from([0xc1, 0xff, 0x00]), { timeout: 5000 });
  const g = decode(garbage.data).value as { ok: boolean; error: { code: string } };
  t.false(g.ok);
  t.is(g.error.code, "BAD_REQUEST");
  const json = await nc.request("woods.datanode.dn1.read", new TextEncoder().encode('{"chunkId":"../x","offset":0,"length":1}'), { timeout: 5000 });
  const j = JSON.parse(new TextDecoder().decode(json.data));
  t.false(j.ok);
  t.is(j.error.code, "BAD_REQUEST");
  t.regex(j.error.message, /chunkId/);
  const missing = await t.throwsAsync(call(nc, "woods.datanode.dn1.read", { chunkId: "nope", offset: 0, length: 1 }, 5000));
  t.is((missing as { code?: string }).code, "NOT_FOUND");
  const ping = await call<{ role: string; id: string }>(nc, "woods.datanode.dn1.ping", {}, 5000);
  t.deepEqual(ping, { ok: true, role: "datanode", id: "dn1" } as never);
});

test.serial("an open write that receives no frames is aborted after the idle timeout", async (t) => {
  await call(nc, "woods.datanode.dn1.open", { chunkId: "itc3", version: 1, maxSizeBytes: 100 }, 5000);
  t.is(readdirSync(join(dataDir, "tmp")).length, 1);
  await new Promise((r) => setTimeout(r, IDLE_MS + 400));
  t.deepEqual(readdirSync(join(dataDir, "tmp")), []);
  const err = await t.throwsAsync(call(nc, "woods.datanode.dn1.close", { chunkId: "itc3", version: 1, sizeBytes: 0, checksum: "crc32:00000000", frames: 0 }, 5000));
  t.is((err as { code?: string }).code, "NOT_FOUND");
});

test.serial("a staged object is ingested, verified and readable", async (t) => {
  setSha256Backend("native");
  const os = await new Objm(nc).create("woods-staging");
  const data = randomBytes(FRAME * 2 + 999);
  await os.putBlob({ name: "itc4" }, data);
  const r = await call<{ sizeBytes: number; checksum: string }>(
    nc,
    "woods.datanode.dn1.ingest",
    { chunkId: "itc4", version: 1, bucket: "woods-staging", object: "itc4", sizeBytes: data.length, checksum: chunkChecksum(crc32(data)) },
    10_000,
  );
  t.is(r.sizeBytes, data.length);
  t.is(sha(await readAll("itc4", data.length, FRAME)), sha(data));
  const bad = await t.throwsAsync(
    call(nc, "woods.datanode.dn1.ingest", { chunkId: "itc5", version: 1, bucket: "woods-staging", object: "itc4", sizeBytes: data.length, checksum: "crc32:00000000" }, 10_000),
  );
  t.is((bad as { code?: string }).code, "CHECKSUM");
});

test.serial("heartbeats flow, a full report comes in pages, and a delete order is carried out and reported", async (t) => {
  const waitFor = async (what: string, cond: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // Heartbeats sent before this test started may predate the ingest; look at a fresh one.
  const seen = heartbeats.length;
  await waitFor("a heartbeat", () => heartbeats.length > seen);
  const hb = heartbeats[heartbeats.length - 1];
  t.is(hb.id, "dn1");
  t.true((hb.capacityBytes as number) > 0);
  t.true((hb.usedBytes as number) > 0);
  t.is(hb.chunkCount, 2);
  t.is(hb.activeWrites, 0);
  // Ask for a fresh full report: two chunks with pages of 1 → two pages of one report.
  askFullReport = true;
  reports.length = 0;
  await waitFor("a full report", () => reports.some((r) => r.full === true && r.last === true));
  const full = reports.filter((r) => r.full === true);
  const ids = full.flatMap((r) => (r.chunks as { id: string }[]).map((c) => c.id)).sort();
  t.deepEqual(ids, ["itc1", "itc4"]);
  t.true(full.every((r) => r.reportId === full[0].reportId));
  t.deepEqual(full.map((r) => [r.page, r.last]), [[0, false], [1, true]]);
  reports.length = 0;
  pendingCommands = [{ type: "delete", chunkId: "itc1", version: 1 }];
  await waitFor("a removal delta", () => reports.some((r) => r.full === false && (r.removed as unknown[]).length > 0));
  t.deepEqual(reports.find((r) => r.full === false)!.removed, [{ id: "itc1", version: 1 }]);
  t.deepEqual(readdirSync(join(dataDir, "chunks")), ["itc4_v1.chunk"]);
});

test.serial("a datanode whose namenode is down keeps serving", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "woods-dn-it2-"));
  const config = loadConfig({ env: {}, overrides: { prefix: "lonely", nats: { url: server.url }, log: { level: "silent" }, datanode: { heartbeatIntervalMs: 50 } } });
  const dn2 = await runDatanode({ id: "dn2", dirs: [dir], config });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await new Promise((r) => setTimeout(r, 400));
  const ping = await call<{ id: string }>(nc, "lonely.datanode.dn2.ping", {}, 5000);
  t.is(ping.id, "dn2");
  await dn2.stop();
});
