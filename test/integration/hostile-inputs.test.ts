/**
 * Hostile inputs against a real cluster (issue 7, item 5). Each test sends one kind of bad input
 * raw over NATS (malformed msgpack built by hand) to the namenode or a datanode, checks the error
 * in the reply, that every actor still answers `ping`, and that a put + get started just before
 * by another client, and a get of a file stored earlier, complete byte-exact (SHA-256).
 * Serial: each test owns the cluster while it runs, so a failure points at its input.
 */
import test, { type ExecutionContext } from "ava";
import { Writable } from "node:stream";
import { Socket } from "node:net";
import { crc32 } from "node:zlib";
import { connect, headers as natsHeaders, type NatsConnection, type MsgHdrs } from "@nats-io/transport-node";
import { startCluster, authFor, sha256, seededBytes, type TestCluster, FAST_FAULT_CONFIG } from "../helpers/cluster.js";
import { loadConfig } from "../../config/index.js";
import { WoodsClient } from "../../actors/client/index.js";
import { decode, encode, FRAME_HEADERS, crcHex, subjects, type WireError, type StatReply } from "../../messages/index.js";

const subj = subjects("woods");
const te = new TextEncoder();

let cluster: TestCluster;
/** The attacker: a plain NATS connection (no woods client code on its send path). */
let evil: NatsConnection;
/** Other clients' work, which must not notice the attacks. */
let client: WoodsClient;
let dns: string[] = [];
const base = seededBytes(2_500_000, 77);
let baseStat: StatReply;

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: { datanode: { heartbeatIntervalMs: 300 } } });
  // Admin credentials: the handlers must hold against any authenticated peer, past what permissions filter.
  evil = await connect({ servers: cluster.url, name: "evil", ...authFor(cluster.url, "admin") });
  const config = loadConfig({ env: cluster.env, overrides: { log: { level: "silent" }, client: FAST_FAULT_CONFIG.client as never } });
  client = await WoodsClient.connect(config, { name: "victim" });
  dns = (await cluster.status()).datanodes.map((d) => d.id);
  await client.put(once(base), "/victim/base.bin");
  baseStat = await client.stat("/victim/base.bin");
});

test.after.always(async () => {
  await evil?.close().catch(() => undefined);
  await client?.close().catch(() => undefined);
  await cluster?.down();
});

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

async function getBytes(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  await client.get(path, sink);
  return Buffer.concat(parts);
}

type Reply = { ok: boolean; error?: WireError; [k: string]: unknown };

/** One raw request; the reply decoded (msgpack or JSON, as it came). */
async function raw(subject: string, data: Uint8Array, hdrs?: MsgHdrs): Promise<Reply> {
  const m = await evil.request(subject, data, { timeout: 10_000, ...(hdrs ? { headers: hdrs } : {}) });
  return decode(m.data, m.headers).value as Reply;
}

function refused(t: ExecutionContext, reply: Reply, code: string, re?: RegExp): void {
  t.false(reply.ok, `expected ${code}, got ${JSON.stringify(reply).slice(0, 200)}`);
  t.is(reply.error?.code as string | undefined, code, reply.error?.message);
  if (re) t.regex(reply.error?.message ?? "", re);
}

let victims = 0;
/**
 * Starts a put + get of fresh bytes and a get of the stored file, runs the attack meanwhile, then
 * checks every actor answers ping and both operations returned the exact bytes.
 */
async function underAttack(t: ExecutionContext, attack: () => Promise<void>): Promise<void> {
  const n = ++victims;
  const data = seededBytes(1_200_000 + n * 1013, 1000 + n);
  const path = `/victim/${n}.bin`;
  const putGet = (async () => {
    await client.put(once(data), path);
    return sha256(await getBytes(path));
  })();
  const baseGet = getBytes("/victim/base.bin").then(sha256);
  // Let the victim's first requests go out before the attack.
  await new Promise((r) => setImmediate(r));
  try {
    await attack();
  } catch (e) {
    await Promise.allSettled([putGet, baseGet]);
    throw e;
  }
  const nn = await raw(subj.namenode("ping"), encode({}));
  t.true(nn.ok, "namenode answers ping after the attack");
  for (const dn of dns) t.true((await raw(subj.datanode(dn, "ping"), encode({}))).ok, `${dn} answers ping after the attack`);
  t.is(await putGet, sha256(data), "the concurrent put + get is byte-exact");
  t.is(await baseGet, sha256(base), "the concurrent get of a stored file is byte-exact");
}

// ---- msgpack built by hand ----
const mpStr = (s: string | Uint8Array): number[] => {
  const b = typeof s === "string" ? Buffer.from(s) : Buffer.from(s);
  if (b.length < 32) return [0xa0 | b.length, ...b];
  if (b.length < 256) return [0xd9, b.length, ...b];
  return [0xda, b.length >> 8, b.length & 0xff, ...b];
};
const mpMap = (entries: [string, number[]][]): Uint8Array => new Uint8Array([0x80 | entries.length, ...entries.flatMap(([k, v]) => [...mpStr(k), ...v])]);
const mpF64 = (x: number): number[] => {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(x, 1);
  return [...b];
};

const stat = (path: string) => raw(subj.namenode("stat"), encode({ path }));
const create = (path: string, extra: object = {}) => raw(subj.namenode("create"), encode({ path, ...extra }));

// ---- paths ----

test.serial("path ../../etc/passwd is refused with INVALID_PATH", async (t) => {
  await underAttack(t, async () => {
    refused(t, await stat("../../etc/passwd"), "INVALID_PATH", /absolute/);
    refused(t, await create("/../../etc/passwd"), "INVALID_PATH", /\.\./);
    refused(t, await raw(subj.namenode("rename"), encode({ src: "/victim/base.bin", dst: "/victim/../../etc/passwd" })), "INVALID_PATH");
  });
});

test.serial("path %2e%2e%2f is a literal name, never decoded into a traversal", async (t) => {
  await underAttack(t, async () => {
    refused(t, await stat("/victim/%2e%2e%2fbase.bin"), "NOT_FOUND");
    refused(t, await stat("/%2e%2e%2f%2e%2e%2fetc%2fpasswd"), "NOT_FOUND");
  });
});

test.serial("path a\\0b (NUL) is refused with INVALID_PATH", async (t) => {
  await underAttack(t, async () => {
    refused(t, await create("/a\0b"), "INVALID_PATH", /NUL/);
    refused(t, await raw(subj.namenode("stat"), te.encode('{"path":"/a\\u0000b"}')), "INVALID_PATH", /NUL/);
  });
});

test.serial("path /a//b (empty segment) is refused with INVALID_PATH", async (t) => {
  await underAttack(t, async () => refused(t, await create("/a//b"), "INVALID_PATH", /empty segment/));
});

test.serial("path /a/./b (dot segment) is refused with INVALID_PATH", async (t) => {
  await underAttack(t, async () => refused(t, await create("/a/./b"), "INVALID_PATH", /"\." segment/));
});

test.serial("a 1 MB path is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const path = "/" + "a".repeat(1_000_000);
    refused(t, await create(path), "BAD_REQUEST", /field path/);
    refused(t, await raw(subj.namenode("ls"), encode({ prefix: path })), "BAD_REQUEST", /field prefix/);
  });
});

test.serial("a path of 10,000 components is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => refused(t, await create("/a".repeat(10_000)), "BAD_REQUEST", /field path/));
});

test.serial("a path of invalid UTF-8 is refused (INVALID_PATH in msgpack, BAD_REQUEST in JSON)", async (t) => {
  await underAttack(t, async () => {
    const bad = new Uint8Array([0x2f, 0x61, 0xc3, 0x28, 0xff, 0xfe]);
    refused(t, await raw(subj.namenode("create"), mpMap([["path", mpStr(bad)]])), "INVALID_PATH", /UTF-8/);
    refused(t, await raw(subj.namenode("stat"), new Uint8Array([...te.encode('{"path":"/a'), 0xc3, 0x28, ...te.encode('"}')])), "BAD_REQUEST", /malformed JSON/);
  });
});

test.serial("NATS wildcards and dots in ids are refused; in a path they are literal characters", async (t) => {
  await underAttack(t, async () => {
    for (const chunkId of ["*", ">", "a.b", "a.*", "woods.datanode.>"]) {
      refused(t, await raw(subj.datanode(dns[0], "read"), encode({ chunkId, offset: 0, length: 10 })), "BAD_REQUEST", /field chunkId/);
    }
    refused(t, await raw(subj.namenode("allocate"), encode({ fileId: "f", index: 0, exclude: [">"] })), "BAD_REQUEST", /field exclude/);
    refused(t, await raw(subj.datanode(dns[0], "replicate"), encode({ repairId: "r", chunkId: "c", version: 1, sizeBytes: 1, checksum: "crc32:00000000", targets: ["*"], bucket: "b", epoch: 1 })), "BAD_REQUEST", /field targets/);
    refused(t, await stat("/victim/*"), "NOT_FOUND");
    refused(t, await stat("/victim/>"), "NOT_FOUND");
  });
});

test.serial("CR/LF in a path or an id is refused", async (t) => {
  await underAttack(t, async () => {
    refused(t, await create("/a\r\nPUB woods.namenode.rm 2\r\n{}"), "INVALID_PATH", /control/);
    refused(t, await raw(subj.datanode(dns[0], "abort"), encode({ chunkId: "c\r\nPUB x 0\r\n" })), "BAD_REQUEST", /field chunkId/);
  });
});

// ---- sizes, offsets, replication ----

function chunk0() {
  const c = baseStat.chunks[0];
  return { chunkId: c.id, version: c.version, holder: c.replicas[0] };
}

test.serial("a negative read offset is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const { chunkId, version, holder } = chunk0();
    refused(t, await raw(subj.datanode(holder, "read"), encode({ chunkId, version, offset: -1, length: 10 })), "BAD_REQUEST", /field offset/);
    refused(t, await raw(subj.datanode(holder, "read"), encode({ chunkId, version, offset: 0, length: -10 })), "BAD_REQUEST", /field length/);
  });
});

test.serial("a NaN read offset is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const { chunkId, holder } = chunk0();
    const body = mpMap([["chunkId", mpStr(chunkId)], ["offset", mpF64(Number.NaN)], ["length", [0x0a]]]);
    refused(t, await raw(subj.datanode(holder, "read"), body), "BAD_REQUEST", /field offset/);
    refused(t, await raw(subj.datanode(holder, "read"), te.encode(`{"chunkId":"${chunkId}","offset":NaN,"length":10}`)), "BAD_REQUEST", /malformed JSON/);
    refused(t, await raw(subj.datanode(holder, "read"), mpMap([["chunkId", mpStr(chunkId)], ["offset", mpF64(Infinity)], ["length", [0x0a]]])), "BAD_REQUEST", /field offset/);
  });
});

test.serial("a read offset of 2^53+1 is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const { chunkId, holder } = chunk0();
    const u64 = [0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0x01];
    refused(t, await raw(subj.datanode(holder, "read"), mpMap([["chunkId", mpStr(chunkId)], ["offset", u64], ["length", [0x0a]]])), "BAD_REQUEST", /field offset/);
    refused(t, await raw(subj.datanode(holder, "read"), encode({ chunkId, offset: 0, length: 2 ** 53 + 2 })), "BAD_REQUEST", /field length/);
  });
});

/** Opens a direct write of a throwaway chunk on `dn` and sends one frame; returns the frame's ack. */
async function writeOneFrame(dn: string, chunkId: string, payload: Uint8Array, crc: string): Promise<Reply & { seq?: number }> {
  const opened = await raw(subj.datanode(dn, "open"), encode({ chunkId, version: 1, maxSizeBytes: 4096 }));
  if (!opened.ok) throw new Error(`open failed: ${JSON.stringify(opened)}`);
  const h = natsHeaders();
  h.set(FRAME_HEADERS.offset, "0");
  h.set(FRAME_HEADERS.seq, "0");
  h.set(FRAME_HEADERS.crc32, crc);
  return raw(subj.data(chunkId), payload, h) as Promise<Reply & { seq?: number }>;
}

test.serial("a declared length that disagrees with the payload is refused with CHECKSUM and nothing is stored", async (t) => {
  await underAttack(t, async () => {
    const payload = seededBytes(1000, 5);
    const ack = await writeOneFrame(dns[0], "hostile-len", payload, crcHex(crc32(payload)));
    t.true(ack.ok);
    const close = await raw(subj.datanode(dns[0], "close"), encode({ chunkId: "hostile-len", version: 1, sizeBytes: 2000, checksum: `crc32:${crcHex(crc32(payload))}`, frames: 1 }));
    refused(t, close, "CHECKSUM", /received 1000 bytes, close says 2000/);
    refused(t, await raw(subj.datanode(dns[0], "read"), encode({ chunkId: "hostile-len", offset: 0, length: 10 })), "NOT_FOUND");
    // A frame longer than the write's maxSizeBytes.
    const big = seededBytes(5000, 6);
    const tooLong = await writeOneFrame(dns[1], "hostile-len2", big, crcHex(crc32(big)));
    refused(t, tooLong, "TOO_LARGE");
    await raw(subj.datanode(dns[1], "abort"), encode({ chunkId: "hostile-len2" }));
  });
});

test.serial("a wrong checksum is refused with CHECKSUM (frame header and close)", async (t) => {
  await underAttack(t, async () => {
    const payload = seededBytes(1000, 7);
    refused(t, await writeOneFrame(dns[0], "hostile-crc", payload, "deadbeef"), "CHECKSUM", /header says deadbeef/);
    await raw(subj.datanode(dns[0], "abort"), encode({ chunkId: "hostile-crc" }));
    const ack = await writeOneFrame(dns[1], "hostile-crc2", payload, crcHex(crc32(payload)));
    t.true(ack.ok);
    const close = await raw(subj.datanode(dns[1], "close"), encode({ chunkId: "hostile-crc2", version: 1, sizeBytes: 1000, checksum: "crc32:00000000", frames: 1 }));
    refused(t, close, "CHECKSUM");
    refused(t, await raw(subj.datanode(dns[1], "read"), encode({ chunkId: "hostile-crc2", offset: 0, length: 10 })), "NOT_FOUND");
  });
});

test.serial("replication 0, -1 and 1000 are refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    for (const replication of [0, -1, 1000, 2.5]) refused(t, await create("/hostile/r.bin", { replication }), "BAD_REQUEST", /field replication/);
    refused(t, await stat("/hostile/r.bin"), "NOT_FOUND");
  });
});

// ---- msgpack and JSON decoding ----

test.serial("truncated msgpack is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const whole = encode({ path: "/victim/base.bin" });
    refused(t, await raw(subj.namenode("stat"), whole.subarray(0, whole.length - 3)), "BAD_REQUEST", /malformed msgpack/);
    const read = encode({ chunkId: chunk0().chunkId, offset: 0, length: 10 });
    refused(t, await raw(subj.datanode(dns[0], "read"), read.subarray(0, 5)), "BAD_REQUEST", /malformed msgpack/);
  });
});

test.serial("a str32 header claiming 4 GB is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const body = new Uint8Array([0x81, ...mpStr("path"), 0xdb, 0xff, 0xff, 0xff, 0xff, 0x2f, 0x61]);
    refused(t, await raw(subj.namenode("create"), body), "BAD_REQUEST", /claims 4294967295 bytes/);
    const bin = new Uint8Array([0x82, ...mpStr("chunkId"), ...mpStr("c"), ...mpStr("data"), 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]);
    refused(t, await raw(subj.datanode(dns[0], "append"), bin), "BAD_REQUEST", /claims 4294967295 bytes/);
  });
});

test.serial("an array32 of 2^32-1 elements is refused with BAD_REQUEST", async (t) => {
  await underAttack(t, async () => {
    const body = new Uint8Array([0x81, ...mpStr("exclude"), 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]);
    refused(t, await raw(subj.namenode("allocate"), body), "BAD_REQUEST", /claims 4294967295 values/);
    refused(t, await raw(subj.namenode("report"), new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff])), "BAD_REQUEST", /claims 8589934590 values/);
  });
});

test.serial("nesting 100,000 deep is refused with BAD_REQUEST (msgpack and JSON)", async (t) => {
  await underAttack(t, async () => {
    const deep = new Uint8Array(100_001 + 8);
    deep.set([0x81, ...mpStr("path")]);
    deep.fill(0x91, 6, 6 + 100_000);
    deep[deep.length - 1] = 0xc0;
    refused(t, await raw(subj.namenode("stat"), deep.subarray(0, 6 + 100_001)), "BAD_REQUEST", /deeper than/);
    refused(t, await raw(subj.datanode(dns[0], "ping"), deep.subarray(0, 6 + 100_001)), "BAD_REQUEST", /deeper than/);
    refused(t, await raw(subj.namenode("stat"), te.encode('{"path":' + "[".repeat(100_000) + "]".repeat(100_000) + "}")), "BAD_REQUEST", /deeper than/);
  });
});

test.serial("__proto__ and constructor keys are stripped, never a prototype (msgpack and JSON)", async (t) => {
  await underAttack(t, async () => {
    const body = mpMap([
      ["path", mpStr("/hostile/proto.bin")],
      ["__proto__", [0x81, ...mpStr("replication"), 0x10]],
      ["constructor", [0x81, ...mpStr("prototype"), 0x81, ...mpStr("replication"), 0x10]],
    ]);
    const r = await raw(subj.namenode("create"), body);
    t.true(r.ok, JSON.stringify(r));
    t.is(r.replication, 3, "the default replication, not one smuggled through a prototype");
    await raw(subj.namenode("abandon"), encode({ fileId: r.fileId }));
    const j = await raw(subj.namenode("create"), te.encode('{"path":"/hostile/proto2.bin","__proto__":{"replication":16},"constructor":{"prototype":{"replication":16}}}'));
    t.true(j.ok, JSON.stringify(j));
    t.is(j.replication, 3);
    await raw(subj.namenode("abandon"), encode({ fileId: j.fileId }));
    // A later request without the keys sees nothing inherited either.
    const clean = await raw(subj.namenode("create"), encode({ path: "/hostile/proto3.bin" }));
    t.is(clean.replication, 3);
    await raw(subj.namenode("abandon"), encode({ fileId: clean.fileId }));
  });
});

test.serial("unknown message types and protocol versions are refused", async (t) => {
  await underAttack(t, async () => {
    refused(t, await raw(subj.namenode("stat"), encode({ v: 2, path: "/victim/base.bin" })), "BAD_REQUEST", /field v/);
    refused(t, await raw(subj.datanode(dns[0], "ping"), encode({ v: 99 })), "BAD_REQUEST", /field v/);
    refused(t, await raw(subj.namenode("stat"), encode(["stat", "/victim/base.bin"])), "BAD_REQUEST");
    refused(t, await raw(subj.namenode("stat"), encode("stat /victim/base.bin")), "BAD_REQUEST");
    refused(t, await raw(subj.namenode("stat"), new Uint8Array([0xd4, 0x05, 0x00])), "BAD_REQUEST", /malformed msgpack/);
    // A verb nobody serves has no responder at all.
    for (const subject of ["woods.namenode.explode", `woods.datanode.${dns[0]}.delete`]) {
      const e = await t.throwsAsync(evil.request(subject, encode({}), { timeout: 5000 }));
      t.regex(`${e?.name} ${e?.message}`, /no responders|503/i);
    }
  });
});

test.serial("a frame over max_payload is refused by the server and the actors keep serving", async (t) => {
  await underAttack(t, async () => {
    const max = evil.info?.max_payload ?? 1024 * 1024;
    t.throws(() => evil.publish(subj.namenode("stat"), new Uint8Array(max + 1)), { message: /payload/i });
    // Past the client library: a raw connection announcing a PUB one byte over the limit.
    const answer = await new Promise<string>((resolve) => {
      const sock = new Socket();
      let text = "";
      let sent = false;
      sock.on("data", (d) => {
        text += d.toString();
        if (!sent && text.includes("INFO")) {
          sent = true;
          // The server refuses on the header; the payload is not sent, so no unread bytes make it reset the connection before we read its answer.
          const { user, pass } = authFor(cluster.url, "admin");
          sock.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, user, pass })}\r\nPUB ${subj.namenode("stat")} ${max + 1}\r\n`);
        }
      });
      // The server may cut the connection while we still write (EPIPE): what it said is what counts.
      sock.on("error", () => undefined);
      sock.on("close", () => resolve(text));
      sock.setTimeout(10_000, () => sock.destroy());
      sock.connect(cluster.port, "127.0.0.1");
    });
    t.regex(answer, /-ERR 'Maximum Payload/i);
  });
});

// ---- orders, fencing, spoofing ----

test.serial("a forged delete order published to a datanode has nowhere to go and deletes nothing", async (t) => {
  await underAttack(t, async () => {
    const { chunkId, version } = chunk0();
    const order = { ok: true, commands: [{ type: "delete", chunkId, version, reason: "deleted", epoch: 1 }], fullReport: false, epoch: 1 };
    for (const dn of dns) {
      // No delete verb exists: orders travel only in replies to the datanode's own heartbeats.
      const e = await t.throwsAsync(evil.request(`woods.datanode.${dn}.delete`, encode(order), { timeout: 5000 }));
      t.regex(`${e?.name} ${e?.message}`, /no responders|503/i);
      // A heartbeat-reply-shaped body sent to the verbs that do exist is just a bad request or ignored.
      t.true((await raw(subj.datanode(dn, "ping"), encode(order))).ok);
      refused(t, await raw(subj.datanode(dn, "read"), encode(order)), "BAD_REQUEST");
      t.true((await raw(subj.datanode(dn, "abort"), encode({ ...order, chunkId }))).ok, "abort only drops writes in progress");
      evil.publish(`woods.datanode.${dn}.heartbeat`, encode(order));
    }
    await evil.flush();
    // Several heartbeats later every replica is still there and serves the bytes.
    await new Promise((r) => setTimeout(r, 1500));
    for (const dn of baseStat.chunks[0].replicas) {
      const r = await raw(subj.datanode(dn, "read"), encode({ chunkId, version, offset: 0, length: 16 }));
      t.true(r.ok, `${dn} still holds ${chunkId}`);
      t.deepEqual(Buffer.from(r.data as Uint8Array), base.subarray(0, 16));
    }
  });
});

test.serial("a replicate order with a stale namenode epoch is refused with FENCED", async (t) => {
  await underAttack(t, async () => {
    const nn = await raw(subj.namenode("ping"), encode({}));
    const epoch = nn.epoch as number;
    t.true(epoch >= 1);
    const c = baseStat.chunks[0];
    const order = { repairId: "forged-repair", chunkId: c.id, version: c.version, sizeBytes: c.size, checksum: c.checksum, targets: [dns.find((d) => !c.replicas.includes(d)) ?? dns[0]], bucket: "woods-repair" };
    for (const dn of c.replicas) {
      // Datanodes learn the epoch from heartbeat replies, so the fence stands before any repair.
      refused(t, await raw(subj.datanode(dn, "replicate"), encode({ ...order, epoch: epoch - 1 })), "FENCED", new RegExp(`epoch ${epoch - 1} refused`));
    }
  });
});

// The two below need NATS accounts and permissions (issue 7, items 1–2, done in another worktree):
// without them any connection may publish anything, so they are expected to fail until then.

test.serial("a spoofed heartbeat (a datanode id that is not the sender's) is refused", async (t) => {
  const nodes = await client.nodes();
  const dn1 = nodes.find((n) => n.id === dns[0])!;
  const spoof = {
    id: dns[0],
    startedAtMs: 1,
    capacityBytes: dn1.capacityBytes,
    usedBytes: dn1.usedBytes,
    availableBytes: dn1.availableBytes,
    load: 0,
    activeWrites: 0,
    chunkCount: dn1.chunks,
    dirs: [],
  };
  // Another datanode's user: the server lets it publish only under its own id.
  const other = await connect({ servers: cluster.url, name: "evil-datanode", ...authFor(cluster.url, { datanode: dns[1] }) });
  try {
    await t.throwsAsync(other.request(subj.fromDatanode(dns[0], "heartbeat"), encode(spoof), { timeout: 3000 }));
    await t.throwsAsync(other.request(subj.namenode("heartbeat"), encode(spoof), { timeout: 3000 }));
    // Its own subject with dn1's id in the body: the namenode compares them.
    const m = await other.request(subj.fromDatanode(dns[1], "heartbeat"), encode(spoof), { timeout: 10_000 });
    refused(t, decode(m.data, m.headers).value as Reply, "BAD_REQUEST", /comes from datanode .*the body says id/);
  } finally {
    await other.close();
  }
});

test.serial("an ordinary client cannot use the JetStream purge API on the metadata log", async (t) => {
  const ordinary = await connect({ servers: cluster.url, name: "evil-client", ...authFor(cluster.url, "client") });
  try {
    // A filter matching nothing, so a purge that got through would still destroy nothing.
    await t.throwsAsync(ordinary.request(`$JS.API.STREAM.PURGE.${subj.metaStream()}`, te.encode(JSON.stringify({ filter: "woods.meta.nothing-here" })), { timeout: 3000 }));
  } finally {
    await ordinary.close();
  }
});

test.serial("after every attack the stored file and the namespace are intact", async (t) => {
  t.is(sha256(await getBytes("/victim/base.bin")), sha256(base));
  const fsck = await client.fsck();
  t.is(fsck.missing, 0);
  t.is(fsck.corrupt, 0);
  for (let n = 1; n <= victims; n++) t.is((await client.stat(`/victim/${n}.bin`)).state, "complete");
});
