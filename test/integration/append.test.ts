/**
 * Appends end to end on a real cluster (nats-server, namenode, 3 datanodes as processes):
 * the CLI contract (stdin, file, --key, --json, errors), and 8 concurrent clients × 100 records
 * of random sizes crossing 1 MiB chunk boundaries, each found exactly once, whole, at the offset
 * it was acknowledged at.
 */
import test from "ava";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, authFor, seededBytes, sha256, type TestCluster, type ConfigTree } from "../helpers/cluster.js";
import { startAppenders, checkAppended, parseRecords } from "../helpers/records.js";

const KiB = 1024;
const CONFIG: ConfigTree = { client: { appendTailMaxBytes: 256 * KiB } };
let cluster: TestCluster;

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: CONFIG });
});
test.after.always(async () => {
  await cluster?.down();
});

async function getBytes(path: string): Promise<Buffer> {
  const r = await cluster.ok(["get", path, "-"]);
  return r.stdout;
}

test.serial("append to a missing file or a directory fails with a clear error and creates nothing", async (t) => {
  const missing = await cluster.woods(["append", "-", "/nope/missing.log"], { input: Buffer.from("x") });
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^woods: .*\/nope\/missing\.log.*(does not exist|not found)/im);
  const ls = await cluster.woods(["ls", "/nope"]);
  t.not(ls.code, 0, "nothing was created by the failed append");

  await cluster.ok(["put", "-", "/dir/inside"], { input: Buffer.from("a") });
  const dir = await cluster.woods(["append", "-", "/dir"], { input: Buffer.from("x") });
  t.is(dir.code, 1);
  t.regex(dir.stderr, /directory/i);
});

test.serial("append from stdin and from a file adds exactly those bytes; stat size stays exact", async (t) => {
  const first = seededBytes(300 * KiB, 1);
  await cluster.ok(["put", "-", "/logs/a.log"], { input: first });
  const fromStdin = Buffer.from("line from stdin\n");
  const r1 = await cluster.ok(["append", "--json", "-", "/logs/a.log"], { input: fromStdin });
  const j1 = JSON.parse(r1.stdout.toString());
  t.deepEqual({ path: j1.path, offset: j1.offset, size: j1.size }, { path: "/logs/a.log", offset: first.length, size: fromStdin.length });

  // Larger than appendTailMaxBytes and crossing the 1 MiB chunk size: moves whole to new chunks.
  const big = seededBytes(1200 * KiB, 2);
  const local = join(mkdtempSync(join(tmpdir(), "woods-append-")), "big.bin");
  writeFileSync(local, big);
  const r2 = await cluster.ok(["append", "--json", local, "/logs/a.log"]);
  const j2 = JSON.parse(r2.stdout.toString());
  t.is(j2.offset, first.length + fromStdin.length);
  t.is(j2.size, big.length);
  t.is(j2.mode, "chunks");

  const expected = Buffer.concat([first, fromStdin, big]);
  const st = await cluster.stat("/logs/a.log");
  t.is(st.size, expected.length);
  t.is(st.chunks.reduce((n, c) => n + c.size, 0), expected.length, "chunk sizes add up to the file size: no padding");
  t.is(sha256(await getBytes("/logs/a.log")), sha256(expected));

  // An empty append changes nothing.
  const r3 = await cluster.ok(["append", "--json", "-", "/logs/a.log"], { input: Buffer.alloc(0) });
  t.is(JSON.parse(r3.stdout.toString()).size, 0);
  t.is((await cluster.stat("/logs/a.log")).size, expected.length);
});

test.serial("the same --key twice appends once and answers the first result", async (t) => {
  await cluster.ok(["put", "-", "/logs/keyed.log"], { input: Buffer.from("head\n") });
  const rec = Buffer.from("exactly once\n");
  const a = JSON.parse((await cluster.ok(["append", "--json", "--key", "job-17", "-", "/logs/keyed.log"], { input: rec })).stdout.toString());
  const b = JSON.parse((await cluster.ok(["append", "--json", "--key", "job-17", "-", "/logs/keyed.log"], { input: rec })).stdout.toString());
  t.is(a.offset, 5);
  t.is(b.offset, 5);
  t.is(b.mode, "done");
  t.is((await getBytes("/logs/keyed.log")).toString(), "head\nexactly once\n");
});

test.serial("8 clients × 100 records of random sizes: each exactly once, intact and contiguous, across chunk boundaries", async (t) => {
  const path = "/logs/concurrent.log";
  await cluster.ok(["put", "-", path], { input: Buffer.alloc(0) });
  // Mostly small records, every 10th up to 200 KiB, every 37th larger than appendTailMaxBytes.
  const size = (w: number, s: number) => {
    const x = (w * 7919 + s * 104729) % 100_000;
    if (s % 37 === 36) return 300 * KiB + (x % (200 * KiB));
    if (s % 10 === 9) return x * 2;
    return 1 + (x % (4 * KiB));
  };
  const run = await startAppenders({ url: cluster.url, config: CONFIG, path, writers: 8, perWriter: 100, size });
  try {
    await run.done;
  } finally {
    await run.close();
  }
  const failed = run.outcomes.filter((o) => o.error);
  t.deepEqual(failed.map((o) => o.error), [], "no append failed on a healthy cluster");
  t.is(run.outcomes.length, 800);
  const data = await getBytes(path);
  t.deepEqual(checkAppended(data, run.outcomes), []);
  const st = await cluster.stat(path);
  t.is(st.size, data.length);
  t.true(st.chunks.length > 3, `records spread over ${st.chunks.length} chunks`);
  t.true(st.chunks.every((c) => c.size <= 1024 * KiB), "no chunk exceeds the chunk size");
  t.is(parseRecords(data).length, 800);
});

test.serial("appends speak JSON too: appendLocate and a base64 append from a plain NATS client (as `nats req` would send)", async (t) => {
  const { connect } = await import("@nats-io/transport-node");
  await cluster.ok(["put", "-", "/logs/json.log"], { input: Buffer.from("hello\n") });
  const nc = await connect({ servers: cluster.url, ...authFor(cluster.url, "client") });
  try {
    const req = async (subject: string, body: unknown) => JSON.parse(new TextDecoder().decode((await nc.request(subject, JSON.stringify(body), { timeout: 10_000 })).data));
    const loc = await req("woods.namenode.appendLocate", { path: "/logs/json.log", key: "json-1", sizeBytes: 6 });
    t.is(loc.mode, "tail");
    const r = await req(`woods.datanode.${loc.primary}.append`, { chunkId: loc.chunkId, epoch: loc.epoch, key: "json-1", data: Buffer.from("world\n").toString("base64") });
    t.deepEqual(r, { ok: true, offset: 6, sizeBytes: 6, fileSizeBytes: 12 });
    t.deepEqual(await req("woods.namenode.appendLocate", { path: "/logs/json.log", key: "json-1", sizeBytes: 6 }), { ok: true, mode: "done", offset: 6, sizeBytes: 6 });
    const bad = await req(`woods.datanode.${loc.primary}.append`, { chunkId: loc.chunkId, epoch: loc.epoch, key: "json-2", data: "not base64!" });
    t.is(bad.error.code, "BAD_REQUEST");
  } finally {
    await nc.close();
  }
  t.is((await getBytes("/logs/json.log")).toString(), "hello\nworld\n");
});
