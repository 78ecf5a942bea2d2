import test from "ava";
import { writeFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  loadConfig,
  configSource,
  diffConfig,
  planReload,
  applyChanges,
  tryReload,
  watchConfig,
  ConfigError,
  NAMENODE_RELOADABLE,
  DATANODE_RELOADABLE,
  type ReloadOutcome,
} from "../../config/index.js";
import { Placement, seededRng } from "../../actors/namenode/placement.js";
import { startWatchdog } from "../../actors/namenode/watchdog-machine.js";
import { NamenodeState } from "../../actors/namenode/state.js";
import type { ClusterView, WatchdogLimits } from "../../actors/namenode/watchdog-types.js";

function tempFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "woods-reload-")), "woods.yaml");
  writeFileSync(file, text);
  return file;
}

/** A logger that keeps its lines and can wait for one. */
function memoryLog() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const waiters: { re: RegExp; resolve: (m: string) => void }[] = [];
  const add = (level: string) => (obj: object, msg: string) => {
    lines.push({ level, obj, msg });
    for (const w of [...waiters]) {
      if (w.re.test(msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg);
      }
    }
  };
  return {
    lines,
    log: { info: add("info"), warn: add("warn"), error: add("error"), debug: add("debug") },
    next(re: RegExp): Promise<string> {
      const seen = lines.find((l) => re.test(l.msg));
      if (seen) return Promise.resolve(seen.msg);
      return new Promise((resolve) => waiters.push({ re, resolve }));
    },
  };
}

test("a config remembers the file, environment and flags it was loaded from", (t) => {
  const file = tempFile("replication: 2\n");
  const c = loadConfig({ file, env: { WOODS_LOG_LEVEL: "warn" }, overrides: { nats: { url: "nats://h:1" } } });
  const s = configSource(c);
  t.is(s?.file, file);
  t.is(s?.env.WOODS_LOG_LEVEL, "warn");
  t.deepEqual(s?.overrides, { nats: { url: "nats://h:1" } });
  t.is(configSource(loadConfig({ env: {} }))?.file, undefined);
  t.is(configSource({ ...c }), undefined, "a hand-made copy has no source");
});

test("diffConfig lists every leaf that differs", (t) => {
  const a = loadConfig({ env: {} });
  const b = loadConfig({ env: {}, overrides: { replication: 2, namenode: { placementPolicy: "random" }, client: { retry: { jitter: 0.5 } } } });
  t.deepEqual(
    diffConfig(a, b).map((c) => [c.key, c.from, c.to]),
    [
      ["client.retry.jitter", 1, 0.5],
      ["namenode.placementPolicy", "free-space", "random"],
      ["replication", 3, 2],
    ],
  );
  t.deepEqual(diffConfig(a, loadConfig({ env: {} })), []);
});

test("a reload applies the reloadable keys, ignores other actors' sections and flags the rest for a restart", (t) => {
  const a = loadConfig({ env: {} });
  const b = loadConfig({
    env: {},
    overrides: { chunkSizeBytes: 1024 * 1024, namenode: { placementPolicy: "round-robin", repairInflightMax: 4, id: "nn9" }, datanode: { scrubBytesPerSecond: 0 } },
  });
  const nn = planReload(a, b, NAMENODE_RELOADABLE, ["datanode", "client"]);
  t.deepEqual(nn.apply.map((c) => c.key), ["namenode.placementPolicy", "namenode.repairInflightMax"]);
  t.deepEqual(nn.restart.map((c) => c.key).sort(), ["chunkSizeBytes", "namenode.id"]);
  const dn = planReload(a, b, DATANODE_RELOADABLE, ["namenode"]);
  t.deepEqual(dn.apply.map((c) => c.key), ["datanode.scrubBytesPerSecond"]);
  t.deepEqual(dn.restart.map((c) => c.key), ["chunkSizeBytes"]);

  const nested = a.namenode;
  applyChanges(a, nn.apply);
  t.is(a.namenode.placementPolicy, "round-robin");
  t.is(a.namenode.repairInflightMax, 4);
  t.is(a.namenode, nested, "changed in place: holders of config.namenode see the new values");
  t.is(a.chunkSizeBytes, 64 * 1024 * 1024, "non-reloadable keys keep their running value");
});

test("a file that does not load is rejected with the key and the value, and the environment still wins", (t) => {
  const file = tempFile("namenode:\n  placementPolicy: random\n");
  const running = loadConfig({ file, env: {} });
  writeFileSync(file, "namenode:\n  placementPolicy: fastest\n");
  const bad = tryReload(running, configSource(running)!, NAMENODE_RELOADABLE);
  t.false(bad.ok);
  if (!bad.ok) {
    t.regex(bad.error, /namenode\.placementPolicy="fastest"/);
    t.regex(bad.error, new RegExp(`from ${file.replaceAll(".", "\\.")}`));
  }
  writeFileSync(file, "namenode: [unclosed\n");
  const broken = tryReload(running, configSource(running)!, NAMENODE_RELOADABLE);
  t.false(broken.ok);
  if (!broken.ok) t.regex(broken.error, /cannot read config file/);

  // The environment set at start keeps overriding what the file says.
  const withEnv = loadConfig({ file: tempFile("namenode:\n  repairInflightMax: 8\n"), env: { WOODS_NAMENODE_PLACEMENT_POLICY: "random" } });
  writeFileSync(configSource(withEnv)!.file!, "namenode:\n  repairInflightMax: 3\n  placementPolicy: round-robin\n");
  const r = tryReload(withEnv, configSource(withEnv)!, NAMENODE_RELOADABLE);
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.applied.map((c) => [c.key, c.to]), [["namenode.repairInflightMax", 3]]);
});

test("validation names unknown keys one by one, where a bad value came from, and takes sizes for byte keys", (t) => {
  const file = tempFile("namenode:\n  repairInflightMaxx: 3\nchunkSizeBytes: 8MiB\ndatanode:\n  reserveBytes: lots\n");
  const e = t.throws(() => loadConfig({ file, env: {} }), { instanceOf: ConfigError });
  t.regex(e!.message, /config key namenode\.repairInflightMaxx=3 is not a known key \(from .*woods\.yaml\)/);
  t.regex(e!.message, /datanode\.reserveBytes="lots" is invalid: not a size/);
  t.notRegex(e!.message, /chunkSizeBytes/, "8MiB is a size");
  t.is(loadConfig({ file: tempFile("chunkSizeBytes: 8MiB\n"), env: {} }).chunkSizeBytes, 8 * 1024 * 1024);
  const fromEnv = t.throws(() => loadConfig({ env: { WOODS_REPLICATION: "0" } }));
  t.regex(fromEnv!.message, /replication=0 is invalid: .* \(from \$WOODS_REPLICATION\)/);
  const fromFlag = t.throws(() => loadConfig({ env: {}, overrides: { log: { level: "loud" } } }));
  t.regex(fromFlag!.message, /log\.level="loud" is invalid: .* \(from a command-line flag\)/);
});

test("the watcher applies an edit, keeps the running config on a broken one, and follows a file replaced by rename", async (t) => {
  const file = tempFile("namenode:\n  placementPolicy: free-space\n");
  const config = loadConfig({ file, env: {} });
  const m = memoryLog();
  const applied: string[][] = [];
  const w = watchConfig({
    config,
    reloadable: NAMENODE_RELOADABLE,
    ignored: ["datanode", "client"],
    log: m.log,
    who: "namenode nn1",
    onApplied: (changes) => applied.push(changes.map((c) => c.key)),
    debounceMs: 20,
    pollIntervalMs: 100,
  });
  // The watcher never holds the process open (an actor's NATS connection does); the test must.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => {
    clearInterval(keepAlive);
    w?.stop();
    rmSync(file, { force: true });
  });
  t.truthy(w);
  t.deepEqual(w!.reloadNow(), { kind: "unchanged" } satisfies ReloadOutcome, "same bytes: nothing to do");

  writeFileSync(file, "namenode:\n  placementPolicy: round-robin\n  repairInflightMax: 4\n");
  t.regex(await m.next(/reloaded/), /namenode\.placementPolicy "free-space" → "round-robin", namenode\.repairInflightMax 16 → 4/);
  t.is(config.namenode.placementPolicy, "round-robin");
  t.deepEqual(applied, [["namenode.placementPolicy", "namenode.repairInflightMax"]]);

  writeFileSync(file, "namenode:\n  placementPolicy: fastest\n");
  t.regex(await m.next(/kept its running config/), /namenode\.placementPolicy="fastest"/);
  t.is(config.namenode.placementPolicy, "round-robin", "the old config stays");

  // An editor's save: a new file renamed over the old one; a non-reloadable key gets a warning.
  const tmp = `${file}.swp`;
  writeFileSync(tmp, "chunkSizeBytes: 1048576\nnamenode:\n  placementPolicy: random\n");
  renameSync(tmp, file);
  t.regex(await m.next(/reloaded .*"random"/), /"round-robin" → "random"/);
  t.regex(await m.next(/needs a restart/), /chunkSizeBytes 67108864 → 1048576/);
  t.is(config.namenode.placementPolicy, "random");
  t.is(config.chunkSizeBytes, 64 * 1024 * 1024);
  t.is(m.lines.filter((l) => l.level === "error").length, 1, "one error for the one broken edit");
});

test("without a config file there is nothing to watch", (t) => {
  const m = memoryLog();
  t.is(watchConfig({ config: loadConfig({ env: {} }), reloadable: NAMENODE_RELOADABLE, log: m.log, who: "x" }), undefined);
});

test("placement switches policy on reconfigure", (t) => {
  const nodes = ["dn1", "dn2", "dn3"].map((id) => ({ id, state: "alive" as const, availableBytes: id === "dn1" ? 100 : 50, load: 0, activeWrites: 0 }));
  const p = new Placement("free-space", seededRng(1));
  t.deepEqual([p.choose(nodes, 1), p.choose(nodes, 1)], [["dn1"], ["dn1"]]);
  p.reconfigure("round-robin");
  t.is(p.policy, "round-robin");
  t.deepEqual([p.choose(nodes, 1), p.choose(nodes, 1), p.choose(nodes, 1)], [["dn1"], ["dn2"], ["dn3"]]);
});

test("the watchdog plans within limits changed while it runs", (t) => {
  const limits: WatchdogLimits = {
    repairInflightMax: 1,
    repairInflightPerNodeMax: 10,
    repairTimeoutMs: 10_000,
    repairAttemptsMax: 3,
    safeModeReportedFraction: 0.9,
    safeModeExtensionMs: 0,
    safeModeMaxMs: 0,
  };
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "e1" });
  const nodes = ["dn1", "dn2", "dn3", "dn4"].map((id) => ({ id, state: "alive" as const, availableBytes: 1e12, load: 0, activeWrites: 0 }));
  const chunks = ["c1", "c2", "c3"].map((id) => ({ chunkId: id, version: 1, sizeBytes: 10, checksum: "crc32:00000000", replication: 2, good: ["dn1"], corrupt: [], holders: ["dn1"] }));
  const view = (nowMs: number): ClusterView => ({ nowMs, nodes, chunks, committedChunks: 3, reportedChunks: 3 });
  const repairs = () => wd.getSnapshot().context.repairs.size;
  wd.send({ type: "TICK", view: view(1) });
  t.is(repairs(), 1);
  wd.send({ type: "LIMITS", limits: { ...limits, repairInflightMax: 3 } });
  t.is(wd.getSnapshot().context.limits.repairInflightMax, 3);
  wd.send({ type: "TICK", view: view(2) });
  t.is(repairs(), 3, "the next tick starts repairs up to the new limit");
});

test("the registry reads deadAfterMs and fullReserveBytes from the config at each use", (t) => {
  const config = loadConfig({ env: {} });
  const clock = { now: 10_000 };
  const state = new NamenodeState({ config, clock: () => clock.now, rng: seededRng(1), startedAtMs: 0 });
  const hb = (availableBytes: number) => ({ id: "dn1", startedAtMs: 1, capacityBytes: 1e12, usedBytes: 0, availableBytes, load: 0, activeWrites: 0, chunkCount: 0, dirs: [] });
  state.registry.heartbeat(hb(1e9));
  t.is(state.registry.node("dn1")?.state, "alive");
  applyChanges(config, [{ key: "namenode.fullReserveBytes", from: config.namenode.fullReserveBytes, to: 2e9 }]);
  state.registry.heartbeat(hb(1e9));
  t.is(state.registry.node("dn1")?.state, "full", "1 GB free is below the new 2 GB reserve");
  clock.now += 5_000;
  state.registry.tick(state.classify);
  t.not(state.registry.node("dn1")?.state, "dead", "5 s of silence is within the default 10 s");
  applyChanges(config, [{ key: "namenode.deadAfterMs", from: config.namenode.deadAfterMs, to: 3_000 }]);
  state.registry.tick(state.classify);
  t.is(state.registry.node("dn1")?.state, "dead");
});
