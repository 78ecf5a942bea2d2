/**
 * Namenode checkpoints against a real nats-server: snapshots are written to the
 * Object Store, a restart loads the newest valid one and replays only the log
 * after it, corrupt ones are skipped, and covered log entries can be purged.
 * Each test uses its own subject prefix (own stream and buckets).
 */
import test from "ava";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";
import { loadConfig, type WoodsConfig } from "../../config/index.js";
import { runNamenode, type NamenodeHandle } from "../../actors/namenode/index.js";
import { SnapshotStore, metaLogBounds } from "../../jetstream/index.js";
import { decode, encode, subjects, type NamenodeVerb, type Subjects } from "../../messages/index.js";

let server: NatsServerHandle;
let nc: NatsConnection;
const running: NamenodeHandle[] = [];
const timers: NodeJS.Timeout[] = [];

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

test.after.always(async () => {
  for (const t of timers) clearInterval(t);
  for (const nn of running) await nn.stop().catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

/** One isolated deployment: a config with its own prefix, fake datanodes heartbeating, request helpers. */
function deployment(prefix: string, namenode: Partial<WoodsConfig["namenode"]> = {}) {
  const subj: Subjects = subjects(prefix);
  const config = loadConfig({
    env: {},
    overrides: {
      prefix,
      nats: { url: server.url },
      replication: 2,
      log: { level: process.env.WOODS_TEST_LOG_LEVEL ?? "silent" },
      namenode: { tickIntervalMs: 100, logPublishTimeoutMs: 2000, logPublishRetries: 1, snapshotIntervalMs: 0, snapshotEveryEntries: 0, ...namenode },
    },
  });
  const ok = async (verb: NamenodeVerb, body: unknown): Promise<any> => {
    const r = decode((await nc.request(subj.namenode(verb), encode(body), { timeout: 5000 })).data).value as any;
    if (!r.ok) throw new Error(`${verb} failed: ${r.error.code} ${r.error.message}`);
    return r;
  };
  const beat = async (id: string): Promise<void> => {
    const r = await ok("heartbeat", { id, startedAtMs: 1, capacityBytes: 100e9, usedBytes: 0, availableBytes: 90e9, load: 0, activeWrites: 0, chunkCount: 0, dirs: [] });
    if (r.fullReport) await ok("report", { id, full: true, reportId: `r${Date.now()}`, page: 0, last: true, chunks: [], removed: [] });
  };
  timers.push(setInterval(() => ["dn1", "dn2"].forEach((id) => void beat(id).catch(() => undefined)), 100));
  let nn: NamenodeHandle | undefined;
  return {
    subj,
    config,
    ok,
    get nn(): NamenodeHandle {
      return nn!;
    },
    async start(): Promise<NamenodeHandle> {
      nn = await runNamenode({ config, onFatal: (e) => console.error(`fatal: ${e.message}`) });
      running.push(nn);
      await Promise.all(["dn1", "dn2"].map(beat));
      return nn;
    },
    async restart(): Promise<NamenodeHandle> {
      await nn!.stop();
      return this.start();
    },
    /** Creates `n` complete files of one chunk each under `dir` (3 log entries each). */
    async files(dir: string, n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        const f = await ok("create", { path: `${dir}/f${i}`, clientId: "t" });
        const a = await ok("allocate", { fileId: f.fileId, index: 0 });
        await ok("commit", { fileId: f.fileId, index: 0, chunkId: a.chunkId, version: a.version, sizeBytes: 100 + i, checksum: "crc32:00000001", replicas: a.replicas });
        await ok("complete", { fileId: f.fileId, sizeBytes: 100 + i, chunkCount: 1 });
      }
    },
    store: () => SnapshotStore.open(nc, subj.snapshotBucket(), 1),
  };
}

/** The whole namespace as plain data, for before/after comparisons. */
function dump(nn: NamenodeHandle): unknown {
  const ns = nn.state.ns;
  return {
    files: [...ns.allFiles()]
      .map((f) => ({ path: f.path, id: f.fileId, state: f.state, size: f.sizeBytes, chunks: f.chunks.map((c) => c && [c.id, c.version, c.size, c.checksum]) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
    ls: ns.ls("/"),
    chunks: ns.chunkCount,
  };
}

test.serial("a restart loads the newest snapshot and replays only the log after it", async (t) => {
  const d = deployment("snapa");
  await d.start();
  await d.files("/before", 5);
  const writing = await d.ok("create", { path: "/open/w", clientId: "t" });
  const snap = await d.nn.snapshotNow();
  t.is(snap.files, 6);
  t.is(snap.chunks, 5);
  t.is(snap.logSeq, (await metaLogBounds(nc, d.subj)).lastSeq, "the snapshot covers everything logged so far");
  await d.files("/after", 3);
  await d.ok("rm", { path: "/before/f0" });
  const before = dump(d.nn);
  const epoch = d.nn.epoch;

  const nn = await d.restart();
  t.is(nn.startup.snapshot?.name, snap.name);
  t.is(nn.startup.replayFromSeq, snap.logSeq + 1);
  // Only the tail was replayed: 3 files x 3 entries, 1 rm, the previous start's nothing else.
  t.is(nn.startup.replayedEntries, 10);
  t.deepEqual(dump(nn), before);
  t.is(nn.epoch, epoch + 1, "the epoch comes from the snapshot and the tail");
  // The file being written when the snapshot was taken can still be completed.
  const a = await d.ok("allocate", { fileId: writing.fileId, index: 0 });
  await d.ok("commit", { fileId: writing.fileId, index: 0, chunkId: a.chunkId, version: a.version, sizeBytes: 5, checksum: "crc32:00000002", replicas: a.replicas });
  await d.ok("complete", { fileId: writing.fileId, sizeBytes: 5, chunkCount: 1 });
  t.deepEqual((await d.ok("ls", { prefix: "/open" })).entries, [{ name: "w", path: "/open/w", type: "file", size: 5 }]);
});

test.serial("a corrupt newest snapshot falls back to the older one, and no valid snapshot to a full replay", async (t) => {
  const d = deployment("snapb");
  await d.start();
  await d.files("/one", 3);
  const s1 = await d.nn.snapshotNow();
  await d.files("/two", 3);
  const s2 = await d.nn.snapshotNow();
  await d.files("/three", 2);
  const before = dump(d.nn);
  const store = await d.store();
  t.deepEqual((await store.list()).map((s) => s.name), [s2.name, s1.name]);

  // Garbage under the newest name: the store's digest matches it, our checksum does not.
  await store.writeRaw(s2.name, new TextEncoder().encode("this is not a snapshot, but it is long enough to look like one"));
  let nn = await d.restart();
  t.is(nn.startup.snapshot?.name, s1.name);
  t.is(nn.startup.skippedSnapshots[0]?.name, s2.name);
  t.regex(nn.startup.skippedSnapshots[0]?.reason ?? "", /corrupt snapshot/);
  t.is(nn.startup.replayFromSeq, s1.logSeq + 1);
  t.deepEqual(dump(nn), before);

  // The older one torn in half as well: a full replay still rebuilds everything.
  const good = await store.read(s1.name);
  await store.writeRaw(s1.name, good.subarray(0, Math.floor(good.length / 2)));
  nn = await d.restart();
  t.is(nn.startup.snapshot, undefined);
  t.is(nn.startup.skippedSnapshots.length, 2);
  t.is(nn.startup.replayFromSeq, 1);
  t.deepEqual(dump(nn), before);
});

test.serial("with log purge on, covered entries leave the stream and a restart is still complete", async (t) => {
  const d = deployment("snapc", { snapshotLogPurge: true, snapshotsKept: 2 });
  await d.start();
  const snaps = [];
  for (let round = 0; round < 3; round++) {
    await d.files(`/r${round}`, 3);
    snaps.push(await d.nn.snapshotNow());
  }
  await d.files("/tail", 2);
  const before = dump(d.nn);
  const store = await d.store();
  t.deepEqual((await store.list()).map((s) => s.name), [snaps[2].name, snaps[1].name], "only snapshotsKept snapshots remain");
  t.deepEqual(snaps[0].deleted, []);
  t.deepEqual(snaps[2].deleted, [snaps[0].name]);
  const bounds = await metaLogBounds(nc, d.subj);
  t.is(bounds.firstSeq, snaps[1].logSeq + 1, "the log is kept from the oldest kept snapshot on");
  t.true(snaps[2].purged > 0);

  let nn = await d.restart();
  t.is(nn.startup.snapshot?.name, snaps[2].name);
  t.deepEqual(dump(nn), before);

  // Newest corrupt: the older kept snapshot still has its whole tail in the log.
  await store.writeRaw(snaps[2].name, new Uint8Array(100));
  nn = await d.restart();
  t.is(nn.startup.snapshot?.name, snaps[1].name);
  t.deepEqual(dump(nn), before);

  // Every snapshot covering the purged range corrupt: the start fails loudly instead of losing files.
  await store.writeRaw(snaps[1].name, new Uint8Array(100));
  await nn.stop();
  const err = await t.throwsAsync(() => d.start());
  t.regex(err?.message ?? "", /purged up to sequence \d+ and no snapshot covering it could be loaded/);
});

test.serial("a snapshot is written by itself after snapshotEveryEntries log entries", async (t) => {
  const d = deployment("snapd", { snapshotEveryEntries: 12 });
  await d.start();
  const store = await d.store();
  t.deepEqual(await store.list(), []);
  await d.files("/auto", 4);
  const deadline = Date.now() + 5000;
  while ((await store.list()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const [s] = await store.list();
  t.truthy(s, "a snapshot appeared");
  const nn = await d.restart();
  t.is(nn.startup.snapshot?.name, s.name);
  t.is(nn.state.ns.fileCount, 4);
});

test.serial("a snapshot taken while creates are in flight matches the log exactly at its sequence", async (t) => {
  const d = deployment("snape");
  await d.start();
  // Creates in two waves: the capture is asked while the first wave sits in the group-commit queue
  // (applied in memory, not yet durable), and the second wave arrives while the snapshot is written.
  const create = (i: number) => d.ok("create", { path: `/busy/f${i}`, clientId: `c${i}` });
  const first = Array.from({ length: 100 }, (_, i) => create(i));
  while (d.nn.state.ns.fileCount < 100) await new Promise((r) => setImmediate(r));
  const snapping = d.nn.snapshotNow();
  const second = Array.from({ length: 200 }, (_, i) => create(100 + i));
  await Promise.all([...first, ...second]);
  const snap = await snapping;
  t.log(`snapshot files ${snap.files} logSeq ${snap.logSeq}`);
  t.true(snap.files >= 100, `the snapshot holds the first wave (${snap.files} files)`);
  const before = dump(d.nn);
  const nn = await d.restart();
  t.is(nn.startup.snapshot?.name, snap.name);
  // A snapshot holding an entry its sequence does not cover would make the replay re-create a file (an assert).
  t.is(nn.startup.replayedEntries, 300 - snap.files);
  t.deepEqual(dump(nn), before);
});
