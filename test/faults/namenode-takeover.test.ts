/**
 * High availability of the namenode, with real processes: two namenodes (`woods namenode --id nn1|nn2`)
 * and three datanodes on a real nats-server, default lease timers. kill -9 of the active namenode
 * during a stream of puts and appends: the standby takes over, nothing acknowledged is lost, and the
 * takeover time is measured. The old one restarts as a standby. SIGSTOP of the active one past its
 * lease: the other takes over, and after SIGCONT the frozen one steps down instead of writing.
 */
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { stringify as toYaml } from "yaml";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { ROOT, WOODS, seededBytes, sha256, waitFor } from "../helpers/cluster.js";
import { loadConfig } from "../../config/index.js";
import { WoodsClient } from "../../actors/client/index.js";
import { call, connectNats, type NatsConnection } from "../../actors/index.js";
import { subjects, type NamenodeReplies } from "../../messages/index.js";

const subj = subjects("woods");

interface Proc {
  name: string;
  proc: ChildProcess;
  logFile: string;
}

let nats: NatsServerHandle;
let dir: string;
let configFile: string;
const procs = new Map<string, Proc>();
let client: WoodsClient;
let nc: NatsConnection;

function spawnActor(name: string, args: string[]): Proc {
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, "a");
  const proc = spawn(process.execPath, [WOODS, ...args, "--config", configFile], {
    cwd: ROOT,
    stdio: ["ignore", fd, fd],
    env: { ...process.env, WOODS_LOG_FORMAT: "json", WOODS_CREDS: "" },
  });
  closeSync(fd);
  const p = { name, proc, logFile };
  procs.set(name, p);
  return p;
}

function killProc(name: string, sig: NodeJS.Signals): void {
  const p = procs.get(name);
  if (p && p.proc.exitCode === null) p.proc.kill(sig);
}

async function activePing(timeoutMs = 1000): Promise<NamenodeReplies["ping"] | undefined> {
  try {
    return await call<NamenodeReplies["ping"]>(nc, subj.namenode("ping"), {}, timeoutMs);
  } catch {
    return undefined;
  }
}

/** Polls until namenode `id` answers as the active one (every 50 ms); its ping. */
function untilActive(id: string): Promise<NamenodeReplies["ping"]> {
  return waitFor(async () => {
    const p = await activePing(500);
    return p?.id === id ? p : null;
  }, 30_000, `${id} active`, 50);
}

async function shadowPing(): Promise<NamenodeReplies["ping"] | undefined> {
  try {
    return await call<NamenodeReplies["ping"]>(nc, subj.shadow("ping"), {}, 1000);
  } catch {
    return undefined;
  }
}

test.before(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), "woods-ha-"));
  configFile = join(dir, "woods.yaml");
  // Default lease timers (namenode.leaderLeaseMs 5000, leaderRenewMs 1000): the takeover is measured with them.
  writeFileSync(
    configFile,
    toYaml({
      nats: { url: nats.url },
      chunkSizeBytes: 256 * 1024,
      log: { level: "info" },
      namenode: { safeModeExtensionMs: 500, tickIntervalMs: 300 },
      client: { requestTimeoutMs: 5000, frameAckTimeoutMs: 5000, retry: { maxAttempts: 40, maxDelayMs: 1000, deadlineMs: 60_000 } },
    }),
  );
  const config = loadConfig({ file: configFile, env: {} });
  nc = await connectNats({ url: nats.url, name: "ha-test" });
  spawnActor("nn1", ["namenode", "--id", "nn1"]);
  await untilActive("nn1");
  spawnActor("nn2", ["namenode", "--id", "nn2"]);
  await waitFor(async () => (await shadowPing())?.id === "nn2" || null, 30_000, "nn2 standby");
  for (const id of ["dn1", "dn2", "dn3"]) spawnActor(id, ["datanode", "--id", id, "--dir", join(dir, id)]);
  client = await WoodsClient.connect(config);
  await waitFor(async () => (await client.nodes()).filter((n) => n.state === "alive").length === 3 || null, 30_000, "3 live datanodes");
});

test.after.always(async () => {
  await client?.close().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  for (const p of procs.values()) {
    if (p.proc.exitCode === null) {
      p.proc.kill("SIGCONT");
      p.proc.kill("SIGKILL");
    }
  }
  await nats?.stop();
  if (!process.env.WOODS_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
});

async function readAll(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      parts.push(Buffer.from(chunk));
      cb();
    },
  });
  await client.get(path, sink);
  return Buffer.concat(parts);
}

/** Puts files and appends records (to `/<tag>/log`, created first) until `stop()`; remembers what was acknowledged. */
async function startLoad(tag: string) {
  await client.put((async function* () {})(), `/${tag}/log`);
  const acked = new Map<string, string>();
  const appended: string[] = [];
  const failures: string[] = [];
  const ackTimes: number[] = [];
  let running = true;
  let i = 0;
  const loop = (async () => {
    while (running) {
      const path = `/${tag}/f${i}`;
      const data = seededBytes(32 * 1024 + ((i * 7919) % (400 * 1024)), i + 1);
      try {
        await client.put((async function* () { yield data; })(), path);
        acked.set(path, sha256(data));
        ackTimes.push(Date.now());
      } catch (e) {
        failures.push(`${path}: ${(e as Error).message}`);
      }
      const rec = `${tag}-record-${i}\n`;
      try {
        await client.append(Buffer.from(rec), `/${tag}/log`);
        appended.push(rec);
      } catch (e) {
        failures.push(`append ${i}: ${(e as Error).message}`);
      }
      i++;
    }
  })();
  return {
    acked,
    appended,
    failures,
    ackTimes,
    async stop() {
      running = false;
      await loop;
    },
  };
}

async function checkAll(t: import("ava").ExecutionContext, tag: string, load: Awaited<ReturnType<typeof startLoad>>): Promise<void> {
  for (const [path, digest] of load.acked) t.is(sha256(await readAll(path)), digest, `${path} reads back as written`);
  const log = (await readAll(`/${tag}/log`)).toString();
  const lines = log.split("\n").filter(Boolean).map((l) => `${l}\n`);
  for (const rec of load.appended) t.is(lines.filter((l) => l === rec).length, 1, `record ${rec.trim()} is in the log exactly once`);
}

test.serial("kill -9 of the active namenode during puts and appends: the standby takes over, nothing acknowledged is lost", async (t) => {
  await client.put((async function* () { yield Buffer.from("seed"); })(), "/ha/seed");
  const before = await activePing();
  t.is(before?.id, "nn1");
  const load = await startLoad("ha");
  await waitFor(() => load.acked.size >= 6 || null, 60_000, "puts before the kill");
  const killedAt = Date.now();
  killProc("nn1", "SIGKILL");
  const now = await untilActive("nn2");
  const takeoverMs = Date.now() - killedAt;
  const ackedAtKill = load.acked.size;
  await waitFor(() => load.acked.size >= ackedAtKill + 6 || null, 60_000, "puts after the takeover");
  await load.stop();
  const firstAckAfter = load.ackTimes.find((ms) => ms > killedAt);
  t.log(`takeover: nn2 answered as active ${takeoverMs} ms after kill -9 of nn1; first put acknowledged after the kill at +${firstAckAfter ? firstAckAfter - killedAt : "?"} ms`);
  t.log(`${load.acked.size} puts and ${load.appended.length} appends acknowledged; ${load.failures.length} failed: ${load.failures.slice(0, 3).join("; ")}`);
  t.true(now.epoch > before!.epoch, "the new active writes under a newer epoch");
  t.deepEqual(load.failures, [], "no operation failed: clients retried through the takeover");
  await checkAll(t, "ha", load);

  // The old namenode comes back as a standby and answers reads from its copy of the log.
  spawnActor("nn1", ["namenode", "--id", "nn1"]);
  await waitFor(async () => (await shadowPing())?.id === "nn1" || null, 30_000, "nn1 back as a standby");
  t.is((await activePing())?.id, "nn2", "nn2 stays active");
  const path = [...load.acked.keys()][0]!;
  const fromActive = await client.stat(path);
  const want = JSON.stringify(fromActive.chunks.map((c) => [...c.replicas].sort()));
  let seen = "";
  await waitFor(async () => {
    try {
      const r = await call<{ chunks: { replicas: string[] }[] }>(nc, subj.shadow("stat"), { path }, 2000);
      seen = JSON.stringify(r.chunks.map((c) => [...c.replicas].sort()));
      return seen === want || null;
    } catch {
      return null;
    }
  }, 20_000, "the standby's stat to match the active's (it asks every datanode for a full report)");
  t.is(seen, want, "the standby knows where every replica is");
});

test.serial("SIGSTOP of the active namenode past its lease: the standby takes over; after SIGCONT the old one never writes again", async (t) => {
  const active = await activePing();
  t.is(active?.id, "nn2");
  const load = await startLoad("frozen");
  await waitFor(() => load.acked.size >= 4 || null, 60_000, "puts before the freeze");
  const frozenAt = Date.now();
  killProc("nn2", "SIGSTOP");
  const now = await untilActive("nn1");
  t.log(`takeover from a frozen namenode: ${Date.now() - frozenAt} ms`);
  const ackedAtTakeover = load.acked.size;
  await waitFor(() => load.acked.size >= ackedAtTakeover + 3 || null, 60_000, "puts after the takeover");
  killProc("nn2", "SIGCONT");
  // The thawed namenode finds its lease gone (or its next log append fenced) and steps down.
  await waitFor(() => /stepping down/.test(readFileSync(procs.get("nn2")!.logFile, "utf8")) || null, 20_000, "nn2 steps down");
  await waitFor(async () => (await shadowPing())?.id === "nn2" || null, 30_000, "nn2 back as a standby");
  const ackedAtThaw = load.acked.size;
  await waitFor(() => load.acked.size >= ackedAtThaw + 3 || null, 60_000, "puts after the thaw");
  await load.stop();
  t.is((await activePing())?.id, "nn1", "nn1 stays active");
  t.true(now.epoch > active!.epoch);
  t.deepEqual(load.failures, []);
  await checkAll(t, "frozen", load);
  // Every acknowledged file of both runs is still there.
  const names = (await client.ls("/frozen")).map((e) => e.name);
  for (const p of load.acked.keys()) t.true(names.includes(p.split("/").pop()!), `${p} listed`);
});

test.serial("a clean stop of the active namenode (SIGTERM) releases the lease: the standby takes over before the lease could have run out", async (t) => {
  const active = await activePing();
  t.is(active?.id, "nn1");
  await client.put((async function* () { yield Buffer.from("before"); })(), "/clean/before");
  const stoppedAt = Date.now();
  killProc("nn1", "SIGTERM");
  const now = await untilActive("nn2");
  const ms = Date.now() - stoppedAt;
  t.log(`takeover after a clean stop: ${ms} ms`);
  t.true(now.epoch > active!.epoch);
  // The lease was given up, not left to run out.
  t.regex(readFileSync(procs.get("nn1")!.logFile, "utf8"), /gave the leader lease up/);
  await client.put((async function* () { yield Buffer.from("after"); })(), "/clean/after");
  t.is((await readAll("/clean/before")).toString(), "before");
  t.is((await readAll("/clean/after")).toString(), "after");
});
