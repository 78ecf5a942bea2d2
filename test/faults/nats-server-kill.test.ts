/**
 * kill -9 of the nats-server that leads the metadata log's stream, on a NATS cluster of three
 * (`cluster up --nats-servers 3`, log and buckets with 3 replicas), in the middle of a stream of
 * puts with the client's default retries: every acknowledged put reads back byte-exact, puts keep
 * being acknowledged after the JetStream leader change, and the killed server rejoins when started
 * again. The stall (longest gap between acknowledged puts around the kill) is logged, not asserted.
 */
import test from "ava";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startCluster, authFor, sha256, seededBytes, waitFor, type TestCluster, type ClusterStatus } from "../helpers/cluster.js";
import { subjects } from "../../messages/index.js";

const PUTS = 40;
const KILL_AFTER = 12;
let cluster: TestCluster;

test.before(async () => {
  cluster = await startCluster({ natsServers: 3, datanodes: 3, replication: 3, chunkSize: "1MiB" });
});
test.after.always(async () => {
  await cluster?.down();
});

async function adminConnection(): Promise<NatsConnection> {
  return connect({ servers: cluster.url.split(","), name: "woods-test-nats-kill", ...authFor(cluster.url, "admin") });
}

/**
 * The id (`nats-K`) of the server leading the metadata log's stream (STREAM.INFO's cluster.leader),
 * and where every stream of the cluster is led from (the victim may lead the lease's KV bucket too).
 */
async function logLeader(): Promise<{ id: string; about: string }> {
  const nc = await adminConnection();
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(subjects("woods").metaStream());
    const leader = info.cluster?.leader ?? "";
    const m = /^woods-(nats-\d+)$/.exec(leader);
    if (!m) throw new Error(`unexpected stream leader ${JSON.stringify(leader)} (replicas ${JSON.stringify(info.cluster?.replicas)})`);
    const all: string[] = [];
    for await (const si of jsm.streams.list()) all.push(`${si.config.name} R${si.config.num_replicas} ${si.config.storage} led by ${si.cluster?.leader}`);
    return { id: m[1]!, about: `metadata log ${info.config.name}: ${info.config.num_replicas} replicas, leader ${leader}; streams: ${all.sort().join("; ")}` };
  } finally {
    await nc.close();
  }
}

/** Warning and error lines of the namenodes' logs from `sinceMs` on, with times relative to it. */
function namenodeTrouble(dir: string, sinceMs: number): string[] {
  const out: string[] = [];
  const logs = join(dir, "logs");
  for (const file of readdirSync(logs).filter((f) => /^(namenode|nn\d+)\.log$/.test(f))) {
    for (const line of readFileSync(join(logs, file), "utf8").split("\n")) {
      let j: { level?: number; time?: string; msg?: string };
      try {
        j = JSON.parse(line);
      } catch {
        continue;
      }
      const at = Date.parse(j.time ?? "");
      if ((j.level ?? 0) >= 40 && at >= sinceMs - 1000) out.push(`${file} +${at - sinceMs} ms: ${j.msg}`);
    }
  }
  return out.slice(0, 30);
}

interface PutRecord {
  path: string;
  hash: string;
  startedAt: number;
  endedAt: number;
  code: number;
  stderr: string;
}

test.serial("kill -9 of the log's stream leader during a stream of puts: every acknowledged put reads back; puts resume; the server rejoins", async (t) => {
  const status = await cluster.status();
  t.is(status.natsServers.length, 3);
  t.true(status.natsServers.every((s) => s.running && s.routes === 2), JSON.stringify(status.natsServers));
  const { id: victim, about } = await logLeader();
  t.log(about);

  const records: PutRecord[] = [];
  let killedAt = 0;
  for (let i = 0; i < PUTS; i++) {
    // Sizes 100-600 KiB, seeded so that a failure can be reproduced.
    const size = 100 * 1024 + ((i * 7919 * 131) % (500 * 1024));
    const data = seededBytes(size, 8000 + i);
    const path = `/natskill/f${i}`;
    const startedAt = Date.now();
    const r = await cluster.put(path, data);
    records.push({ path, hash: sha256(data), startedAt, endedAt: Date.now(), code: r.code, stderr: r.stderr.trim() });
    if (r.code !== 0 && !(await cluster.status()).namenodes.some((n) => n.running)) {
      t.log(`put ${path} failed and no namenode is running any more: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
      break;
    }
    // Each failed put can take the client's whole retry deadline: three in a row say enough.
    if (records.slice(-3).length === 3 && records.slice(-3).every((x) => x.code !== 0)) {
      t.log(`three puts in a row failed; stopping the stream at ${path}`);
      break;
    }
    if (i + 1 === KILL_AFTER) {
      await cluster.signal(victim, "SIGKILL");
      killedAt = Date.now();
      t.log(`killed ${victim} (kill -9) after ${KILL_AFTER} puts`);
    }
  }

  const ok = records.filter((r) => r.code === 0);
  const failed = records.filter((r) => r.code !== 0);
  for (const f of failed) t.log(`put ${f.path} failed (${f.code}) ${f.startedAt - killedAt} ms after the kill: ${f.stderr.split("\n").slice(-3).join(" | ")}`);
  // The stall: the longest gap between consecutive acknowledged puts from the last one before the kill.
  const acks = ok.map((r) => r.endedAt).sort((a, b) => a - b);
  const lastBefore = acks.filter((a) => a <= killedAt).at(-1) ?? killedAt;
  let stall = 0;
  let prev = lastBefore;
  for (const a of acks.filter((x) => x > killedAt)) {
    stall = Math.max(stall, a - prev);
    prev = a;
  }
  const firstAfter = acks.find((a) => a > killedAt);
  const durations = ok.map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
  t.log(
    `${ok.length}/${PUTS} puts acknowledged, ${failed.length} failed; stall around the kill: ${stall} ms ` +
      `(first acknowledgement after the kill ${firstAfter ? firstAfter - killedAt : "none"} ms after it; median put ${durations[durations.length >> 1]} ms)`,
  );

  // What the namenode went through (its warnings from the kill on), as evidence for the stall.
  for (const line of namenodeTrouble(cluster.dir, killedAt)) t.log(line);
  t.true((await cluster.status()).namenodes.some((n) => n.running), "the namenode is still running");
  t.true(records.slice(0, KILL_AFTER).every((r) => r.code === 0), "every put before the kill is acknowledged");
  t.true(ok.some((r) => r.startedAt > killedAt), "puts started after the kill are acknowledged");
  // Service resumes: the last puts of the stream all succeed.
  t.deepEqual(records.slice(-10).filter((r) => r.code !== 0).map((r) => r.path), [], "the last 10 puts succeed");

  for (const r of ok) {
    const got = await cluster.woods(["get", r.path, "-"], { timeoutMs: 60_000 });
    t.is(got.code, 0, `${r.path} was acknowledged but cannot be read: ${got.stderr}`);
    if (got.code === 0) t.is(sha256(got.stdout), r.hash, `${r.path} read back different bytes`);
  }

  // The killed server comes back and rejoins the cluster: routes to both others again.
  await cluster.ok(["cluster", "start", victim]);
  const back = (await waitFor(async (): Promise<ClusterStatus | string> => {
    const s = await cluster.status();
    return s.natsServers.every((n) => n.running && n.routes === 2) ? s : `not yet: ${JSON.stringify(s.natsServers.map((n) => [n.id, n.routes]))}`;
  }, 30_000, `${victim} routed to the others again`)) as ClusterStatus;
  for (const n of back.natsServers) {
    const routez = (await (await fetch(`http://127.0.0.1:${n.httpPort}/routez`)).json()) as { routes: { remote_name?: string }[] };
    const peers = new Set(routez.routes.map((r) => r.remote_name));
    t.is(peers.size, 2, `${n.id} is routed to ${[...peers].join(", ")}`);
  }
  // And the cluster keeps serving with it.
  const after = seededBytes(333_333, 9999);
  t.is((await cluster.put("/natskill/after-rejoin", after)).code, 0);
  t.is(sha256((await cluster.ok(["get", "/natskill/after-rejoin", "-"])).stdout), sha256(after));
});
