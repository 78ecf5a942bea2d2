/**
 * Security of a local cluster (README, Security): `cluster up` gives every role its own NATS user with
 * only the permissions it needs, refuses anonymous connections, and keeps the credentials 0600.
 */
import test from "ava";
import { statSync, readdirSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startCluster, authFor, runWoods, seededBytes, sha256, type TestCluster } from "../helpers/cluster.js";
import { encode, decode, subjects } from "../../messages/index.js";

let cluster: TestCluster;
const subj = subjects("woods");

test.before(async () => {
  cluster = await startCluster({ datanodes: 2, replication: 2 });
});
test.after.always(async () => {
  await cluster?.down();
});

/** Publishes `subject` and resolves with the server's permission error for it (rejects when none comes). */
async function publishDenied(nc: NatsConnection, subject: string, data: Uint8Array = encode({})): Promise<string> {
  const seen = (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && /permission/i.test(String(s.error?.message))) return String(s.error.message);
    }
    return "";
  })();
  nc.publish(subject, data, { reply: `_INBOX.denied.${Date.now()}` });
  await nc.flush();
  const timeout = new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`no permission error for a publish to ${subject}`)), 5000));
  return Promise.race([seen, timeout]);
}

async function connectAs(role: Parameters<typeof authFor>[1]): Promise<NatsConnection> {
  return connect({ servers: cluster.url, name: `security-test-${JSON.stringify(role)}`, ...authFor(cluster.url, role) });
}

async function metaLogMessages(): Promise<number> {
  const nc = await connectAs("admin");
  try {
    return (await (await jetstreamManager(nc)).streams.info(subj.metaStream())).state.messages;
  } finally {
    await nc.close();
  }
}

test.serial("an anonymous connection is refused, and so is a wrong password", async (t) => {
  await t.throwsAsync(connect({ servers: cluster.url, reconnect: false, timeout: 3000 }), { message: /authoriz/i });
  await t.throwsAsync(connect({ servers: cluster.url, reconnect: false, timeout: 3000, user: "client", pass: "not-the-password" }), { message: /authoriz/i });
});

test.serial("the client user may not write the metadata log nor purge its stream, while put and get work", async (t) => {
  const before = await metaLogMessages();
  const nc = await connectAs("client");
  try {
    t.regex(await publishDenied(nc, subj.metaLog(), encode({ type: "mkfile", forged: true })), /woods\.meta\.log/);
    t.regex(await publishDenied(nc, `$JS.API.STREAM.PURGE.${subj.metaStream()}`), /PURGE/);
    t.regex(await publishDenied(nc, `$JS.API.STREAM.DELETE.${subj.metaStream()}`), /DELETE/);
    t.regex(await publishDenied(nc, subj.datanode("dn1", "replicate")), /replicate/);
    t.regex(await publishDenied(nc, subj.fromDatanode("dn1", "heartbeat")), /heartbeat/);
  } finally {
    await nc.close();
  }
  t.true((await metaLogMessages()) >= before, "the metadata log was not purged");
  const data = seededBytes(3 * 1024 * 1024 + 17, 7);
  t.is((await cluster.put("/sec/a.bin", data)).code, 0);
  const got = await cluster.ok(["get", "/sec/a.bin", "-"]);
  t.is(sha256(got.stdout), sha256(data));
});

test.serial("a datanode user cannot speak for another datanode nor write the log; a spoofed id on its own subject is refused", async (t) => {
  const nc = await connectAs({ datanode: "dn1" });
  try {
    t.regex(await publishDenied(nc, subj.fromDatanode("dn2", "heartbeat")), /dn2/);
    t.regex(await publishDenied(nc, subj.fromDatanode("dn2", "report")), /dn2/);
    t.regex(await publishDenied(nc, subj.namenode("heartbeat")), /heartbeat/);
    t.regex(await publishDenied(nc, subj.metaLog()), /meta/);
    // Its own subject, but a body claiming to be dn2: the namenode checks the id against the subject.
    const reply = await nc.request(
      subj.fromDatanode("dn1", "heartbeat"),
      encode({ id: "dn2", startedAtMs: 1, capacityBytes: 1e9, usedBytes: 0, availableBytes: 1e9, load: 0, activeWrites: 0, chunkCount: 0, dirs: [] }),
      { timeout: 5000 },
    );
    const body = decode(reply.data, reply.headers).value as { ok: boolean; error?: { code: string; message: string } };
    t.false(body.ok);
    t.is(body.error?.code, "BAD_REQUEST");
    t.regex(body.error?.message ?? "", /dn1.*dn2/);
  } finally {
    await nc.close();
  }
  const nodes = await cluster.nodes();
  t.deepEqual(nodes.map((n) => n.id).sort(), ["dn1", "dn2"]);
});

/** Sends `body` on `subject` and returns the namenode's error reply (fails the test when it succeeds). */
async function refusedReply(nc: NatsConnection, subject: string, body: unknown): Promise<{ code: string; message: string }> {
  const reply = await nc.request(subject, encode(body), { timeout: 10_000 });
  const r = decode(reply.data, reply.headers).value as { ok: boolean; error?: { code: string; message: string } };
  if (r.ok || !r.error) throw new Error(`${subject} was answered ok: ${JSON.stringify(r)}`);
  return r.error;
}

test.serial("a primary's append verbs travel on its own subjects: another datanode can neither publish them nor speak for its lease", async (t) => {
  // A real append through the primary: lease, commit (and the datanodes' permissions) on the per-datanode subjects.
  t.is((await cluster.put("/sec/log.txt", Buffer.from("first\n"))).code, 0);
  await cluster.ok(["append", "-", "/sec/log.txt"], { input: Buffer.from("second\n") });
  t.is((await cluster.ok(["get", "/sec/log.txt", "-"])).stdout.toString(), "first\nsecond\n");

  const client = await connectAs("client");
  let loc: { mode: string; chunkId: string; epoch: number; primary: string; version: number };
  try {
    const m = await client.request(subj.namenode("appendLocate"), encode({ path: "/sec/log.txt", key: "sec-locate-1", sizeBytes: 4 }), { timeout: 10_000 });
    loc = decode(m.data, m.headers).value as typeof loc;
  } finally {
    await client.close();
  }
  t.is(loc.mode, "tail");
  const other = loc.primary === "dn1" ? "dn2" : "dn1";
  const commit = { chunkId: loc.chunkId, epoch: loc.epoch, version: loc.version, fromBytes: 13, toBytes: 17, checksum: "crc32:00000000", records: [{ key: "forged-1", sizeBytes: 4 }] };

  const nc = await connectAs({ datanode: other });
  try {
    // The server: not the primary's subject, not the plain one.
    t.regex(await publishDenied(nc, subj.fromDatanode(loc.primary, "appendCommit"), encode(commit)), new RegExp(`${loc.primary}\\.appendCommit`));
    t.regex(await publishDenied(nc, subj.fromDatanode(loc.primary, "appendDropReplica")), /appendDropReplica/);
    for (const verb of ["appendLease", "appendCommit", "appendDropReplica"] as const) {
      t.regex(await publishDenied(nc, subj.namenode(verb)), new RegExp(`namenode\\.${verb}`));
    }
    // The namenode: on its own subject, a body that speaks for the primary is refused.
    const lease = await refusedReply(nc, subj.fromDatanode(other, "appendLease"), { chunkId: loc.chunkId, epoch: loc.epoch, dn: loc.primary });
    t.is(lease.code, "BAD_REQUEST");
    t.regex(lease.message, new RegExp(`comes from datanode ${other}.*${loc.primary}`));
    const forged = await refusedReply(nc, subj.fromDatanode(other, "appendCommit"), commit);
    t.is(forged.code, "BAD_REQUEST");
    t.regex(forged.message, new RegExp(`lease epoch ${loc.epoch} on chunk ${loc.chunkId} is held by ${loc.primary}`));
    const drop = await refusedReply(nc, subj.fromDatanode(other, "appendDropReplica"), { chunkId: loc.chunkId, epoch: loc.epoch, version: loc.version, failed: [loc.primary] });
    t.is(drop.code, "BAD_REQUEST");
    // Its own lease question under its own id reaches the handler: not the primary.
    t.is((await refusedReply(nc, subj.fromDatanode(other, "appendLease"), { chunkId: loc.chunkId, epoch: loc.epoch, dn: other })).code, "NOT_PRIMARY");
  } finally {
    await nc.close();
  }
  // Nothing forged landed: the file is unchanged, still appendable, and both replicas are there.
  const st = await cluster.stat("/sec/log.txt");
  t.is(st.size, 13);
  await cluster.ok(["append", "-", "/sec/log.txt"], { input: Buffer.from("third\n") });
  t.is((await cluster.ok(["get", "/sec/log.txt", "-"])).stdout.toString(), "first\nsecond\nthird\n");
});

test.serial("the monitor user reads events but may not send requests", async (t) => {
  const nc = await connectAs("monitor");
  try {
    const got = new Promise<string>((resolve) => {
      nc.subscribe(subj.eventsAll(), { callback: (_e, m) => resolve(m.subject) });
    });
    await nc.flush();
    t.is((await cluster.put("/sec/ev.txt", Buffer.from("event me\n"))).code, 0);
    t.regex(await got, /^woods\.events\./);
    t.regex(await publishDenied(nc, subj.namenode("ls")), /namenode\.ls/);
  } finally {
    await nc.close();
  }
});

test.serial("a plain `woods put` with only WOODS_CLUSTER_DIR set finds the server and the client credentials", async (t) => {
  const local = join(mkdtempSync(join(tmpdir(), "woods-sec-")), "plain.txt");
  writeFileSync(local, "plain put\n");
  // No WOODS_NATS, WOODS_CONFIG nor WOODS_CREDS: everything comes from the cluster dir.
  const env = { WOODS_NATS: "", WOODS_CONFIG: "", WOODS_CREDS: "", WOODS_CLUSTER_DIR: cluster.dir };
  const put = await runWoods(["put", local, "/sec/plain.txt"], { env });
  t.is(put.code, 0, put.stderr);
  const get = await runWoods(["get", "/sec/plain.txt", "-"], { env });
  t.is(get.stdout.toString(), "plain put\n");
  // Pointed at the same server from elsewhere without credentials: refused, not let in anonymously.
  const elsewhere = await runWoods(["ls", "/"], { env: { ...env, WOODS_CLUSTER_DIR: join(cluster.dir, "no-such-dir"), WOODS_NATS: cluster.url } });
  t.not(elsewhere.code, 0);
  t.regex(elsewhere.stderr, /authoriz/i);
});

test.serial("credentials files are 0600 and cluster status does not print them", async (t) => {
  const dir = join(cluster.dir, "creds");
  const files = readdirSync(dir);
  t.true(files.length >= 6, files.join(", "));
  for (const f of files) t.is(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(statSync(join(cluster.dir, "nats-server.conf")).mode & 0o777, 0o600);
  const status = (await cluster.ok(["cluster", "status", "--json"])).stdout.toString();
  for (const f of files) {
    const { password } = JSON.parse(readFileSync(join(dir, f), "utf8")) as { password: string };
    t.true(password.length >= 40, "a strong password");
    t.false(status.includes(password), `status prints the password of ${f}`);
  }
});
