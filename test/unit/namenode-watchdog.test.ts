import test from "ava";
import { startWatchdog } from "../../actors/namenode/watchdog-machine.js";
import type { ChunkView, ClusterView, NodeView, WatchdogEffect, WatchdogLimits } from "../../actors/namenode/watchdog-types.js";

const GiB = 1024 ** 3;
const limits: WatchdogLimits = {
  repairInflightMax: 4,
  repairInflightPerNodeMax: 2,
  repairTimeoutMs: 10_000,
  repairAttemptsMax: 2,
  safeModeReportedFraction: 0.9,
  safeModeExtensionMs: 1_000,
  safeModeMaxMs: 30_000,
};

const node = (id: string, over: Partial<NodeView> = {}): NodeView => ({ id, state: "alive", availableBytes: 10 * GiB, load: 0.1, activeWrites: 0, ...over });
const chunk = (id: string, good: string[], over: Partial<ChunkView> = {}): ChunkView => ({
  chunkId: id,
  version: 1,
  sizeBytes: 1000,
  checksum: "crc32:00000000",
  replication: 3,
  good,
  corrupt: [],
  holders: [...good, ...(over.corrupt ?? [])],
  ...over,
});
const view = (nowMs: number, nodes: NodeView[], chunks: ChunkView[], reported?: [number, number]): ClusterView => ({
  nowMs,
  nodes,
  chunks,
  committedChunks: reported?.[1] ?? chunks.length,
  reportedChunks: reported?.[0] ?? chunks.length,
});

function started(nowMs = 0) {
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "e1" });
  const send = (e: Parameters<typeof wd.send>[0]): WatchdogEffect[] => {
    wd.send(e);
    return wd.getSnapshot().context.outbox;
  };
  // Leave safe mode on an empty namespace.
  send({ type: "TICK", view: view(nowMs, [], [], [0, 0]) });
  return { wd, send };
}

const ofType = <T extends WatchdogEffect["type"]>(effects: WatchdogEffect[], type: T) => effects.filter((e): e is Extract<WatchdogEffect, { type: T }> => e.type === type);

test("a fresh empty namespace leaves safe mode on the first tick", (t) => {
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "e1" });
  t.is(wd.getSnapshot().value, "safeMode");
  wd.send({ type: "TICK", view: view(5, [], [], [0, 0]) });
  t.is(wd.getSnapshot().value, "active");
  t.like(wd.getSnapshot().context.outbox[0], { type: "safemode-left", afterMs: 5 });
});

test("safe mode holds repairs until the reported fraction is reached plus the extension", (t) => {
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "e1" });
  const nodes = [node("dn1"), node("dn2"), node("dn3")];
  const under = [chunk("c1", ["dn1"])];
  wd.send({ type: "TICK", view: view(100, nodes, under, [5, 10]) });
  t.is(wd.getSnapshot().value, "safeMode");
  t.deepEqual(wd.getSnapshot().context.outbox, [], "no repair in safe mode");
  wd.send({ type: "TICK", view: view(200, nodes, under, [9, 10]) });
  t.is(wd.getSnapshot().value, "safeMode", "the extension is still running");
  wd.send({ type: "TICK", view: view(1_199, nodes, under, [9, 10]) });
  t.is(wd.getSnapshot().value, "safeMode");
  wd.send({ type: "TICK", view: view(1_200, nodes, under, [9, 10]) });
  t.is(wd.getSnapshot().value, "active");
  const out = wd.getSnapshot().context.outbox;
  t.is(out[0].type, "safemode-left");
  t.true(out.some((e) => e.type === "replicate"), "the tick that leaves safe mode already plans repairs");
});

test("safe mode ends after safeModeMaxMs even if chunks stay unreported", (t) => {
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "e1" });
  wd.send({ type: "TICK", view: view(29_999, [], [], [0, 10]) });
  t.is(wd.getSnapshot().value, "safeMode");
  wd.send({ type: "TICK", view: view(30_000, [], [], [0, 10]) });
  t.is(wd.getSnapshot().value, "active");
  t.regex((wd.getSnapshot().context.outbox[0] as { reason: string }).reason, /safeModeMaxMs/);
});

test("the chunk with one copy left is repaired before the one with two, and missing chunks are only announced", (t) => {
  const { send } = started();
  const nodes = ["dn1", "dn2", "dn3", "dn4", "dn5"].map((id) => node(id));
  const out = send({
    type: "TICK",
    view: view(10, nodes, [chunk("b-two-left", ["dn1", "dn2"]), chunk("a-missing", []), chunk("c-one-left", ["dn3"])]),
  });
  const reps = ofType(out, "replicate");
  t.deepEqual(reps.map((r) => r.chunkId), ["c-one-left", "b-two-left"]);
  t.is(reps[0].source, "dn3");
  t.is(reps[0].targets.length, 2);
  t.false(reps[0].targets.includes("dn3"));
  t.deepEqual(ofType(out, "underreplicated").map((u) => [u.chunkId, u.live]).sort(), [["a-missing", 0], ["b-two-left", 2], ["c-one-left", 1]]);
  // Announced once per episode.
  const again = send({ type: "TICK", view: view(20, nodes, [chunk("b-two-left", ["dn1", "dn2"]), chunk("a-missing", []), chunk("c-one-left", ["dn3"])]) });
  t.deepEqual(ofType(again, "underreplicated"), []);
  t.deepEqual(ofType(again, "replicate"), [], "a chunk with a repair running gets no second one");
});

test("targets are the nodes with the most room that do not hold the chunk; the per-node limit spreads repairs", (t) => {
  const { send, wd } = started();
  const nodes = [node("dn1"), node("dn2", { availableBytes: 20 * GiB }), node("dn3", { availableBytes: 30 * GiB }), node("dn4", { state: "full" }), node("dn5", { state: "dead" })];
  const chunks = ["c1", "c2", "c3"].map((id) => chunk(id, ["dn1"], { replication: 2, holders: ["dn1", "dn2"] }));
  const out = send({ type: "TICK", view: view(10, nodes, chunks) });
  const reps = ofType(out, "replicate");
  // dn2 holds a copy (another version, say) so is never a target; dn4 is full, dn5 dead.
  t.deepEqual(reps.map((r) => r.targets), [["dn3"], ["dn3"]], "dn3 has the most room; the third repair waits for dn1/dn3's slots");
  const busy = new Map<string, number>();
  for (const r of wd.getSnapshot().context.repairs.values()) for (const dn of [r.source, ...r.targets]) busy.set(dn, (busy.get(dn) ?? 0) + 1);
  t.true([...busy.values()].every((n) => n <= limits.repairInflightPerNodeMax));
});

test("a failed repair is retried with another source and target, then parked after repairAttemptsMax", (t) => {
  const { send } = started();
  const nodes = ["dn1", "dn2", "dn3", "dn4", "dn5"].map((id) => node(id));
  const c = chunk("c1", ["dn1", "dn2"], { replication: 3 });
  const [first] = ofType(send({ type: "TICK", view: view(10, nodes, [c]) }), "replicate");
  t.is(first.attempt, 1);
  const failed = send({ type: "REPAIR_FAILED", repairId: first.repairId, code: "IO", message: "disk error", nowMs: 20 });
  t.like(ofType(failed, "repair-failed")[0], { chunkId: "c1", attempt: 1, parked: false, code: "IO" });
  const [second] = ofType(send({ type: "TICK", view: view(30, nodes, [c]) }), "replicate");
  t.is(second.attempt, 2);
  t.not(second.source, first.source, "the failed source is tried last");
  const timedOut = send({ type: "REPAIR_TIMED_OUT", repairId: second.repairId, nowMs: 40 });
  t.like(ofType(timedOut, "repair-failed")[0], { attempt: 2, parked: true, code: "TIMEOUT" });
  t.deepEqual(ofType(send({ type: "TICK", view: view(50, nodes, [c]) }), "replicate"), [], "parked");
  const [third] = ofType(send({ type: "TICK", view: view(40 + limits.repairTimeoutMs, nodes, [c]) }), "replicate");
  t.is(third.attempt, 1, "tried afresh after the parking time");
});

test("a repair that succeeds is recorded with its time and bytes; late outcomes are ignored", (t) => {
  const { send, wd } = started();
  const nodes = ["dn1", "dn2", "dn3"].map((id) => node(id));
  const [r] = ofType(send({ type: "TICK", view: view(1_000, nodes, [chunk("c1", ["dn1"])]) }), "replicate");
  const ok = send({ type: "REPAIR_SUCCEEDED", repairId: r.repairId, confirmed: r.targets, failed: [], nowMs: 1_250 });
  t.like(ofType(ok, "repaired")[0], { chunkId: "c1", ms: 250, bytes: 2000 });
  t.is(wd.getSnapshot().context.repairs.size, 0);
  t.deepEqual(send({ type: "REPAIR_SUCCEEDED", repairId: r.repairId, confirmed: r.targets, failed: [], nowMs: 1_300 }), []);
  // Healthy again: the chunk's memory is dropped.
  send({ type: "TICK", view: view(1_400, nodes, [chunk("c1", ["dn1", "dn2", "dn3"])]) });
  t.is(wd.getSnapshot().context.chunks.size, 0);
});

test("a repair without an answer times out on a tick", (t) => {
  const { send, wd } = started();
  const nodes = ["dn1", "dn2", "dn3"].map((id) => node(id));
  ofType(send({ type: "TICK", view: view(0, nodes, [chunk("c1", ["dn1"])]) }), "replicate");
  const out = send({ type: "TICK", view: view(limits.repairTimeoutMs, nodes, [chunk("c1", ["dn1"])]) });
  t.like(ofType(out, "repair-failed")[0], { code: "TIMEOUT" });
  t.is(ofType(out, "replicate").length, 1, "and is retried on the same tick");
  t.is(wd.getSnapshot().context.repairs.size, 1);
});

test("surplus copies are trimmed from the fullest node, once, and never below the replication factor", (t) => {
  const { send } = started();
  const nodes = [node("dn1", { availableBytes: 5 * GiB }), node("dn2", { availableBytes: 1 * GiB }), node("dn3"), node("dn4", { availableBytes: 2 * GiB })];
  const c = chunk("c1", ["dn1", "dn2", "dn3", "dn4"], { replication: 2 });
  const out = send({ type: "TICK", view: view(10, nodes, [c]) });
  t.deepEqual(ofType(out, "delete").map((d) => [d.dn, d.reason]), [["dn2", "surplus"], ["dn4", "surplus"]]);
  t.deepEqual(ofType(send({ type: "TICK", view: view(20, nodes, [c]) }), "delete"), [], "orders are not repeated while pending");
  // A lost order is sent again to the same node only.
  const later = send({ type: "TICK", view: view(10 + limits.repairTimeoutMs, nodes, [c]) });
  t.deepEqual(ofType(later, "delete").map((d) => d.dn).sort(), ["dn2", "dn4"]);
});

test("a corrupt copy is deleted only once the good copies meet the replication factor", (t) => {
  const { send } = started();
  const nodes = ["dn1", "dn2", "dn3", "dn4"].map((id) => node(id));
  const c = chunk("c1", ["dn1", "dn2"], { corrupt: ["dn3"] });
  const out = send({ type: "TICK", view: view(10, nodes, [c]) });
  t.deepEqual(ofType(out, "delete"), [], "dn4 can take the new copy, so the corrupt one waits");
  const [r] = ofType(out, "replicate");
  t.deepEqual(r.targets, ["dn4"], "the corrupt holder is not a target");
  send({ type: "REPAIR_SUCCEEDED", repairId: r.repairId, confirmed: ["dn4"], failed: [], nowMs: 20 });
  const after = send({ type: "TICK", view: view(30, nodes, [chunk("c1", ["dn1", "dn2", "dn4"], { corrupt: ["dn3"] })]) });
  t.deepEqual(ofType(after, "delete").map((d) => [d.dn, d.reason]), [["dn3", "corrupt"]]);
});

test("in a cluster with no other place, the corrupt copy goes first so its node can take a good one", (t) => {
  const { send } = started();
  const nodes = ["dn1", "dn2", "dn3"].map((id) => node(id));
  const out = send({ type: "TICK", view: view(10, nodes, [chunk("c1", ["dn1", "dn2"], { corrupt: ["dn3"] })]) });
  t.deepEqual(ofType(out, "delete").map((d) => [d.dn, d.reason]), [["dn3", "corrupt"]]);
  t.deepEqual(ofType(out, "replicate"), []);
  const next = send({ type: "TICK", view: view(20, nodes, [chunk("c1", ["dn1", "dn2"])]) });
  t.deepEqual(ofType(next, "replicate")[0]?.targets, ["dn3"]);
});

test("every copy corrupt: nothing is deleted and nothing can be repaired", (t) => {
  const { send } = started();
  const nodes = ["dn1", "dn2", "dn3", "dn4"].map((id) => node(id));
  const out = send({ type: "TICK", view: view(10, nodes, [chunk("c1", [], { corrupt: ["dn1", "dn2", "dn3"] })]) });
  t.deepEqual(ofType(out, "delete"), []);
  t.deepEqual(ofType(out, "replicate"), []);
  t.like(ofType(out, "underreplicated")[0], { live: 0 });
});

test("the total in-flight limit is honoured", (t) => {
  const { send, wd } = started();
  const nodes = Array.from({ length: 20 }, (_, i) => node(`dn${i}`));
  const chunks = Array.from({ length: 30 }, (_, i) => chunk(`c${i}`, [`dn${i % 20}`], { replication: 2 }));
  const out = send({ type: "TICK", view: view(10, nodes, chunks) });
  t.is(ofType(out, "replicate").length, limits.repairInflightMax);
  t.is(wd.getSnapshot().context.repairs.size, limits.repairInflightMax);
});
