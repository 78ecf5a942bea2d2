/**
 * Append leases in time (docs/append.md): the chunk machine's `leased` state,
 * the lease table driven by an injected clock, and what a lease means for the
 * rest of the namenode's state (stale copies, the watchdog's view, restarts).
 */
import test from "ava";
import { nextChunkState, IllegalChunkTransition, type ChunkEvent, type ChunkState } from "../../actors/namenode/chunk-machine.js";
import { AppendLeases } from "../../actors/namenode/append-leases.js";
import { AppendAllocations } from "../../actors/namenode/append-allocations.js";
import { NamenodeState } from "../../actors/namenode/state.js";
import { seededRng } from "../../actors/namenode/placement.js";
import { buildClusterView } from "../../actors/namenode/watchdog-view.js";
import { loadConfig } from "../../config/index.js";
import type { LogEntry } from "../../messages/index.js";

const ev = (type: ChunkEvent["type"]) => ({ type }) as ChunkEvent;
const LEASE_MS = 10_000;
const config = loadConfig({ env: {}, overrides: { log: { level: "silent" }, namenode: { appendLeaseMs: LEASE_MS } } });

test("a committed chunk is leased on GRANT, stays leased on RENEW, and is committed again on EXPIRE or REVOKE", (t) => {
  t.is(nextChunkState("committed", ev("GRANT")), "leased");
  t.is(nextChunkState("leased", ev("RENEW")), "leased");
  t.is(nextChunkState("leased", ev("EXPIRE")), "committed");
  t.is(nextChunkState("leased", ev("REVOKE")), "committed");
  t.is(nextChunkState("leased", ev("DELETE")), "deleting");
  const illegal: [ChunkState, ChunkEvent["type"]][] = [
    ["committed", "RENEW"],
    ["committed", "EXPIRE"],
    ["leased", "GRANT"],
    ["leased", "COMMIT"],
    ["allocated", "GRANT"],
    ["deleting", "GRANT"],
  ];
  for (const [from, e] of illegal) t.throws(() => nextChunkState(from, ev(e)), { instanceOf: IllegalChunkTransition }, `${from} --${e}-->`);
});

test("the lease table counts a lease from its grant or last renewal on the injected clock", (t) => {
  const steps: string[] = [];
  const leases = new AppendLeases(LEASE_MS, (id, from, to, e) => steps.push(`${id}:${from}-${e}->${to}`));
  const l = { chunkId: "c1", fileId: "f1", epoch: 1, primary: "dn1" };
  leases.grant(l, 1_000);
  t.is(leases.live("c1", 10_999)?.epoch, 1);
  t.is(leases.live("c1", 11_000), undefined, "a lease runs leaseMs, not a millisecond more");
  t.is(leases.expiresInMs("c1", 4_000), 7_000);
  leases.renew(l, 5_000);
  t.is(leases.expiresInMs("c1", 5_000), LEASE_MS);
  t.deepEqual(leases.takeExpired(14_999), []);
  t.deepEqual(leases.takeExpired(15_000).map((x) => x.epoch), [1]);
  t.false(leases.has("c1"));
  // A commit under the lease after it ran out, but before anyone else got one, brings it back.
  leases.renew(l, 20_000);
  t.is(leases.live("c1", 20_001)?.epoch, 1);
  leases.grant({ ...l, epoch: 2, primary: "dn2" }, 21_000);
  t.is(leases.get("c1")?.primary, "dn2");
  t.is(leases.revoke("c1", "sealed")?.epoch, 2);
  t.deepEqual(steps, [
    "c1:committed-GRANT->leased",
    "c1:leased-RENEW->leased",
    "c1:leased-EXPIRE->committed",
    "c1:committed-GRANT->leased",
    "c1:leased-REVOKE->committed",
    "c1:committed-GRANT->leased",
    "c1:leased-REVOKE->committed",
  ]);
});

test("append allocations live for the TTL after the last allocate of their file, and leave on attach", (t) => {
  const a = new AppendAllocations(1_000);
  a.add({ chunkId: "a1", fileId: "f", version: 1, replicas: ["dn1"] }, 0);
  a.add({ chunkId: "b1", fileId: "g", version: 1, replicas: ["dn1"] }, 0);
  a.add({ chunkId: "a2", fileId: "f", version: 1, replicas: ["dn1"] }, 800);
  t.deepEqual(a.takeExpired(1_000), ["b1"], "f's second allocation extended the first");
  a.attached("a2");
  t.is(a.get("a2"), undefined);
  t.deepEqual(a.takeExpired(1_800), ["a1"]);
  t.is(a.size, 0);
  const small = new AppendAllocations(1_000, undefined, 1);
  small.add({ chunkId: "x", fileId: "f", version: 1, replicas: [] }, 0);
  t.throws(() => small.add({ chunkId: "y", fileId: "f", version: 1, replicas: [] }, 0), { message: /retry later/ });
});

/** A namenode state with one complete file (chunk c1 of 10 bytes at version 1) on a simulated clock. */
function setup(log: LogEntry[] = []) {
  const clock = { now: 100_000 };
  const state = new NamenodeState({ config, clock: () => clock.now, rng: seededRng(1), startedAtMs: clock.now });
  const base: LogEntry[] = [
    { op: "create", fileId: "f1", path: "/f", replication: 2, atMs: 1 },
    { op: "chunk", fileId: "f1", index: 0, chunkId: "c1", version: 1, sizeBytes: 10, checksum: "crc32:00000000", atMs: 2 },
    { op: "complete", fileId: "f1", sizeBytes: 10, atMs: 3 },
  ];
  for (const e of [...base, ...log]) state.apply(e, false);
  state.leasesAfterReplay();
  const hb = (id: string) => ({ id, startedAtMs: 1, capacityBytes: 1e12, usedBytes: 0, availableBytes: 1e12, load: 0, activeWrites: 0, chunkCount: 1, dirs: [] });
  const report = (id: string, version: number) =>
    state.registry.report({ id, full: true, reportId: `r${id}${version}`, page: 0, last: true, chunks: [{ id: "c1", version, sizeBytes: 10 }], removed: [] }, state.classify);
  return { state, clock, hb, report };
}

const lease = (epoch: number, primary = "dn1"): LogEntry => ({ op: "lease", fileId: "f1", chunkId: "c1", epoch, primary, atMs: 5 });
const append = (epoch: number, from: number, key: string): LogEntry => ({
  op: "append",
  fileId: "f1",
  chunkId: "c1",
  epoch,
  version: 1,
  sizeBytes: from + 1,
  checksum: "crc32:00000001",
  records: [{ key, offset: from, sizeBytes: 1 }],
  atMs: 6,
});

test("a lease expires on the clock; every commit under it renews it", (t) => {
  const { state, clock } = setup();
  state.apply(lease(1), true);
  t.is(state.appendLeases.live("c1", clock.now)?.epoch, 1);
  clock.now += LEASE_MS - 1;
  state.apply(append(1, 10, "k1"), true);
  clock.now += LEASE_MS - 1;
  t.deepEqual(state.expireAppendLeases(), [], "the commit renewed it");
  clock.now += 1;
  t.deepEqual(state.expireAppendLeases().map((l) => [l.chunkId, l.epoch, l.primary]), [["c1", 1, "dn1"]]);
  t.false(state.appendLeases.has("c1"));
  t.is(state.ns.chunkLease("c1")?.epoch, 1, "the log still names the holder: a late commit under it is not interleaved with anyone");
});

test("after a restart, replayed leases count from the restart, not from their grant", (t) => {
  const { state, clock } = setup([lease(1), append(1, 10, "k1"), lease(2, "dn2")]);
  t.deepEqual(state.appendLeases.get("c1") && [state.appendLeases.get("c1")!.epoch, state.appendLeases.get("c1")!.primary], [2, "dn2"]);
  t.is(state.appendLeases.expiresInMs("c1", clock.now), LEASE_MS);
  t.is(state.ns.leaseEpoch, 2);
});

test("new chunks seal the leased last chunk and deleting the file ends its lease", (t) => {
  const { state } = setup([lease(1)]);
  state.apply({ op: "appendChunks", fileId: "f1", key: "k", offset: 10, chunks: [{ chunkId: "c2", version: 1, sizeBytes: 5, checksum: "crc32:00000002" }], atMs: 7 }, true);
  t.false(state.appendLeases.has("c1"));
  t.is(state.ns.chunkLease("c1"), undefined);
  state.apply({ op: "lease", fileId: "f1", chunkId: "c2", epoch: 2, primary: "dn1", atMs: 8 }, true);
  t.true(state.appendLeases.has("c2"));
  state.apply({ op: "delete", fileId: "f1", path: "/f", atMs: 9 }, true);
  t.is(state.appendLeases.size, 0);
  t.is(state.ns.appendedKey("k"), undefined);
});

test("a stale copy of a leased chunk is kept until the lease ends, then ordered deleted", (t) => {
  const { state, clock, hb, report } = setup([lease(1)]);
  for (const dn of ["dn1", "dn2", "dn3"]) state.registry.heartbeat(hb(dn));
  report("dn1", 1);
  report("dn2", 1);
  report("dn3", 1);
  // dn3 failed mid-append: the others continue at version 2.
  state.registry.moveReplicas("c1", ["dn1", "dn2"], 2);
  state.apply({ op: "chunkVersion", chunkId: "c1", version: 2, atMs: 8 }, true);
  t.is(state.classify("c1", 1), "defer");
  // A survivor reporting its old version before its rename must not lose its copy.
  const out = report("dn2", 1);
  t.deepEqual(out.stale, []);
  report("dn2", 2);
  t.deepEqual(state.registry.rejudgeDeferred(state.classify), [], "still leased");
  t.deepEqual(state.registry.heartbeat(hb("dn3")).commands, []);
  clock.now += LEASE_MS;
  t.is(state.expireAppendLeases().length, 1);
  t.deepEqual(state.registry.rejudgeDeferred(state.classify), [{ nodeId: "dn3", chunkId: "c1", version: 1 }]);
  t.deepEqual(state.registry.heartbeat(hb("dn3")).commands, [{ type: "delete", chunkId: "c1", version: 1, reason: "stale" }]);
  t.deepEqual(state.registry.heartbeat(hb("dn2")).commands, []);
});

test("the watchdog does not see a leased chunk: no repair or trim while appends may land, as it does once the lease ended", (t) => {
  const { state, clock, hb, report } = setup([lease(1)]);
  state.registry.heartbeat(hb("dn1"));
  state.registry.heartbeat(hb("dn2"));
  report("dn1", 1);
  const view = () => buildClusterView(state, clock.now, new Set(), false).chunks.map((c) => c.chunkId);
  t.deepEqual(view(), [], "under-replicated, but leased");
  clock.now += LEASE_MS;
  state.expireAppendLeases();
  t.deepEqual(view(), ["c1"]);
});
