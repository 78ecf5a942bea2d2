import test from "ava";
import type { LsEntry, NodeInfo } from "../../messages/index.js";
import { WoodsError } from "../../messages/index.js";
import { applyEvent, applyFiles, applyFsck, applyNodes, applyPollError, createState, eventsAfter, toJsonSafe, viewOf } from "../../actors/dashboard/state.js";
import { walkFiles } from "../../actors/dashboard/poller.js";

const T0 = 1_800_000_000_000; // a whole second

function node(id: string, over: Partial<NodeInfo> = {}): NodeInfo {
  return { id, state: "alive", capacityBytes: 1000, usedBytes: 0, availableBytes: 900, chunks: 0, load: 1, activeWrites: 0, lastHeartbeatMsAgo: 100, ...over };
}

test("a datanode.dead event shows the node dead at once, and a nodes reply sent before it does not bring it back", (t) => {
  const s = createState("woods", T0);
  applyNodes(s, [node("dn1"), node("dn2")], T0, T0 + 10);
  t.is(viewOf(s, T0 + 10).nodes.find((n) => n.id === "dn2")?.state, "alive");

  applyEvent(s, "woods.events.datanode.dead", { kind: "datanode.dead", atMs: T0 + 500, source: "nn1", id: "dn2", silentMs: 3000 }, T0 + 500);
  t.is(viewOf(s, T0 + 500).nodes.find((n) => n.id === "dn2")?.state, "dead");

  // Asked at T0+400, answered at T0+600: older news than the event.
  applyNodes(s, [node("dn1"), node("dn2")], T0 + 400, T0 + 600);
  t.is(viewOf(s, T0 + 600).nodes.find((n) => n.id === "dn2")?.state, "dead");

  // A poll sent after the event is the truth again (the node came back).
  applyNodes(s, [node("dn1"), node("dn2")], T0 + 700, T0 + 800);
  t.is(viewOf(s, T0 + 800).nodes.find((n) => n.id === "dn2")?.state, "alive");
});

test("a node silent for longer than silentAfterMs is flagged before the namenode calls it dead", (t) => {
  const s = createState("woods", T0, { silentAfterMs: 3000 });
  applyNodes(s, [node("dn1", { lastHeartbeatMsAgo: 2999 }), node("dn2", { lastHeartbeatMsAgo: 3001 }), node("dn3", { state: "dead", lastHeartbeatMsAgo: 9000 })], T0, T0);
  const v = viewOf(s, T0);
  t.deepEqual(v.nodes.map((n) => [n.id, n.silent]), [["dn1", false], ["dn2", true], ["dn3", false]]);
});

test("events are numbered, summarized, capped, and handed out after a sequence", (t) => {
  const s = createState("woods", T0, { eventsMax: 3 });
  for (let i = 0; i < 5; i++) applyEvent(s, "woods.events.file.deleted", { kind: "file.deleted", atMs: T0 + i, source: "nn1", path: `/f${i}`, reason: "rm" }, T0 + i);
  t.deepEqual(s.events.map((e) => e.seq), [3, 4, 5]);
  t.is(s.events[2].summary, "/f4 deleted (rm)");
  t.is(s.events[2].fields.path, "/f4");
  t.false("kind" in s.events[2].fields);
  t.deepEqual(eventsAfter(s, 3).map((e) => e.seq), [4, 5]);
  t.deepEqual(eventsAfter(s, 5), []);
  t.is(viewOf(s, T0 + 10).lastSeq, 5);

  applyEvent(s, "woods.events.datanode.dead", { kind: "datanode.dead", atMs: T0, source: "nn1", id: "dn2", silentMs: 3012 }, T0);
  const dead = s.events.at(-1)!;
  t.is(dead.summary, "dn2 is dead after 3012 ms without a heartbeat");
  t.is(dead.level, "warn");
  t.is(dead.kind, "datanode.dead");
});

test("file bytes count in the second they were created; the rate leaves out the second still filling", (t) => {
  const s = createState("woods", T0, { throughputWindowS: 10 });
  applyEvent(s, "woods.events.file.created", { kind: "file.created", atMs: T0, source: "nn1", path: "/a", size: 5000, chunks: 1 }, T0 + 200);
  applyEvent(s, "woods.events.file.appended", { kind: "file.appended", atMs: T0, source: "nn1", path: "/a", sizeBytes: 1000 }, T0 + 1200);
  let v = viewOf(s, T0 + 1500);
  t.is(v.throughput.points.length, 10);
  t.deepEqual(v.throughput.points.slice(-2).map((p) => p.files), [5000, 1000]);
  t.is(v.throughput.filesRate, 5000 / 5, "the complete seconds of the last 5; the current one waits");
  t.is(v.throughput.filesTotal, 6000);
  // Out of the window after 10 s.
  v = viewOf(s, T0 + 11_500);
  t.is(v.throughput.filesTotal, 0);
  t.true(v.throughput.points.every((p) => p.files === 0));
});

test("growth of live nodes' used bytes between polls counts as stored bytes, spread over the seconds between", (t) => {
  const s = createState("woods", T0);
  applyNodes(s, [node("dn1", { usedBytes: 100 }), node("dn2", { usedBytes: 100 })], T0, T0 + 100);
  // Two seconds later: dn1 grew 4000, dn2 shrank (a delete does not count), dn3 is new (no baseline).
  applyNodes(s, [node("dn1", { usedBytes: 4100 }), node("dn2", { usedBytes: 50 }), node("dn3", { usedBytes: 999 })], T0 + 2000, T0 + 2100);
  const v = viewOf(s, T0 + 2100);
  t.deepEqual(v.throughput.points.slice(-3).map((p) => p.stored), [0, 2000, 2000]);
  // A node that died meanwhile does not count, even if its last report grew.
  applyNodes(s, [node("dn1", { usedBytes: 4100, state: "dead" })], T0 + 3000, T0 + 3100);
  t.is(viewOf(s, T0 + 3100).throughput.storedTotal, 4000);
});

test("poll errors mark the namenode unreachable and keep the last known state", (t) => {
  const s = createState("woods", T0);
  applyNodes(s, [node("dn1")], T0, T0);
  applyFsck(s, { healthy: true, files: 1, chunks: 1, underReplicated: 0, overReplicated: 0, corrupt: 0, missing: 0, liveNodes: 1 }, T0);
  applyPollError(s, "nobody is serving woods.namenode.nodes");
  const v = viewOf(s, T0 + 5000);
  t.false(v.namenode.reachable);
  t.is(v.namenode.error, "nobody is serving woods.namenode.nodes");
  t.is(v.namenode.lastOkAgoMs, 5000);
  t.is(v.nodes.length, 1);
  t.is(v.fsck?.files, 1);
});

test("file lists are cut at filesMax, and a file event marks the list for a refresh", (t) => {
  const s = createState("woods", T0, { filesMax: 2 });
  const entries: LsEntry[] = ["/a", "/b", "/c"].map((p) => ({ name: p.slice(1), path: p, type: "file", size: 1 }));
  applyFiles(s, entries, false, T0);
  t.false(s.filesDirty);
  const v = viewOf(s, T0);
  t.deepEqual(v.files.entries.map((e) => e.path), ["/a", "/b"]);
  t.true(v.files.truncated);
  applyEvent(s, "woods.events.file.created", { kind: "file.created", atMs: T0, source: "nn1", path: "/d", size: 1, chunks: 1 }, T0);
  t.true(s.filesDirty);
});

test("event fields are made JSON-safe and bounded", (t) => {
  const v = toJsonSafe({ big: 2n ** 70n, bytes: new Uint8Array(5), long: "x".repeat(600), list: Array.from({ length: 20 }, (_, i) => i), nan: Number.NaN, deep: { a: { b: { c: { d: 1 } } } } }) as Record<string, unknown>;
  t.is(v.big, (2n ** 70n).toString());
  t.is(v.bytes, "<5 bytes>");
  t.is((v.long as string).length, 513);
  t.is((v.list as unknown[]).length, 17);
  t.is(v.nan, "NaN");
  t.deepEqual(v.deep, { a: { b: "…" } });
  t.notThrows(() => JSON.stringify(v));
  // A body that is not an object still becomes an event.
  const s = createState("woods", T0);
  const e = applyEvent(s, "woods.events.chunk.stored", "garbage", T0);
  t.is(e.kind, "chunk.stored");
  t.is(e.source, "?");
});

test("the file walk goes breadth first, skips directories removed meanwhile, and stops at its limits", async (t) => {
  const tree: Record<string, LsEntry[]> = {
    "/": [
      { name: "a", path: "/a", type: "dir" },
      { name: "gone", path: "/gone", type: "dir" },
      { name: "top", path: "/top", type: "file", size: 1 },
    ],
    "/a": [
      { name: "b", path: "/a/b", type: "dir" },
      { name: "x", path: "/a/x", type: "file", size: 2 },
    ],
    "/a/b": [{ name: "y", path: "/a/b/y", type: "file", size: 3 }],
  };
  const calls: string[] = [];
  const ls = async (p: string) => {
    calls.push(p);
    const e = tree[p];
    if (!e) throw new WoodsError("NOT_FOUND", `${p} does not exist`);
    return e;
  };
  const all = await walkFiles(ls, 100, 100);
  t.deepEqual(all.entries.map((e) => e.path), ["/top", "/a/x", "/a/b/y"]);
  t.false(all.truncated);
  t.deepEqual(calls, ["/", "/a", "/gone", "/a/b"]);

  const few = await walkFiles(ls, 2, 100);
  t.deepEqual(few.entries.map((e) => e.path), ["/top", "/a/x"]);
  t.true(few.truncated);

  calls.length = 0;
  const shallow = await walkFiles(ls, 100, 1);
  t.deepEqual(shallow.entries.map((e) => e.path), ["/top"]);
  t.true(shallow.truncated);
  t.deepEqual(calls, ["/"]);

  await t.throwsAsync(walkFiles(async () => Promise.reject(new WoodsError("TIMEOUT", "slow")), 10, 10), { message: "slow" });
});
