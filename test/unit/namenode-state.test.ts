import test from "ava";
import { NamenodeState } from "../../actors/namenode/state.js";
import { seededRng, readOrder } from "../../actors/namenode/placement.js";
import { loadConfig } from "../../config/index.js";

const config = loadConfig({ env: {}, overrides: { log: { level: "silent" } } });

function setup() {
  const clock = { now: 1_000 };
  const state = new NamenodeState({ config, clock: () => clock.now, rng: seededRng(1), startedAtMs: 1_000 });
  state.apply({ op: "create", fileId: "f1", path: "/f", replication: 2, atMs: 1 }, false);
  // Version 2: the chunk's replica set changed during a mutation (appends bump versions).
  state.apply({ op: "chunk", fileId: "f1", index: 0, chunkId: "c1", version: 2, sizeBytes: 10, checksum: "crc32:00000000", atMs: 2 }, false);
  state.apply({ op: "complete", fileId: "f1", sizeBytes: 10, atMs: 3 }, false);
  const hb = (id: string) => ({ id, startedAtMs: 1, capacityBytes: 1e12, usedBytes: 0, availableBytes: 1e12, load: 0, activeWrites: 0, chunkCount: 1, dirs: [] });
  return { state, clock, hb };
}

test("a replica older than the namespace's version is stale: never served, ordered deleted with reason stale", (t) => {
  const { state, hb } = setup();
  t.is(state.classify("c1", 2), "keep");
  t.is(state.classify("c1", 1), "defer", "no copy of the current version is known yet: the old one may hold the only committed bytes");
  state.registry.heartbeat(hb("dn1"));
  state.registry.heartbeat(hb("dn2"));
  state.registry.report({ id: "dn2", full: true, reportId: "r", page: 0, last: true, chunks: [{ id: "c1", version: 2, sizeBytes: 10 }], removed: [] }, state.classify);
  t.is(state.classify("c1", 1), "stale");
  const out = state.registry.report({ id: "dn1", full: true, reportId: "r", page: 0, last: true, chunks: [{ id: "c1", version: 1, sizeBytes: 10 }], removed: [] }, state.classify);
  t.deepEqual(out.stale, [{ chunkId: "c1", version: 1 }]);
  t.deepEqual(readOrder(state.registry.replicas("c1"), 2), ["dn2"], "only the current version is served");
  t.deepEqual(state.registry.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "c1", version: 1, reason: "stale" }]);
  t.deepEqual(state.registry.heartbeat(hb("dn2")).commands, []);
});

test("unknown chunks are kept through safe mode and the orphan grace, then deleted", (t) => {
  const { state, clock, hb } = setup();
  state.registry.heartbeat(hb("dn1"));
  state.registry.report({ id: "dn1", full: true, reportId: "r", page: 0, last: true, chunks: [{ id: "ghost", version: 1, sizeBytes: 10 }], removed: [] }, state.classify);
  clock.now += config.namenode.orphanGraceMs;
  state.registry.tick(state.classify);
  t.deepEqual(state.registry.heartbeat(hb("dn1")).commands, [], "still in safe mode");
  state.safeMode = false;
  state.registry.tick(state.classify);
  t.deepEqual(state.registry.heartbeat(hb("dn1")).commands, [{ type: "delete", chunkId: "ghost", version: 1, reason: "orphan" }]);
});
