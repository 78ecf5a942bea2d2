import test from "ava";
import { Placement, readOrder, seededRng, type PlacementNode } from "../../actors/namenode/placement.js";
import { WoodsError } from "../../messages/index.js";
import { Allocations } from "../../actors/namenode/allocations.js";

const node = (id: string, over: Partial<PlacementNode> = {}): PlacementNode => ({ id, state: "alive", availableBytes: 1000, load: 0, activeWrites: 0, ...over });
const cluster = () => [node("dn1"), node("dn2"), node("dn3"), node("dn4"), node("dn5")];

test("every policy picks distinct nodes", (t) => {
  for (const policy of ["free-space", "random", "round-robin"] as const) {
    const p = new Placement(policy, seededRng(7));
    for (let i = 0; i < 20; i++) {
      const chosen = p.choose(cluster(), 3);
      t.is(chosen.length, 3);
      t.is(new Set(chosen).size, 3, `${policy} chose a node twice`);
    }
  }
});

test("dead, full and excluded nodes are never chosen", (t) => {
  const nodes = [node("dn1", { state: "dead" }), node("dn2", { state: "full" }), node("dn3"), node("dn4"), node("dn5")];
  for (const policy of ["free-space", "random", "round-robin"] as const) {
    const p = new Placement(policy, seededRng(1));
    for (let i = 0; i < 10; i++) t.deepEqual(p.choose(nodes, 3, ["dn4"]).sort(), ["dn3", "dn5"]);
  }
});

test("no eligible node gives NOT_ENOUGH_NODES; fewer than the replication gives what there is", (t) => {
  const p = new Placement("free-space", seededRng(1));
  const err = t.throws(() => p.choose([node("dn1", { state: "dead" })], 3), { instanceOf: WoodsError });
  t.is(err?.code, "NOT_ENOUGH_NODES");
  t.is(err?.retryable, true);
  t.throws(() => p.choose([], 1), { instanceOf: WoodsError });
  t.deepEqual(p.choose([node("dn1")], 3), ["dn1"]);
});

test("free-space prefers the most available bytes and breaks ties by load", (t) => {
  const p = new Placement("free-space", seededRng(1));
  const nodes = [
    node("dn1", { availableBytes: 100 }),
    node("dn2", { availableBytes: 500, load: 9 }),
    node("dn3", { availableBytes: 500, load: 1 }),
    node("dn4", { availableBytes: 300 }),
  ];
  t.deepEqual(p.choose(nodes, 3), ["dn3", "dn2", "dn4"]);
});

test("free-space treats nodes within 5% of the freest as equally free and spreads open allocations over them", (t) => {
  const p = new Placement("free-space", seededRng(1));
  const GiB = 2 ** 30;
  // Three datanodes on disks with nearly the same free space (dn1 slightly ahead), one clearly fuller.
  const nodes = [
    node("dn1", { availableBytes: 100 * GiB + 5 }),
    node("dn2", { availableBytes: 100 * GiB }),
    node("dn3", { availableBytes: 99 * GiB }),
    node("dn4", { availableBytes: 60 * GiB }),
  ];
  // Allocations between two heartbeats: each counts against its nodes, so single-replica chunks go round.
  const allocs = new Allocations();
  const chunk = 64 * 2 ** 20;
  const pending = (dn: string) => allocs.openOn(dn) * chunk;
  const firsts: string[] = [];
  for (let i = 0; i < 6; i++) {
    const [dn] = p.choose(nodes, 1, [], pending);
    firsts.push(dn);
    allocs.add({ chunkId: `c${i}`, fileId: "f", index: i, version: 1, replicas: [dn] });
  }
  t.deepEqual(firsts, ["dn1", "dn2", "dn3", "dn1", "dn2", "dn3"]);
  // Exact bytes alone (nothing pending) would put every chunk on dn1; the fuller dn4 is never among the first.
  t.deepEqual(p.choose(nodes, 3), ["dn1", "dn2", "dn3"]);
  // A commit ends the allocation, and the node's count with it.
  allocs.committed("c0");
  t.is(allocs.openOn("dn1"), 1);
  allocs.dropFile("f");
  t.is(allocs.openOn("dn1") + allocs.openOn("dn2") + allocs.openOn("dn3"), 0);
});

test("random placement with the same seed repeats the same choices", (t) => {
  const run = (seed: number) => {
    const p = new Placement("random", seededRng(seed));
    return Array.from({ length: 10 }, () => p.choose(cluster(), 2).join(","));
  };
  t.deepEqual(run(42), run(42));
  t.notDeepEqual(run(42), run(43));
  t.true(new Set(run(42)).size > 1, "random placement varies from one chunk to the next");
});

test("round-robin rotates the first replica across nodes", (t) => {
  const p = new Placement("round-robin", seededRng(1));
  const firsts = Array.from({ length: 5 }, () => p.choose(cluster(), 2)[0]);
  t.deepEqual(firsts, ["dn1", "dn2", "dn3", "dn4", "dn5"]);
  t.deepEqual(p.choose(cluster(), 2), ["dn1", "dn2"]);
  t.deepEqual(new Placement("round-robin", seededRng(1)).choose(cluster(), 3), ["dn1", "dn2", "dn3"]);
});

test("read order keeps the current version on live nodes, least loaded first", (t) => {
  const order = readOrder(
    [
      { node: node("dn1", { load: 5 }), version: 1 },
      { node: node("dn2", { load: 1 }), version: 1 },
      { node: node("dn3", { state: "dead" }), version: 1 },
      { node: node("dn4", { load: 0 }), version: 0 },
      { node: node("dn5", { load: 1, activeWrites: 3 }), version: 1 },
      { node: node("dn6", { state: "full", load: 2 }), version: 1 },
    ],
    1,
  );
  t.deepEqual(order, ["dn2", "dn5", "dn6", "dn1"]);
});
