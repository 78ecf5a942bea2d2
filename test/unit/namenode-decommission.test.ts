/**
 * Decommissioning and zones in the namenode's pure state: the `decommission` log entry, the
 * registry's counts (copies on decommissioning nodes read, not counted), progress per node, and
 * the set carried through snapshots (an optional header field; older snapshots load with none).
 */
import test from "ava";
import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import { NamenodeState } from "../../actors/namenode/state.js";
import { Namespace } from "../../actors/namenode/namespace.js";
import { seededRng, readOrder } from "../../actors/namenode/placement.js";
import { decommissionProgress, decommissionReply } from "../../actors/namenode/decommission.js";
import { chunkHealth } from "../../actors/namenode/watchdog-view.js";
import { buildClusterView } from "../../actors/namenode/watchdog-view.js";
import { decodeSnapshot, encodeSnapshot } from "../../actors/namenode/snapshot-format.js";
import { logEntrySchema, WoodsError } from "../../messages/index.js";
import { loadConfig } from "../../config/index.js";

const config = loadConfig({ env: {}, overrides: { log: { level: "silent" } } });
const hb = (id: string, zone?: string) => ({
  id,
  startedAtMs: 1,
  capacityBytes: 1e12,
  usedBytes: 0,
  availableBytes: 1e12,
  load: 0,
  activeWrites: 0,
  chunkCount: 1,
  dirs: [],
  ...(zone ? { zone } : {}),
});

/** A state with /f (replication 2, chunk c1) on dn1 and dn2, dn3 empty; every node fully reported. */
function setup() {
  const clock = { now: 1_000 };
  const state = new NamenodeState({ config, clock: () => clock.now, rng: seededRng(1), startedAtMs: 1_000 });
  state.apply({ op: "create", fileId: "f1", path: "/f", replication: 2, atMs: 1 }, false);
  state.apply({ op: "chunk", fileId: "f1", index: 0, chunkId: "c1", version: 1, sizeBytes: 10, checksum: "crc32:00000000", atMs: 2 }, false);
  state.apply({ op: "complete", fileId: "f1", sizeBytes: 10, atMs: 3 }, false);
  const full = (id: string, chunks: string[]) =>
    state.registry.report({ id, full: true, reportId: "r", page: 0, last: true, chunks: chunks.map((c) => ({ id: c, version: 1, sizeBytes: 10 })), removed: [] }, state.classify);
  state.registry.heartbeat(hb("dn1", "a"));
  state.registry.heartbeat(hb("dn2", "b"));
  state.registry.heartbeat(hb("dn3", "b"));
  full("dn1", ["c1"]);
  full("dn2", ["c1"]);
  full("dn3", []);
  state.safeMode = false;
  return { state, clock, full };
}

test("the decommission entry validates, and replaying it sets and clears the namespace's set", (t) => {
  t.true(logEntrySchema.safeParse({ op: "decommission", node: "dn1", atMs: 5 }).success);
  t.true(logEntrySchema.safeParse({ op: "decommission", node: "dn1", cancel: true, atMs: 5 }).success);
  t.false(logEntrySchema.safeParse({ op: "decommission", node: "dn 1", atMs: 5 }).success);
  const ns = new Namespace();
  ns.apply({ op: "decommission", node: "dn1", atMs: 1 });
  ns.apply({ op: "decommission", node: "dn2", atMs: 2 });
  ns.apply({ op: "decommission", node: "dn1", cancel: true, atMs: 3 });
  t.deepEqual([...ns.decommissioning], ["dn2"]);
});

test("the registry learns each node's zone from its heartbeats", (t) => {
  const { state } = setup();
  t.is(state.registry.node("dn1")?.zone, "a");
  state.registry.heartbeat(hb("dn1"));
  t.is(state.registry.node("dn1")?.zone, "", "no zone field: no zone");
  state.registry.heartbeat(hb("dn1", "c"));
  t.is(state.registry.node("dn1")?.zone, "c");
  t.deepEqual([...state.registry.countedZones("c1", 1)], ["c", "b"]);
});

test("copies on a decommissioning node are read last but not counted; the view and fsck see the chunk short", (t) => {
  const { state } = setup();
  t.deepEqual(state.registry.copyCounts("c1", 1), { good: 2, corrupt: 0, reported: true });
  state.apply({ op: "decommission", node: "dn1", atMs: 10 }, true);
  t.true(state.registry.node("dn1")!.decommissioning);
  t.deepEqual(state.registry.copyCounts("c1", 1), { good: 1, corrupt: 0, reported: true });
  t.deepEqual(chunkHealth(state.registry, "c1", 1), { good: ["dn2"], corrupt: [], holders: ["dn1", "dn2"], retiring: ["dn1"] });
  t.deepEqual(readOrder(state.registry.replicas("c1"), 1), ["dn2", "dn1"], "still readable, last");
  const view = buildClusterView(state, 2_000, new Set(), false);
  t.like(view.chunks[0], { chunkId: "c1", good: ["dn2"], retiring: ["dn1"] });
  t.like(view.nodes.find((n) => n.id === "dn1"), { decommissioning: true, zone: "a" });
  // No new chunks for it.
  for (let i = 0; i < 5; i++) t.false(state.placement.choose(state.registry.allNodes(), 3).includes("dn1"));
});

test("progress: left until every chunk has enough counted copies elsewhere; done needs a full report and no safe mode", (t) => {
  const { state, full } = setup();
  state.apply({ op: "decommission", node: "dn1", atMs: 10 }, true);
  t.deepEqual(decommissionProgress(state).get("dn1"), { chunks: 1, left: 1, done: false });
  t.like(decommissionReply(state, "dn1"), { id: "dn1", adminState: "decommissioning", state: "alive", zone: "a", chunks: 1, chunksLeft: 1 });
  // The watchdog copied c1 to dn3.
  full("dn3", ["c1"]);
  t.deepEqual(decommissionProgress(state).get("dn1"), { chunks: 1, left: 0, done: true });
  t.like(decommissionReply(state, "dn1"), { adminState: "decommissioned", chunksLeft: 0 });
  state.safeMode = true;
  t.like(decommissionProgress(state).get("dn1"), { left: 0, done: false, waitingFor: "the namenode is in safe mode (not every replica is reported yet)" });
  state.safeMode = false;
  // A node that restarted and has not reported since: what it holds is unknown.
  state.registry.heartbeat({ ...hb("dn1", "a"), startedAtMs: 2 });
  t.like(decommissionProgress(state).get("dn1"), { done: false, waitingFor: "dn1 has not sent its full report to this namenode yet" });
  // A node this namenode never heard of (after a restart) is never done.
  state.apply({ op: "decommission", node: "dn9", atMs: 11 }, true);
  t.like(decommissionProgress(state).get("dn9"), { chunks: 0, left: 0, done: false, waitingFor: "dn9 has not sent a heartbeat to this namenode yet" });
  t.like(decommissionReply(state, "dn9"), { adminState: "decommissioning", state: "unknown" });
});

test("cancelling puts the node back: its copies count again (surplus for the watchdog) and it takes new chunks", (t) => {
  const { state, full } = setup();
  state.apply({ op: "decommission", node: "dn1", atMs: 10 }, true);
  full("dn3", ["c1"]);
  state.apply({ op: "decommission", node: "dn1", cancel: true, atMs: 11 }, true);
  t.false(state.registry.node("dn1")!.decommissioning);
  t.is(state.registry.copyCounts("c1", 1).good, 3);
  t.is(decommissionProgress(state).size, 0);
  t.like(decommissionReply(state, "dn1"), { adminState: "in-service", chunksLeft: 0 });
  t.is(buildClusterView(state, 2_000, new Set(), false).chunks[0].good.length, 3, "over-replicated: in the view to be trimmed");
});

test("snapshots carry the decommissioning set in their header; snapshots without it load with none", async (t) => {
  const ns = new Namespace();
  ns.apply({ op: "epoch", epoch: 1, namenodeId: "nn1", atMs: 1 });
  ns.apply({ op: "decommission", node: "dn3", atMs: 2 });
  const enc = await encodeSnapshot({ ...ns.capture(), logSeq: 2, createdAtMs: 3 });
  t.deepEqual(enc.header.decommissioning, ["dn3"]);
  const bytes = Buffer.concat(enc.parts);
  t.deepEqual([...decodeSnapshot(bytes).ns.decommissioning], ["dn3"]);
  const plain = new Namespace();
  plain.apply({ op: "epoch", epoch: 1, namenodeId: "nn1", atMs: 1 });
  const encPlain = await encodeSnapshot({ ...plain.capture(), logSeq: 1, createdAtMs: 3 });
  t.false("decommissioning" in encPlain.header, "nothing to carry: the header is as before");
  t.deepEqual([...decodeSnapshot(Buffer.concat(encPlain.parts)).ns.decommissioning], []);
  // A header whose list is not datanode ids is corrupt (re-sealed so only the field check can catch it).
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  const hdrLen = bytes.readUInt32BE(8);
  const header = packr.unpack(bytes.subarray(12, 12 + hdrLen));
  const lying = packr.pack({ ...header, decommissioning: ["dn3", "a.b>"] });
  const len = Buffer.alloc(4);
  len.writeUInt32BE(lying.length);
  const body = Buffer.concat([bytes.subarray(0, 8), len, lying, bytes.subarray(12 + hdrLen, bytes.length - 32)]);
  const resealed = Buffer.concat([body, createHash("sha256").update(body).digest()]);
  const err = t.throws(() => decodeSnapshot(resealed), { instanceOf: WoodsError });
  t.regex(err?.message ?? "", /decommissioning/);
});
