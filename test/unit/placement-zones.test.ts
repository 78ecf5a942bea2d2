/**
 * Zone-aware placement (HDFS's rack awareness), pure: replicas of a chunk spread over as many
 * zones as there are, the policy's order kept within that constraint. Seeded random sources.
 */
import test from "ava";
import { Placement, readOrder, seededRng, spreadOverZones, type PlacementNode, type PlacementPolicy } from "../../actors/namenode/placement.js";

const POLICIES: PlacementPolicy[] = ["free-space", "random", "round-robin"];
const node = (id: string, zone: string, over: Partial<PlacementNode> = {}): PlacementNode => ({ id, state: "alive", availableBytes: 1000, load: 0, activeWrites: 0, zone, ...over });
const zonesOf = (nodes: PlacementNode[], ids: string[]) => ids.map((id) => nodes.find((n) => n.id === id)!.zone ?? "");
const count = (zones: string[]) => {
  const m = new Map<string, number>();
  for (const z of zones) m.set(z, (m.get(z) ?? 0) + 1);
  return [...m.values()].sort((a, b) => b - a);
};

/** Runs `n` choices with each policy and a few seeds, handing each to `check`. */
function everyChoice(nodes: () => PlacementNode[], replication: number, check: (ids: string[], policy: PlacementPolicy, seed: number) => void, n = 40): void {
  for (const policy of POLICIES) {
    for (const seed of [1, 7, 42]) {
      const p = new Placement(policy, seededRng(seed));
      for (let i = 0; i < n; i++) check(p.choose(nodes(), replication), policy, seed);
    }
  }
}

test("two zones, replication 3: every chunk has replicas in both zones, 2 + 1, on distinct nodes", (t) => {
  const nodes = () => [node("dn1", "a"), node("dn2", "a"), node("dn3", "a"), node("dn4", "b"), node("dn5", "b"), node("dn6", "b")];
  everyChoice(nodes, 3, (ids, policy, seed) => {
    t.is(new Set(ids).size, 3, `${policy}/${seed}: ${ids}`);
    t.deepEqual(count(zonesOf(nodes(), ids)), [2, 1], `${policy}/${seed}: ${ids}`);
  });
});

test("three zones, replication 3: one replica in each zone", (t) => {
  const nodes = () => [node("dn1", "a"), node("dn2", "a"), node("dn3", "b"), node("dn4", "b"), node("dn5", "c"), node("dn6", "c")];
  everyChoice(nodes, 3, (ids, policy, seed) => t.deepEqual(count(zonesOf(nodes(), ids)), [1, 1, 1], `${policy}/${seed}: ${ids}`));
});

test("uneven zones: the lone node of a small zone gets a replica of every chunk", (t) => {
  const nodes = () => [node("dn1", "a"), node("dn2", "a"), node("dn3", "a"), node("dn4", "a"), node("dn5", "b")];
  for (const rf of [2, 3]) {
    everyChoice(nodes, rf, (ids, policy) => {
      t.true(ids.includes("dn5"), `${policy} rf ${rf}: ${ids}`);
      t.is(new Set(ids).size, rf);
    });
  }
});

test("fewer zones than replicas: as even as it goes; more zones than replicas: each replica in its own zone", (t) => {
  const two = () => [node("dn1", "a"), node("dn2", "a"), node("dn3", "a"), node("dn4", "b"), node("dn5", "b")];
  everyChoice(two, 4, (ids) => t.deepEqual(count(zonesOf(two(), ids)), [2, 2]));
  const four = () => ["a", "b", "c", "d"].flatMap((z, i) => [node(`dn${2 * i + 1}`, z), node(`dn${2 * i + 2}`, z)]);
  everyChoice(four, 3, (ids) => t.deepEqual(count(zonesOf(four(), ids)), [1, 1, 1]));
});

test("a zone whose nodes are all full, dead or decommissioning does not count: replicas stay in the usable zones", (t) => {
  const nodes = () => [
    node("dn1", "a"),
    node("dn2", "a"),
    node("dn3", "a"),
    node("dn4", "b", { state: "full" }),
    node("dn5", "c", { state: "dead" }),
    node("dn6", "d", { decommissioning: true }),
  ];
  everyChoice(nodes, 3, (ids) => t.deepEqual([...ids].sort(), ["dn1", "dn2", "dn3"]));
  // A zone with one usable node left still gets a replica.
  const partly = () => [...nodes(), node("dn7", "b")];
  everyChoice(partly, 3, (ids) => {
    t.true(ids.includes("dn7"), `${ids}`);
    t.false(ids.some((id) => ["dn4", "dn5", "dn6"].includes(id)), `${ids}`);
  });
});

test("nodes without a zone count as one zone of their own", (t) => {
  const nodes = () => [node("dn1", ""), node("dn2", ""), node("dn3", ""), { id: "dn4", state: "alive" as const, availableBytes: 1000, load: 0, activeWrites: 0 }, node("dn5", "x")];
  everyChoice(nodes, 2, (ids) => {
    t.true(ids.includes("dn5"), `${ids}`);
    t.is(ids.filter((id) => id !== "dn5").length, 1);
  });
});

test("within the zone constraint the policy decides: free-space takes each zone's emptiest node", (t) => {
  const nodes = [
    node("dn1", "a", { availableBytes: 900 }),
    node("dn2", "a", { availableBytes: 800 }),
    node("dn3", "a", { availableBytes: 700 }),
    node("dn4", "b", { availableBytes: 100 }),
    node("dn5", "b", { availableBytes: 200 }),
  ];
  // Without zones free-space would take dn1, dn2, dn3; with them the best of b comes second.
  t.deepEqual(new Placement("free-space", seededRng(1)).choose(nodes, 3), ["dn1", "dn5", "dn2"]);
  t.deepEqual(new Placement("free-space", seededRng(1)).choose(nodes, 2), ["dn1", "dn5"]);
});

test("round-robin still rotates the first replica, and random still varies, with zones", (t) => {
  const nodes = () => [node("dn1", "a"), node("dn2", "b"), node("dn3", "a"), node("dn4", "b")];
  const rr = new Placement("round-robin", seededRng(1));
  t.deepEqual(Array.from({ length: 4 }, () => rr.choose(nodes(), 2)[0]), ["dn1", "dn2", "dn3", "dn4"]);
  const run = (seed: number) => {
    const p = new Placement("random", seededRng(seed));
    return Array.from({ length: 20 }, () => p.choose(nodes(), 2).join(","));
  };
  t.deepEqual(run(5), run(5), "the same seed repeats the same choices");
  t.true(new Set(run(5)).size > 2, "random placement varies from one chunk to the next");
});

test("decommissioning nodes get no new chunks and are read last", (t) => {
  const nodes = [node("dn1", "a", { decommissioning: true }), node("dn2", "a"), node("dn3", "b")];
  for (const policy of POLICIES) {
    const p = new Placement(policy, seededRng(3));
    for (let i = 0; i < 10; i++) t.deepEqual(p.choose(nodes, 3).sort(), ["dn2", "dn3"]);
  }
  const order = readOrder(
    [
      { node: node("dn1", "a", { decommissioning: true, load: 0 }), version: 1 },
      { node: node("dn2", "a", { load: 3 }), version: 1 },
      { node: node("dn3", "b", { load: 1 }), version: 1 },
    ],
    1,
  );
  t.deepEqual(order, ["dn3", "dn2", "dn1"]);
});

test("spreadOverZones keeps the given order within zones and starts crowded zones late", (t) => {
  const ordered = [node("a1", "a"), node("a2", "a"), node("b1", "b"), node("a3", "a"), node("c1", "c")];
  t.deepEqual(spreadOverZones(ordered).map((n) => n.id), ["a1", "b1", "c1", "a2", "a3"]);
  // The chunk already has two copies in a and one in b: c first, then b, then a.
  t.deepEqual(spreadOverZones(ordered, new Map([["a", 2], ["b", 1]])).map((n) => n.id), ["c1", "b1", "a1", "a2", "a3"]);
});
