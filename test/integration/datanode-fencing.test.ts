/**
 * Fencing of namenode orders on a real datanode, with a stand-in namenode over a real NATS server:
 * heartbeat replies carry the namenode epoch; delete orders from an older epoch than the highest
 * seen (in the reply or in the order itself) are refused, and the epoch learned from heartbeats
 * also fences `replicate`, also after the datanode restarts (the epoch is kept on disk).
 */
import test from "ava";
import { crc32 } from "node:zlib";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { sendFrames } from "../helpers/frames.js";
import { runDatanode, type DatanodeHandle } from "../../actors/datanode/index.js";
import { loadConfig } from "../../config/index.js";
import { call } from "../../actors/rpc.js";
import { chunkChecksum, decode, encode, type DatanodeCommand, type WoodsError } from "../../messages/index.js";

let server: NatsServerHandle;
let nc: NatsConnection;
let dn: DatanodeHandle;
let dir: string;
let config: ReturnType<typeof loadConfig>;
let heartbeats = 0;
const removedReported: string[] = [];
/** What the stand-in namenode answers to the next heartbeat (then back to `steady`). */
let next: { epoch?: number; commands: DatanodeCommand[] } | undefined;
let steady: { epoch?: number; commands: DatanodeCommand[] } = { epoch: 5, commands: [] };

const data = Buffer.from("fenced bytes ".repeat(1000));
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  nc.subscribe("woods.namenode.dn.*.heartbeat", {
    callback: (_e, m) => {
      heartbeats++;
      const body = next ?? steady;
      next = undefined;
      m.respond(encode({ ok: true, fullReport: false, ...body }));
    },
  });
  nc.subscribe("woods.namenode.dn.*.report", {
    callback: (_e, m) => {
      const r = decode(m.data).value as { removed?: { id: string }[] };
      for (const c of r.removed ?? []) removedReported.push(c.id);
      m.respond(encode({ ok: true }));
    },
  });
  dir = mkdtempSync(join(tmpdir(), "woods-fencing-"));
  config = loadConfig({
    env: {},
    overrides: {
      nats: { url: server.url },
      log: { level: "silent" },
      client: { requestTimeoutMs: 5000 },
      datanode: { heartbeatIntervalMs: 50, scrubBytesPerSecond: 0 },
    },
  });
  dn = await runDatanode({ id: "dn1", dirs: [dir], config });
  await call(nc, "woods.datanode.dn1.open", { chunkId: "c1", version: 1, maxSizeBytes: data.length }, 5000);
  await sendFrames(nc, "c1", data, 4096);
  await call(nc, "woods.datanode.dn1.close", { chunkId: "c1", version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), frames: Math.ceil(data.length / 4096) }, 5000);
});

test.after.always(async () => {
  await dn?.stop().catch(() => undefined);
  await nc?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Answers the next heartbeat with `reply`, and returns once the datanode has acted on it (its next beat has begun). */
async function deliver(reply: { epoch?: number; commands: DatanodeCommand[] }): Promise<void> {
  const start = heartbeats;
  next = reply;
  const deadline = Date.now() + 10_000;
  // Beats are sequential: the second heartbeat after this one starts only after the first's orders ran.
  while (heartbeats < start + 2 || next !== undefined) {
    if (Date.now() > deadline) throw new Error("the datanode stopped sending heartbeats");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function holds(): Promise<boolean> {
  try {
    const r = await call<{ data: Uint8Array }>(nc, "woods.datanode.dn1.read", { chunkId: "c1", version: 1, offset: 0, length: data.length }, 5000);
    return Buffer.from(r.data).equals(data);
  } catch (e) {
    if ((e as WoodsError).code === "NOT_FOUND") return false;
    throw e;
  }
}

const del = (epoch?: number): DatanodeCommand => ({ type: "delete", chunkId: "c1", version: 1, reason: "deleted", ...(epoch === undefined ? {} : { epoch }) });

test.serial("the epoch of heartbeat replies fences replicate orders from an older namenode", async (t) => {
  await deliver({ epoch: 5, commands: [] });
  const order = { repairId: "r1", chunkId: "c1", version: 1, sizeBytes: data.length, checksum: chunkChecksum(crc32(data)), targets: ["dn2"], bucket: "woods-repair" };
  const e = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", { ...order, epoch: 4 }, 5000));
  t.is((e as WoodsError).code, "FENCED");
  t.regex(e?.message ?? "", /epoch 4 refused: epoch 5/);
});

test.serial("a heartbeat reply from an older epoch is ignored: its delete orders are not run", async (t) => {
  await deliver({ epoch: 3, commands: [del(3)] });
  await deliver({ epoch: 4, commands: [del()] });
  t.true(await holds());
  t.false(removedReported.includes("c1"));
});

test.serial("a delete order older than the highest epoch is refused even inside a current reply", async (t) => {
  await deliver({ epoch: 5, commands: [del(4), { type: "delete", chunkId: "../../etc", version: 1 } as DatanodeCommand, { type: "explode" } as unknown as DatanodeCommand] });
  t.true(await holds());
  t.false(removedReported.includes("c1"));
});

test.serial("an order of the current epoch, from a newer namenode, is carried out", async (t) => {
  steady = { epoch: 6, commands: [] };
  await deliver({ epoch: 6, commands: [del(6)] });
  t.false(await holds());
  const deadline = Date.now() + 10_000;
  while (!removedReported.includes("c1") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.true(removedReported.includes("c1"), "the datanode reports the chunk removed");
});

test.serial("the highest epoch survives a restart: an older namenode's orders are still refused and the chunk stays", async (t) => {
  // Before the restart the datanode has seen epoch 6 (the test above); write a chunk to fence.
  const again = Buffer.from("still here after a restart ".repeat(500));
  await call(nc, "woods.datanode.dn1.open", { chunkId: "c2", version: 1, maxSizeBytes: again.length }, 5000);
  await sendFrames(nc, "c2", again, 4096);
  await call(nc, "woods.datanode.dn1.close", { chunkId: "c2", version: 1, sizeBytes: again.length, checksum: chunkChecksum(crc32(again)), frames: Math.ceil(again.length / 4096) }, 5000);
  await deliver({ epoch: 7, commands: [] });
  await dn.stop();
  t.true(readdirSync(dir).includes("namenode-epoch"), "the epoch is kept in the data dir");

  // The stand-in namenode is now an older one (epoch 5): it answers every heartbeat with its orders.
  steady = { epoch: 5, commands: [{ type: "delete", chunkId: "c2", version: 1, reason: "deleted", epoch: 5 }] };
  dn = await runDatanode({ id: "dn1", dirs: [dir], config });
  const order = { repairId: "r2", chunkId: "c2", version: 1, sizeBytes: again.length, checksum: chunkChecksum(crc32(again)), targets: ["dn2"], bucket: "woods-repair", epoch: 6 };
  const e = await t.throwsAsync(call(nc, "woods.datanode.dn1.replicate", order, 5000));
  t.is((e as WoodsError).code, "FENCED");
  t.regex(e?.message ?? "", /epoch 6 refused: epoch 7/);
  await deliver({ epoch: 5, commands: [{ type: "delete", chunkId: "c2", version: 1, reason: "deleted", epoch: 5 }] });
  await deliver({ epoch: 7, commands: [{ type: "delete", chunkId: "c2", version: 1, reason: "deleted", epoch: 6 }] });
  const r = await call<{ data: Uint8Array }>(nc, "woods.datanode.dn1.read", { chunkId: "c2", version: 1, offset: 0, length: again.length }, 5000);
  t.is(sha256(r.data), sha256(again), "the chunk is still there, byte for byte");
  t.false(removedReported.includes("c2"));
});
