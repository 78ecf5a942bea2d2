/**
 * The watchdog with zones and decommissioning nodes (pure machine, simulated time): repair targets
 * go to zones a chunk lacks, surplus copies leave the most crowded zone, a chunk whose copies all
 * sit in one zone is re-spread, and copies on decommissioning nodes are sources but never count.
 */
import test from "ava";
import { startWatchdog } from "../../actors/namenode/watchdog-machine.js";
import { busyOf, lackingZones, pickSurplus, pickTargets } from "../../actors/namenode/watchdog-plan.js";
import type { ChunkView, ClusterView, NodeView, WatchdogEffect, WatchdogLimits } from "../../actors/namenode/watchdog-types.js";

const GiB = 1024 ** 3;
const limits: WatchdogLimits = {
  repairInflightMax: 8,
  repairInflightPerNodeMax: 4,
  repairTimeoutMs: 10_000,
  repairAttemptsMax: 2,
  safeModeReportedFraction: 0.9,
  safeModeExtensionMs: 1_000,
  safeModeMaxMs: 30_000,
};

const node = (id: string, zone: string, over: Partial<NodeView> = {}): NodeView => ({ id, state: "alive", availableBytes: 10 * GiB, load: 0.1, activeWrites: 0, zone, ...over });
const chunk = (id: string, good: string[], over: Partial<ChunkView> = {}): ChunkView => ({
  chunkId: id,
  version: 1,
  sizeBytes: 1000,
  checksum: "crc32:00000000",
  replication: 3,
  good,
  corrupt: [],
  holders: [...good, ...(over.corrupt ?? []), ...(over.retiring ?? [])],
  ...over,
});
const view = (nowMs: number, nodes: NodeView[], chunks: ChunkView[]): ClusterView => ({ nowMs, nodes, chunks, committedChunks: chunks.length, reportedChunks: chunks.length });

function started() {
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "e1" });
  const send = (e: Parameters<typeof wd.send>[0]): WatchdogEffect[] => {
    wd.send(e);
    return wd.getSnapshot().context.outbox;
  };
  send({ type: "TICK", view: { nowMs: 0, nodes: [], chunks: [], committedChunks: 0, reportedChunks: 0 } });
  return { wd, send };
}
const ofType = <T extends WatchdogEffect["type"]>(effects: WatchdogEffect[], type: T) => effects.filter((e): e is Extract<WatchdogEffect, { type: T }> => e.type === type);

// Zone a has three nodes with lots of room, zone b one with less, zone c one.
const cluster = () => [
  node("a1", "a", { availableBytes: 90 * GiB }),
  node("a2", "a", { availableBytes: 80 * GiB }),
  node("a3", "a", { availableBytes: 70 * GiB }),
  node("b1", "b", { availableBytes: 5 * GiB }),
  node("c1", "c", { availableBytes: 4 * GiB }),
];

test("a repair puts the new copy in a zone the chunk lacks, even on a node with less room", (t) => {
  const { send } = started();
  const out = send({ type: "TICK", view: view(100, cluster(), [chunk("k1", ["a1", "a2"])]) });
  const [r] = ofType(out, "replicate");
  t.truthy(r);
  t.true(["b1", "c1"].includes(r.targets[0]), `target ${r.targets}`);
  // Two copies missing: one each into b and c rather than both into the roomier zone a.
  const two = started().send({ type: "TICK", view: view(100, cluster(), [chunk("k2", ["a1"])]) });
  t.deepEqual([...ofType(two, "replicate")[0].targets].sort(), ["b1", "c1"]);
});

test("pickTargets: untried first, then the emptiest zone, then room; no zones = by room as before", (t) => {
  const nodes = cluster();
  const zoneOf = (id: string) => nodes.find((n) => n.id === id)?.zone ?? "";
  const busy = busyOf(new Map());
  const counts = new Map([["a", 2]]);
  t.deepEqual(pickTargets(2, nodes.filter((n) => n.zone !== "a" || n.id === "a3"), busy, { triedTargets: [] }, limits, 1000, "a1", counts, zoneOf), ["b1", "c1"]);
  // b1 failed before: it goes after every untried node, even one in a crowded zone.
  t.deepEqual(pickTargets(1, [nodes[2], nodes[3]], busy, { triedTargets: ["b1"] }, limits, 1000, "a1", counts, zoneOf), ["a3"]);
  t.deepEqual(pickTargets(2, nodes, busy, { triedTargets: [] }, limits, 1000, "x"), ["a1", "a2"]);
});

test("surplus copies are trimmed from the most crowded zone first", (t) => {
  const { send } = started();
  const out = send({ type: "TICK", view: view(100, cluster(), [chunk("k1", ["a1", "a2", "b1", "c1"])]) });
  const dels = ofType(out, "delete");
  t.is(dels.length, 1);
  t.true(["a1", "a2"].includes(dels[0].dn), `victim ${dels[0].dn}`);
  const nodes = new Map(cluster().map((n) => [n.id, n]));
  const zoneOf = (id: string) => nodes.get(id)?.zone ?? "";
  // Within zone a the fullest goes first (a2 has less room than a1); then zones are even again.
  t.deepEqual(pickSurplus(["a1", "a2", "a3", "b1"], 2, nodes, zoneOf), ["a3", "a2"]);
  t.deepEqual(pickSurplus(["a1", "b1", "c1", "a2"], 1, nodes, zoneOf), ["a2"]);
});

test("a chunk with every copy in one zone gets a copy in another, then the crowded zone is trimmed", (t) => {
  const twoZones = () => cluster().filter((n) => n.zone !== "c");
  const { wd, send } = started();
  const out = send({ type: "TICK", view: view(100, twoZones(), [chunk("k1", ["a1", "a2", "a3"])]) });
  const [r] = ofType(out, "replicate");
  t.like(r, { reason: "misplaced", targets: ["b1"] });
  t.deepEqual(ofType(out, "underreplicated"), [], "a mis-placed chunk is not under-replicated");
  send({ type: "REPAIR_SUCCEEDED", repairId: r.repairId, confirmed: r.targets, failed: [], nowMs: 200 });
  const next = send({ type: "TICK", view: view(300, twoZones(), [chunk("k1", ["a1", "a2", "a3", "b1"])]) });
  t.deepEqual(ofType(next, "delete").map((d) => d.dn), ["a3"], "the surplus copy leaves zone a (its fullest node)");
  // Spread (2 + 1 over two zones): healthy and forgotten.
  t.deepEqual(send({ type: "TICK", view: view(400, twoZones(), [chunk("k1", ["a1", "a2", "b1"])]) }), []);
  t.false(wd.getSnapshot().context.chunks.has("k1"));
});

test("no re-spread when the other zones have no node that can take a copy", (t) => {
  const nodes = [node("a1", "a"), node("a2", "a"), node("a3", "a"), node("b1", "b", { state: "full" }), node("c1", "c", { decommissioning: true }), node("d1", "d", { state: "dead" })];
  const { wd, send } = started();
  t.deepEqual(send({ type: "TICK", view: view(100, nodes, [chunk("k1", ["a1", "a2", "a3"])]) }), []);
  t.false(wd.getSnapshot().context.chunks.has("k1"));
  t.is(lackingZones(["a", "a"], 2, ["a"]), undefined);
  t.deepEqual(lackingZones(["a", "a"], 2, ["a", "b"]), ["b"]);
  t.is(lackingZones(["a"], 1, ["a", "b"]), undefined, "one replica has nothing to spread");
  t.is(lackingZones(["a", "b"], 2, ["a", "b", "c"]), undefined, "two copies in two zones are spread");
  t.is(lackingZones(["a", "a", "b"], 3, ["a", "b"]), undefined, "2 + 1 over two zones is spread");
  t.deepEqual(lackingZones(["a", "b", "b"], 3, ["a", "b", "c"]), ["c"], "three zones: one copy each");
  t.is(lackingZones(["a", "b", "b"], 3, ["a", "b"]), undefined, "zone c has no usable node");
});

test("a chunk covering fewer zones than it could (a repair made while zone c's node was busy) is re-spread", (t) => {
  const { send } = started();
  const out = send({ type: "TICK", view: view(100, cluster(), [chunk("k1", ["a1", "b1", "a2"])]) });
  const [r] = ofType(out, "replicate");
  t.like(r, { reason: "misplaced", targets: ["c1"] });
  send({ type: "REPAIR_SUCCEEDED", repairId: r.repairId, confirmed: ["c1"], failed: [], nowMs: 200 });
  const dels = ofType(send({ type: "TICK", view: view(300, cluster(), [chunk("k1", ["a1", "b1", "a2", "c1"])]) }), "delete");
  t.deepEqual(dels.map((d) => d.dn), ["a2"], "the fuller of zone a's two copies goes");
});

test("re-spreading uses at most half the repair slots: short chunks come first", (t) => {
  const { send } = started();
  const nodes = [...cluster(), node("b2", "b"), node("b3", "b"), node("c2", "c"), node("c3", "c")];
  const misplaced = Array.from({ length: 10 }, (_, i) => chunk(`m${i}`, ["a1", "a2", "a3"]));
  const out = send({ type: "TICK", view: view(100, nodes, [...misplaced, chunk("u1", ["a1", "b1"])]) });
  const reps = ofType(out, "replicate");
  t.truthy(reps.find((r) => r.chunkId === "u1" && r.reason === undefined), "the under-replicated chunk is repaired first");
  // Re-spreads start only while fewer than half the slots are busy (the repair of u1 counts).
  t.is(reps.length, limits.repairInflightMax / 2);
  t.is(reps.filter((r) => r.reason === "misplaced").length, limits.repairInflightMax / 2 - 1);
});

test("copies on decommissioning nodes do not count, are copied from, and are never trimmed", (t) => {
  const nodes = [...cluster(), node("d1", "b", { decommissioning: true })];
  const { send } = started();
  // Two counted copies and one on d1: short by one. d1 is a fine source, never a target.
  const out = send({ type: "TICK", view: view(100, nodes, [chunk("k1", ["a1", "c1"], { retiring: ["d1"] })]) });
  const [u] = ofType(out, "underreplicated");
  t.like(u, { live: 2, replication: 3, retiring: 1 });
  const [r] = ofType(out, "replicate");
  t.false(r.targets.includes("d1"));
  t.deepEqual(r.targets, ["b1"], "b lacks a counted copy: its in-service node gets it");
  // Enough counted copies besides d1's: healthy, d1's copy stays (it is read until d1 is stopped).
  const { wd, send: send2 } = started();
  t.deepEqual(send2({ type: "TICK", view: view(100, nodes, [chunk("k2", ["a1", "b1", "c1"], { retiring: ["d1"] })]) }), []);
  t.false(wd.getSnapshot().context.chunks.has("k2"));
});

test("a chunk whose only copies are on decommissioning nodes is repaired from them, and is not missing", (t) => {
  const nodes = [node("a1", "a", { decommissioning: true }), node("a2", "a"), node("b1", "b"), node("c1", "c")];
  const { wd, send } = started();
  const out = send({ type: "TICK", view: view(100, nodes, [chunk("k1", [], { retiring: ["a1"] })]) });
  const [r] = ofType(out, "replicate");
  t.is(r.source, "a1");
  t.deepEqual([...r.targets].sort(), ["a2", "b1", "c1"]);
  t.is(wd.getSnapshot().context.stats.missing, 0);
  t.is(wd.getSnapshot().context.stats.underReplicated, 1);
});
