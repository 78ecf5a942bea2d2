/**
 * The packed replica table behind the registry: copies per chunk in one shared slab, nodes as
 * small integers, the rare extra copies and huge versions in a side table.
 */
import test from "ava";
import { ReplicaTable, INLINE_REPLICAS } from "../../actors/namenode/replica-table.js";
import { packChecksum, formatChecksum } from "../../actors/namenode/namespace.js";

test("copies are listed in the order they were added; a node's later word replaces its copy in place", (t) => {
  const rt = new ReplicaTable();
  rt.upsert("a", 2, 1, false);
  rt.upsert("a", 0, 1, false);
  rt.upsert("a", 1, 1, true);
  rt.upsert("a", 0, 2, false);
  t.deepEqual(rt.list("a"), [
    { node: 2, version: 1, corrupt: false },
    { node: 0, version: 2, corrupt: false },
    { node: 1, version: 1, corrupt: true },
  ]);
  rt.upsert("a", 1, 1, false);
  t.false(rt.list("a")[2].corrupt, "a copy listed as good again is good");
  t.true(rt.holds("a", 0, 2));
  t.false(rt.holds("a", 0, 1));
  t.false(rt.holds("b", 0, 1));
  t.deepEqual(rt.list("b"), []);
  t.is(rt.size, 1);
});

test("removing a copy keeps the others in order; the last one gone frees the chunk, and its slot is reused", (t) => {
  const rt = new ReplicaTable();
  for (const n of [5, 6, 7]) rt.upsert("a", n, 3, false);
  t.false(rt.remove("a", 6, 2), "another version is not removed");
  t.true(rt.remove("a", 6, 3));
  t.deepEqual(rt.list("a").map((r) => r.node), [5, 7]);
  t.true(rt.remove("a", 5));
  t.true(rt.remove("a", 7));
  t.false(rt.has("a"));
  t.is(rt.size, 0);
  t.false(rt.remove("a", 7));
  rt.upsert("b", 1, 1, false);
  t.deepEqual(rt.list("b"), [{ node: 1, version: 1, corrupt: false }], "a reused slot starts empty");
});

test("more copies than fit inline, and versions past 32 bits, are kept beside the slab", (t) => {
  const rt = new ReplicaTable();
  const nodes = Array.from({ length: INLINE_REPLICAS + 3 }, (_, i) => i);
  for (const n of nodes) rt.upsert("a", n, 1, n % 2 === 1);
  t.deepEqual(rt.list("a").map((r) => [r.node, r.corrupt]), nodes.map((n) => [n, n % 2 === 1]));
  const huge = 2 ** 40 + 3;
  rt.upsert("a", 1, huge, false);
  t.true(rt.holds("a", 1, huge));
  t.is(rt.list("a").length, nodes.length, "the node still holds one copy");
  t.is(rt.list("a").find((r) => r.node === 1)?.version, huge);
  rt.upsert("a", INLINE_REPLICAS + 2, 7, true);
  t.deepEqual(rt.list("a").find((r) => r.node === INLINE_REPLICAS + 2), { node: INLINE_REPLICAS + 2, version: 7, corrupt: true });
  for (const n of nodes) t.true(rt.remove("a", n), `node ${n}`);
  t.false(rt.has("a"));
});

test("200,000 chunks grow the slab and stay exact; one node forgotten everywhere while iterating", (t) => {
  const rt = new ReplicaTable();
  const n = 200_000;
  for (let i = 0; i < n; i++) for (let r = 0; r < 3; r++) rt.upsert(`c${i}`, (i + r) % 7, 1 + (i % 5), false);
  t.is(rt.size, n);
  for (let i = 0; i < n; i += 9973) t.deepEqual(rt.list(`c${i}`).map((r) => [r.node, r.version]), [0, 1, 2].map((r) => [(i + r) % 7, 1 + (i % 5)]));
  // Forget one node everywhere while iterating (what a full report's last page does).
  for (const id of rt.chunkIds()) rt.remove(id, 3);
  t.is(rt.size, n);
  t.false([...rt.chunkIds()].some((id) => rt.list(id).some((r) => r.node === 3)));
});

test("a full report's marks: copies it did not list are dropped at its end, deltas in between keep their marks", (t) => {
  const rt = new ReplicaTable();
  // Node 1 holds a, b, c; node 2 holds a.
  for (const id of ["a", "b", "c"]) rt.upsert(id, 1, 1, false);
  rt.upsert("a", 2, 1, false);
  rt.clearSeen(1);
  rt.upsert("a", 1, 2, false, true); // listed, at a new version
  rt.upsert("d", 1, 1, true, true); // listed as corrupt, new to us
  rt.upsert("b", 1, 1, false); // a delta while the report runs: not listed
  rt.upsert("a", 1, 2, false); // a delta about a listed copy keeps its mark
  rt.dropUnseen(1);
  t.deepEqual([...rt.chunkIds()].sort(), ["a", "d"]);
  t.deepEqual(rt.list("a"), [
    { node: 1, version: 2, corrupt: false },
    { node: 2, version: 1, corrupt: false },
  ]);
  t.true(rt.holds("d", 1));
  t.false(rt.holds("b", 1));
  // Marks were cleared: the next full report that lists nothing drops everything of node 1, nothing of node 2.
  rt.clearSeen(1);
  rt.dropUnseen(1);
  t.deepEqual([...rt.chunkIds()], ["a"]);
  t.deepEqual(rt.list("a"), [{ node: 2, version: 1, corrupt: false }]);
});

test("marks work for copies kept beside the slab too", (t) => {
  const rt = new ReplicaTable();
  for (let n = 0; n < INLINE_REPLICAS + 2; n++) rt.upsert("a", n, 1, false);
  rt.upsert("a", 0, 2 ** 40, false);
  for (const n of [0, INLINE_REPLICAS + 1]) rt.clearSeen(n);
  rt.upsert("a", INLINE_REPLICAS + 1, 1, false, true);
  rt.dropUnseen(0);
  rt.dropUnseen(INLINE_REPLICAS + 1);
  t.false(rt.holds("a", 0));
  t.true(rt.holds("a", INLINE_REPLICAS + 1, 1));
  t.is(rt.list("a").length, INLINE_REPLICAS + 1);
});

test("new chunks are keyed by the interned id when the caller has one", (t) => {
  const asked: string[] = [];
  const rt = new ReplicaTable((id) => {
    asked.push(id);
    return id === "known" ? "known" : undefined;
  });
  rt.upsert("known", 0, 1, false);
  rt.upsert("known", 1, 1, false);
  rt.upsert("stranger", 0, 1, false);
  t.deepEqual(asked, ["known", "stranger"], "asked once per new chunk");
  t.deepEqual([...rt.chunkIds()].sort(), ["known", "stranger"]);
});

test("checksums pack to their 32 bits and format back to the same string; other forms stay strings", (t) => {
  for (const s of ["crc32:00000000", "crc32:ffffffff", "crc32:80000000", "crc32:7fffffff", "crc32:0a1b2c3d"]) {
    const p = packChecksum(s);
    t.is(typeof p, "number", s);
    t.true(Number.isInteger(p) && (p as number) >= -(2 ** 31) && (p as number) < 2 ** 31, `${s} packs to an int32`);
    t.is(formatChecksum(p), s);
  }
  for (const s of ["crc32:0A1B2C3D", "crc32:1", "crc32:0000000g", "sha256:00", "", "crc32:000000000"]) t.is(packChecksum(s), s);
  t.is(formatChecksum(packChecksum(0xdeadbeef)), "crc32:deadbeef", "a number is taken as the bits");
});
