import test from "ava";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers } from "@nats-io/transport-node";
import { startCluster, authFor, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;
const work = mkdtempSync(join(tmpdir(), "woods-json-"));

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB" });
  const local = join(work, "a");
  writeFileSync(local, Buffer.from("hello json"));
  await cluster.ok(["put", local, "/j/a.txt"]);
});
test.after.always(async () => {
  await cluster?.down();
});

async function jsonRequest(subject: string, body: string, contentType = false) {
  const nc = await connect({ servers: cluster.url, ...authFor(cluster.url, "client") });
  try {
    const h = headers();
    if (contentType) h.set("Content-Type", "application/json");
    const reply = await nc.request(subject, new TextEncoder().encode(body), { timeout: 5000, headers: contentType ? h : undefined });
    return JSON.parse(new TextDecoder().decode(reply.data));
  } finally {
    await nc.close();
  }
}

test("namenode stat answers a JSON request in JSON", async (t) => {
  const r = await jsonRequest("woods.namenode.stat", '{"path":"/j/a.txt"}');
  t.true(r.ok);
  t.is(r.path, "/j/a.txt");
  t.is(r.size, 10);
  t.is(r.chunks.length, 1);
});

test("namenode ls answers a JSON request in JSON", async (t) => {
  const r = await jsonRequest("woods.namenode.ls", '{"prefix":"/j"}', true);
  t.true(r.ok);
  t.deepEqual(r.entries.map((e: { name: string }) => e.name), ["a.txt"]);
});

test("malformed and invalid JSON requests get error replies and the namenode keeps serving", async (t) => {
  const bad = await jsonRequest("woods.namenode.stat", "{not json");
  t.false(bad.ok);
  t.is(bad.error.code, "BAD_REQUEST");
  const traversal = await jsonRequest("woods.namenode.stat", '{"path":"/j/../etc/passwd"}');
  t.false(traversal.ok);
  t.is(traversal.error.code, "INVALID_PATH");
  const wrongType = await jsonRequest("woods.namenode.stat", '{"path":42}');
  t.false(wrongType.ok);
  t.is(wrongType.error.code, "BAD_REQUEST");
  t.regex(wrongType.error.message, /path/);
  const missing = await jsonRequest("woods.namenode.stat", '{"path":"/nope"}');
  t.is(missing.error.code, "NOT_FOUND");
  const again = await jsonRequest("woods.namenode.stat", '{"path":"/j/a.txt"}');
  t.true(again.ok);
});
