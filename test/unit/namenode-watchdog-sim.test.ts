/**
 * Seeded simulation of the replication watchdog (TigerBeetle VOPR style): a
 * model cluster suffers random node deaths and returns, corrupt copies and
 * wiped disks while repairs randomly succeed, fail, half-succeed or never
 * answer. After every step the safety invariants are checked; once the chaos
 * stops, every chunk that still has a good copy must get back to exactly its
 * replication factor with no corrupt copy left.
 *
 * Replay one run with WOODS_SIM_SEED=<seed> (the seed is printed on failure).
 */
import test from "ava";
import { startWatchdog } from "../../actors/namenode/watchdog-machine.js";
import { needsAttention } from "../../actors/namenode/watchdog-plan.js";
import { seededRng, type Rng } from "../../actors/namenode/placement.js";
import type { ChunkView, ClusterView, WatchdogEffect, WatchdogLimits } from "../../actors/namenode/watchdog-types.js";

const TICK_MS = 1000;
const CHAOS_TICKS = 150;
const CALM_TICKS = 150;
const NODES = 7;
const CHUNKS = 40;

const limits: WatchdogLimits = {
  repairInflightMax: 6,
  repairInflightPerNodeMax: 2,
  repairTimeoutMs: 5 * TICK_MS,
  repairAttemptsMax: 3,
  safeModeReportedFraction: 0.99,
  safeModeExtensionMs: 2 * TICK_MS,
  safeModeMaxMs: 20 * TICK_MS,
};

type Copy = "good" | "corrupt";
interface SimNode {
  id: string;
  up: boolean;
  disk: Map<string, Copy>;
  /** Delete orders not carried out yet (chunkId → reason). */
  orders: Map<string, string>;
}
interface SimChunk {
  id: string;
  replication: number;
  size: number;
}
interface Running {
  repairId: string;
  chunkId: string;
  source: string;
  targets: string[];
  /** Tick at which the outcome arrives; Infinity = never (the watchdog times it out). */
  dueTick: number;
  outcome: "ok" | "partial" | "fail" | "silent";
}

class SimFailure extends Error {}
/** WOODS_SIM_TRACE=<chunkId> prints every effect about that chunk with the model's copies (* = delete ordered). */
const TRACE = process.env.WOODS_SIM_TRACE;

function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new SimFailure(msg);
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng() * xs.length)];
}

/** Runs one seeded simulation; throws SimFailure naming the broken invariant. */
function simulate(seed: number): { repairs: number; deletes: number } {
  const rng = seededRng(seed);
  const nodes: SimNode[] = Array.from({ length: NODES }, (_, i) => ({ id: `dn${i + 1}`, up: true, disk: new Map(), orders: new Map() }));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const chunks: SimChunk[] = Array.from({ length: CHUNKS }, (_, i) => ({ id: `c${i}`, replication: 1 + Math.floor(rng() * 3), size: 1000 + i }));
  for (const c of chunks) {
    const shuffled = [...nodes].sort(() => rng() - 0.5);
    for (const n of shuffled.slice(0, c.replication)) n.disk.set(c.id, "good");
  }
  const wd = startWatchdog({ limits, startedAtMs: 0, repairIdPrefix: "sim" });
  const running = new Map<string, Running>();
  let repairs = 0;
  let deletes = 0;

  const goodCopies = (cid: string, upOnly: boolean) => nodes.filter((n) => (!upOnly || n.up) && n.disk.get(cid) === "good").map((n) => n.id);

  const viewAt = (tick: number): ClusterView => {
    const tracked = new Set([...wd.getSnapshot().context.chunks.keys(), ...[...wd.getSnapshot().context.repairs.values()].map((r) => r.chunkId)]);
    const all: ChunkView[] = chunks.map((c) => ({
      chunkId: c.id,
      version: 1,
      sizeBytes: c.size,
      checksum: "crc32:00000000",
      replication: c.replication,
      good: goodCopies(c.id, true),
      corrupt: nodes.filter((n) => n.up && n.disk.get(c.id) === "corrupt").map((n) => n.id),
      holders: nodes.filter((n) => n.disk.has(c.id)).map((n) => n.id),
    }));
    // Like the wiring: only chunks needing attention, and those the watchdog still tracks.
    const cv = all.filter((c) => needsAttention(c) || tracked.has(c.chunkId));
    return {
      nowMs: tick * TICK_MS,
      nodes: nodes.map((n) => ({ id: n.id, state: n.up ? "alive" : "dead", availableBytes: 1e9 - n.disk.size * 1e6, load: 0, activeWrites: 0 })),
      chunks: cv,
      committedChunks: chunks.length,
      reportedChunks: chunks.filter((c) => nodes.some((n) => n.up && n.disk.has(c.id))).length,
    };
  };

  const run = (effects: WatchdogEffect[], tick: number, calm: boolean) => {
    const ctx = wd.getSnapshot().context;
    check(ctx.repairs.size <= limits.repairInflightMax, `${ctx.repairs.size} repairs in flight > ${limits.repairInflightMax}`);
    const perNode = new Map<string, number>();
    for (const r of ctx.repairs.values()) for (const dn of [r.source, ...r.targets]) perNode.set(dn, (perNode.get(dn) ?? 0) + 1);
    for (const [dn, n] of perNode) check(n <= limits.repairInflightPerNodeMax, `${dn} takes part in ${n} repairs`);
    for (const e of effects) {
      if (TRACE && "chunkId" in e && e.chunkId === TRACE) {
        console.error(tick, JSON.stringify(e), nodes.map((n) => `${n.id}${n.up ? "" : "(down)"}:${n.disk.get(e.chunkId) ?? "-"}${n.orders.has(e.chunkId) ? "*" : ""}`).join(" "));
      }
      if (e.type === "replicate") {
        const src = byId.get(e.source)!;
        check(src.up && src.disk.get(e.chunkId) === "good", `repair ${e.repairId} of ${e.chunkId} from ${e.source}, which has no good copy`);
        for (const dn of e.targets) check(!byId.get(dn)!.disk.has(e.chunkId), `repair ${e.repairId} of ${e.chunkId} to ${dn}, which already holds it`);
        check(e.targets.length > 0 && new Set(e.targets).size === e.targets.length, `repair ${e.repairId} has bad targets ${e.targets}`);
        repairs++;
        const roll = rng();
        const outcome: Running["outcome"] = calm ? "ok" : roll < 0.55 ? "ok" : roll < 0.7 ? "partial" : roll < 0.9 ? "fail" : "silent";
        running.set(e.repairId, {
          repairId: e.repairId,
          chunkId: e.chunkId,
          source: e.source,
          targets: e.targets,
          dueTick: outcome === "silent" ? Infinity : tick + Math.floor(rng() * 3),
          outcome,
        });
      } else if (e.type === "delete") {
        const n = byId.get(e.dn)!;
        check(n.disk.has(e.chunkId), `delete of ${e.chunkId} on ${e.dn}, which does not hold it`);
        if (e.reason === "corrupt") check(n.disk.get(e.chunkId) === "corrupt", `corrupt-delete of a good copy of ${e.chunkId} on ${e.dn}`);
        else {
          const c = chunks.find((x) => x.id === e.chunkId)!;
          n.orders.set(e.chunkId, e.reason);
          const keep = goodCopies(e.chunkId, true).filter((dn) => !byId.get(dn)!.orders.has(e.chunkId));
          check(keep.length >= c.replication, `surplus delete of ${e.chunkId} on ${e.dn} leaves ${keep.length} < ${c.replication} good copies`);
        }
        n.orders.set(e.chunkId, e.reason);
      } else if (e.type === "cancel-delete") {
        byId.get(e.dn)!.orders.delete(e.chunkId);
      }
    }
  };

  /** Carries out delete orders on up nodes (like heartbeats delivering them), a few at a time. */
  const executeDeletes = () => {
    for (const n of nodes) {
      if (!n.up) continue;
      for (const [cid, reason] of [...n.orders]) {
        if (rng() < 0.5) continue;
        if (n.disk.get(cid) === "good") {
          const others = goodCopies(cid, false).filter((dn) => dn !== n.id);
          check(others.length > 0, `executing a ${reason} delete of ${cid} on ${n.id} removes its last good copy`);
        }
        n.disk.delete(cid);
        n.orders.delete(cid);
        deletes++;
      }
    }
  };

  const deliverOutcomes = (tick: number) => {
    for (const r of [...running.values()]) {
      if (r.dueTick > tick) continue;
      running.delete(r.repairId);
      const src = byId.get(r.source)!;
      if (r.outcome === "fail" || !src.up || src.disk.get(r.chunkId) !== "good") {
        wd.send({ type: "REPAIR_FAILED", repairId: r.repairId, code: "IO", message: "source failed", nowMs: tick * TICK_MS });
      } else {
        const confirmed: string[] = [];
        const failed: { dn: string; code: string; message: string }[] = [];
        r.targets.forEach((dn, i) => {
          const t = byId.get(dn)!;
          if (t.up && !t.disk.has(r.chunkId) && !(r.outcome === "partial" && i === 0)) {
            t.disk.set(r.chunkId, "good");
            confirmed.push(dn);
          } else failed.push({ dn, code: "IO", message: "ingest failed" });
        });
        wd.send({ type: "REPAIR_SUCCEEDED", repairId: r.repairId, confirmed, failed, nowMs: tick * TICK_MS });
      }
      run(wd.getSnapshot().context.outbox, tick, false);
    }
  };

  const chaos = () => {
    const roll = rng();
    if (roll < 0.05) {
      const n = pick(rng, nodes);
      n.up = false;
    } else if (roll < 0.12) {
      const n = pick(rng, nodes.filter((x) => !x.up).concat(nodes[0]));
      n.up = true;
    } else if (roll < 0.17) {
      const n = pick(rng, nodes);
      const held = [...n.disk.keys()];
      if (held.length > 0) n.disk.set(pick(rng, held), "corrupt");
    } else if (roll < 0.19) {
      // A failed disk: every copy on it is gone, and so are the orders about them.
      const n = pick(rng, nodes);
      n.disk.clear();
      n.orders.clear();
    }
  };

  for (let tick = 1; tick <= CHAOS_TICKS + CALM_TICKS; tick++) {
    const calm = tick > CHAOS_TICKS;
    if (calm) for (const n of nodes) n.up = true;
    else chaos();
    deliverOutcomes(tick);
    executeDeletes();
    wd.send({ type: "TICK", view: viewAt(tick) });
    run(wd.getSnapshot().context.outbox, tick, calm);
  }

  check(wd.getSnapshot().value === "active", "still in safe mode at the end");
  for (const c of chunks) {
    const good = goodCopies(c.id, true);
    if (good.length === 0) continue; // lost to chaos: every good copy was corrupted or wiped
    check(good.length === c.replication, `${c.id} ends with ${good.length} good copies, wants ${c.replication}`);
    const corrupt = nodes.filter((n) => n.disk.get(c.id) === "corrupt").map((n) => n.id);
    check(corrupt.length === 0, `${c.id} keeps corrupt copies on ${corrupt}`);
  }
  check(wd.getSnapshot().context.chunks.size === 0 || [...wd.getSnapshot().context.chunks.keys()].every((id) => goodCopies(id, true).length === 0), "the watchdog remembers healthy chunks");
  return { repairs, deletes };
}

test("the watchdog keeps its invariants and restores replication over many seeded random runs", (t) => {
  const fixed = process.env.WOODS_SIM_SEED;
  const seeds = fixed ? [Number(fixed)] : Array.from({ length: 120 }, (_, i) => 1000 + i * 7919);
  let repairs = 0;
  let deletes = 0;
  for (const seed of seeds) {
    try {
      const r = simulate(seed);
      repairs += r.repairs;
      deletes += r.deletes;
    } catch (e) {
      t.fail(`seed ${seed}: ${(e as Error).message} (replay with WOODS_SIM_SEED=${seed})`);
      return;
    }
  }
  t.true(repairs > seeds.length, `the runs exercised repairs (${repairs}) `);
  t.true(deletes > 0, "the runs exercised deletes");
  t.log(`${seeds.length} runs, ${repairs} repairs ordered, ${deletes} deletes carried out`);
});
