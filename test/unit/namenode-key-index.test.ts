/**
 * The hash indexes behind the namespace's files and chunks: checked against a Map model under a
 * seeded random mix of adds, deletes, renames and replaces (with forced hash collisions), and for
 * insertion order across deletes and squeezes.
 */
import test from "ava";
import { IndexedTable, KeyIndex, hashKey } from "../../actors/namenode/key-index.js";
import { seededRng } from "../../actors/namenode/placement.js";

interface Row {
  a: string;
  b: string;
  v: number;
}

test("an indexed table agrees with Maps under a seeded mix of adds, deletes, renames and replaces", (t) => {
  const seed = Number(process.env.WOODS_SIM_SEED ?? 20261126);
  const rand = seededRng(seed);
  const table = new IndexedTable<Row>([(r) => r.a, (r) => r.b]);
  const byA = new Map<string, Row>();
  const byB = new Map<string, Row>();
  const order: Row[] = [];
  // Few distinct keys: adds often collide with present keys, deletes often hit.
  const key = (p: string) => `${p}${Math.floor(rand() * 3000)}`;
  for (let step = 0; step < 60_000; step++) {
    const r = rand();
    if (r < 0.45) {
      const row = { a: key("a"), b: key("b"), v: step };
      const taken = table.add(row);
      const want = byA.has(row.a) ? 0 : byB.has(row.b) ? 1 : -1;
      t.is(taken, want, `seed ${seed} step ${step}: add`);
      if (want < 0) {
        byA.set(row.a, row);
        byB.set(row.b, row);
        order.push(row);
      }
    } else if (r < 0.75) {
      const k = key("a");
      const got = table.delete(0, k);
      t.is(got, byA.get(k), `seed ${seed} step ${step}: delete`);
      if (got) {
        byA.delete(got.a);
        byB.delete(got.b);
        order.splice(order.indexOf(got), 1);
      }
    } else if (r < 0.9) {
      const from = key("a");
      const to = key("a");
      const row = byA.get(from);
      if (!row || byA.has(to)) continue;
      table.rekey(0, from, (x) => (x.a = to));
      byA.delete(from);
      byA.set(to, row);
    } else {
      const b = key("b");
      const old = byB.get(b);
      if (!old) continue;
      const next = { a: old.a, b: old.b, v: -step };
      // replace() finds the row by key 0, and keeps its place.
      table.replace(next);
      byA.set(next.a, next);
      byB.set(next.b, next);
      order[order.indexOf(old)] = next;
    }
    if (step % 5000 === 0) {
      t.is(table.size, byA.size);
      for (const [k, row] of byA) t.is(table.get(0, k), row);
      for (const [k, row] of byB) t.is(table.get(1, k), row);
      t.deepEqual([...table.values()], order, `seed ${seed} step ${step}: insertion order`);
    }
  }
  t.is(table.get(0, "nope"), undefined);
  t.false(table.has(1, "nope"));
});

test("deleting from a run of colliding hashes keeps every other key findable (backward shift)", (t) => {
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
  const index = new KeyIndex((row) => keys[row]);
  // Every key under the same hash: one long probe run, wrapping around the table's end.
  const h = -1;
  for (let i = 0; i < keys.length; i++) index.add(h, i);
  for (let i = 0; i < keys.length; i += 3) t.true(index.remove(h, i));
  for (let i = 0; i < keys.length; i++) t.is(index.find(keys[i], h), i % 3 === 0 ? -1 : i, keys[i]);
  t.false(index.remove(h, 0), "already removed");
  t.is(index.size, keys.length - Math.ceil(keys.length / 3));
});

test("holes are squeezed out once they outnumber the rows; order and lookups survive", (t) => {
  const table = new IndexedTable<Row>([(r) => r.a, (r) => r.b]);
  const rows = Array.from({ length: 5000 }, (_, i) => ({ a: `a${i}`, b: `b${i}`, v: i }));
  for (const r of rows) t.is(table.add(r), -1);
  for (let i = 0; i < 4000; i++) table.delete(1, `b${i}`);
  table.add({ a: "late", b: "late", v: -1 });
  t.deepEqual([...table.values()].map((r) => r.v), [...rows.slice(4000).map((r) => r.v), -1]);
  for (let i = 0; i < 5000; i++) t.is(table.get(0, `a${i}`)?.v, i < 4000 ? undefined : i);
  t.is(table.get(1, "late")?.v, -1);
  t.is(table.size, 1001);
});

test("hashKey is an int32, the same for equal strings, and spreads similar paths over the low bits", (t) => {
  t.is(hashKey("/a/b"), hashKey(["/a", "b"].join("/")));
  t.not(hashKey("/x/ü"), hashKey("/x/u"));
  for (const s of ["", "a", "a long path /with/many/segments"]) t.true(Number.isInteger(hashKey(s)) && hashKey(s) === (hashKey(s) | 0));
  // 4096 paths that differ only in their last characters: their low 12 bits (a 4096-place table) should mostly differ.
  const low = new Set(Array.from({ length: 4096 }, (_, i) => hashKey(`/data/2026/11/26/part-${i}`) & 0xfff));
  t.true(low.size > 2400, `${low.size} distinct`);
});
