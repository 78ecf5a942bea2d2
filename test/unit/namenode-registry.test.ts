import test from "ava";
import { Registry, type ChunkVerdict, type Heartbeat, type Report } from "../../actors/namenode/registry.js";

const GiB = 1024 ** 3;

function setup(opts: { graceUntilMs?: number; commandsMax?: number } = {}) {
  const clock = { now: 1_000 };
  const gate = { safeMode: false };
  const reg = new Registry(
    {
      deadAfterMs: 10_000,
      fullReserveBytes: GiB,
      orphanGraceUntilMs: opts.graceUntilMs ?? 0,
      commandsPerHeartbeatMax: opts.commandsMax ?? 100,
      orphanDeletesAllowed: () => !gate.safeMode,
    },
    () => clock.now,
  );
  return { reg, clock, gate };
}

const hb = (id: string, over: Partial<Heartbeat> = {}): Heartbeat => ({
  id,
  startedAtMs: 1,
  capacityBytes: 100 * GiB,
  usedBytes: 0,
  availableBytes: 50 * GiB,
  load: 0.1,
  activeWrites: 0,
  chunkCount: 0,
  dirs: [],
  ...over,
});

const rep = (id: string, over: Partial<Report>): Report => ({ id, full: false, reportId: "r1", page: 0, last: true, chunks: [], removed: [], ...over });
const chunks = (...ids: string[]) => ids.map((c) => ({ id: c, version: 1, sizeBytes: 10 }));
const keepAll = (): ChunkVerdict => "keep";

test("a new node joins and is asked for a full report until it sends one", (t) => {
  const { reg } = setup();
  const first = reg.heartbeat(hb("dn1"));
  t.deepEqual(first.transitions.map((x) => x.kind), ["joined"]);
  t.true(first.fullReport);
  t.true(reg.heartbeat(hb("dn1")).fullReport);
  reg.report(rep("dn1", { full: true, chunks: chunks("a") }), keepAll);
  const later = reg.heartbeat(hb("dn1"));
  t.false(later.fullReport);
  t.deepEqual(later.transitions, []);
});

test("a node becomes dead after deadAfterMs without heartbeat, and alive again on the next one", (t) => {
  const { reg, clock } = setup();
  reg.heartbeat(hb("dn1"));
  clock.now += 9_999;
  t.deepEqual(reg.tick(keepAll), []);
  t.is(reg.node("dn1")?.state, "alive");
  clock.now += 1;
  const tr = reg.tick(keepAll);
  t.is(tr.length, 1);
  t.is(tr[0].kind, "dead");
  t.is(reg.node("dn1")?.state, "dead");
  t.deepEqual(reg.tick(keepAll), [], "dead is announced once");
  const back = reg.heartbeat(hb("dn1"));
  t.deepEqual(back.transitions.map((x) => x.kind), ["joined"]);
  t.is(reg.node("dn1")?.state, "alive");
});

test("a node with less free space than the reserve is full, and alive again when space returns", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  const r = reg.heartbeat(hb("dn1", { availableBytes: GiB - 1 }));
  t.deepEqual(r.transitions.map((x) => x.kind), ["full"]);
  t.is(reg.node("dn1")?.state, "full");
  reg.heartbeat(hb("dn1", { availableBytes: 2 * GiB }));
  t.is(reg.node("dn1")?.state, "alive");
});

test("a full report replaces the node's replica set across pages", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  reg.heartbeat(hb("dn2"));
  reg.report(rep("dn1", { full: true, reportId: "r1", chunks: chunks("a", "b", "c") }), keepAll);
  reg.report(rep("dn2", { full: true, reportId: "x", chunks: chunks("a") }), keepAll);
  t.deepEqual(reg.replicas("a").map((r) => r.node.id).sort(), ["dn1", "dn2"]);
  // A new full report in two pages without b and c.
  reg.report(rep("dn1", { full: true, reportId: "r2", page: 0, last: false, chunks: chunks("a") }), keepAll);
  t.is(reg.replicas("b").length, 1, "nothing is forgotten before the last page");
  reg.report(rep("dn1", { full: true, reportId: "r2", page: 1, last: true, chunks: chunks("d") }), keepAll);
  t.deepEqual(reg.replicas("a").map((r) => r.node.id).sort(), ["dn1", "dn2"]);
  t.is(reg.replicas("b").length, 0);
  t.is(reg.replicas("c").length, 0);
  t.is(reg.replicas("d").length, 1);
});

test("deltas add and remove replicas", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { chunks: chunks("a", "b") }), keepAll);
  t.is(reg.replicas("a").length, 1);
  reg.report(rep("dn1", { removed: [{ id: "a", version: 1 }] }), keepAll);
  t.is(reg.replicas("a").length, 0);
  t.is(reg.replicas("b").length, 1);
  t.is(reg.liveReplicas("b", 1).length, 1);
  t.is(reg.liveReplicas("b", 2).length, 0, "another version is not a live replica of this one");
});

test("reports from a node that never sent a heartbeat are ignored", (t) => {
  const { reg } = setup();
  t.false(reg.report(rep("ghost", { full: true, chunks: chunks("a") }), keepAll).known);
  t.is(reg.replicas("a").length, 0);
});

test("chunks of deleted files get delete orders in the next heartbeat, once", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { full: true, chunks: chunks("a", "b") }), (id) => (id === "b" ? "delete" : "keep"));
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "b", version: 1, reason: "deleted" }]);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, []);
  t.deepEqual(reg.orderDelete("a", 1), ["dn1"]);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "a", version: 1, reason: "deleted" }]);
});

test("orphans are deleted only after the grace period", (t) => {
  const { reg, clock } = setup({ graceUntilMs: 5_000 });
  reg.heartbeat(hb("dn1"));
  const verdicts = new Map<string, ChunkVerdict>([["orphan", "orphan"], ["late-commit", "orphan"]]);
  const classify = (id: string) => verdicts.get(id) ?? "keep";
  reg.report(rep("dn1", { full: true, chunks: chunks("orphan", "late-commit", "kept") }), classify);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [], "nothing is deleted during the grace period");
  // A write in flight at restart commits during the grace period.
  verdicts.set("late-commit", "keep");
  clock.now = 5_000;
  reg.tick(classify);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "orphan", version: 1, reason: "orphan" }]);
  // After the grace period a new orphan is ordered at once.
  verdicts.set("fresh-orphan", "orphan");
  reg.report(rep("dn1", { chunks: chunks("fresh-orphan") }), classify);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "fresh-orphan", version: 1, reason: "orphan" }]);
});

test("a heartbeat reply carries at most commandsPerHeartbeatMax orders; the rest follow", (t) => {
  const { reg } = setup({ commandsMax: 2 });
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { chunks: chunks("a", "b", "c") }), () => "delete");
  t.is(reg.heartbeat(hb("dn1")).commands.length, 2);
  t.is(reg.heartbeat(hb("dn1")).commands.length, 1);
  t.is(reg.heartbeat(hb("dn1")).commands.length, 0);
});

test("a restarted datanode (new startedAtMs) is asked for a full report again", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { full: true }), keepAll);
  t.false(reg.heartbeat(hb("dn1")).fullReport);
  t.true(reg.heartbeat(hb("dn1", { startedAtMs: 2 })).fullReport);
});

test("a stale replica (older version) is ordered deleted with reason stale and reported as such", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  const classify = (_id: string, version: number): ChunkVerdict => (version < 2 ? "stale" : "keep");
  const out = reg.report(rep("dn1", { full: true, chunks: [{ id: "a", version: 1, sizeBytes: 10 }, { id: "b", version: 2, sizeBytes: 10 }] }), classify);
  t.deepEqual(out.stale, [{ chunkId: "a", version: 1 }]);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "a", version: 1, reason: "stale" }]);
  t.is(reg.liveReplicas("a", 2).length, 0, "a stale copy is not a replica of the current version");
});

test("a corrupt replica is known but not live, survives the full report, and is good again once re-listed", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { full: true, chunks: chunks("a") }), keepAll);
  const out = reg.report(rep("dn1", { corrupt: [{ id: "a", version: 1, reason: "block 3 CRC mismatch" }] }), keepAll);
  t.deepEqual(out.corrupt, [{ chunkId: "a", version: 1, reason: "block 3 CRC mismatch" }]);
  t.is(reg.liveReplicas("a", 1).length, 0);
  t.is(reg.replicas("a").length, 1);
  t.true(reg.replicas("a")[0].corrupt);
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [], "a corrupt copy of a live chunk waits for the watchdog");
  // A full report listing it as corrupt keeps it known (and does not announce it again).
  const again = reg.report(rep("dn1", { full: true, reportId: "r2", corrupt: [{ id: "a", version: 1, reason: "x" }] }), keepAll);
  t.deepEqual(again.corrupt, []);
  t.is(reg.replicas("a").length, 1);
  t.true(reg.orderDeleteOn("dn1", "a", 1, "corrupt"));
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "a", version: 1, reason: "corrupt" }]);
  reg.report(rep("dn1", { removed: [{ id: "a", version: 1 }] }), keepAll);
  t.is(reg.replicas("a").length, 0);
});

test("orphans are kept while in safe mode, and deleted once it is over", (t) => {
  const { reg, gate } = setup();
  gate.safeMode = true;
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { full: true, chunks: chunks("o") }), () => "orphan");
  reg.tick(() => "orphan");
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, []);
  gate.safeMode = false;
  reg.tick(() => "orphan");
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "o", version: 1, reason: "orphan" }]);
});

test("a node back from dead is asked for a full report, and a surplus order waiting for it is taken back", (t) => {
  const { reg, clock } = setup();
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { full: true, chunks: chunks("a", "b") }), keepAll);
  t.true(reg.orderDeleteOn("dn1", "a", 1, "surplus"));
  t.true(reg.orderDeleteOn("dn1", "b", 1, "corrupt"));
  clock.now += 10_000;
  t.deepEqual(reg.tick(keepAll).map((x) => x.kind), ["dead"]);
  const back = reg.heartbeat(hb("dn1"));
  t.true(back.fullReport);
  t.deepEqual(back.commands, [{ type: "delete", chunkId: "b", version: 1, reason: "corrupt" }]);
});

test("failed data dirs are counted from heartbeats and announced when they increase", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  const dirs = [
    { path: "/a", capacityBytes: 1, availableBytes: 1, failed: false },
    { path: "/b", capacityBytes: 1, availableBytes: 1, failed: true },
  ];
  t.deepEqual(reg.heartbeat(hb("dn1", { dirs })).transitions.map((x) => x.kind), ["dirs-failed"]);
  t.is(reg.node("dn1")?.failedDirs, 1);
  t.deepEqual(reg.heartbeat(hb("dn1", { dirs })).transitions, []);
});

test("a pending delete order can be taken back before it is delivered", (t) => {
  const { reg } = setup();
  reg.heartbeat(hb("dn1"));
  reg.report(rep("dn1", { chunks: chunks("a") }), keepAll);
  t.false(reg.orderDeleteOn("dn1", "zzz", 1, "surplus"), "no order for a copy the node does not hold");
  reg.orderDeleteOn("dn1", "a", 1, "surplus");
  t.true(reg.cancelDelete("dn1", "a", 1));
  t.deepEqual(reg.heartbeat(hb("dn1")).commands, []);
});
