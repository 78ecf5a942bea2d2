/**
 * The `namenode` user is least-privilege too (cli/cluster/auth.ts, README Security): every namenode
 * path runs under the generated server config — metadata log, leader lease, checkpoints with log
 * purge, staged writes and their sweep, appends, repairs, a restart from a snapshot, a standby that
 * follows and takes over — without one permission violation, while streams that are not its own and
 * subjects it has no business on stay closed to it.
 */
import test from "ava";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import {
  FAST_FAULT_CONFIG,
  authFor,
  mergeConfig,
  replicationRestored,
  seededBytes,
  sha256,
  startCluster,
  waitFor,
  type TestCluster,
} from "../helpers/cluster.js";
import { subjects } from "../../messages/index.js";

let cluster: TestCluster;
const subj = subjects("woods");
/** Connections this test opens as the namenode user on purpose (their violations are expected). */
const probeCids = new Set<number>();
const files = new Map<string, Buffer>();

test.before(async () => {
  cluster = await startCluster({
    datanodes: 3,
    replication: 2,
    namenodes: 2,
    config: mergeConfig(FAST_FAULT_CONFIG, {
      writePath: "staged",
      namenode: { snapshotEveryEntries: 5, snapshotsKept: 2, snapshotLogPurge: true, stagingMaxAgeMs: 4000 },
    }),
  });
});
test.after.always(async () => {
  await cluster?.down();
});

async function connectAs(role: Parameters<typeof authFor>[1]): Promise<NatsConnection> {
  return connect({ servers: cluster.url, name: `security-namenode-test-${JSON.stringify(role)}`, ...authFor(cluster.url, role) });
}

/** Permission violations of the namenode user in the server log, but for this test's own probes. */
function namenodeViolations(): string[] {
  const log = readFileSync(join(cluster.dir, "logs", "nats-server.log"), "utf8");
  return log
    .split("\n")
    .filter((l) => /Violation/i.test(l) && /User "namenode"/.test(l))
    .filter((l) => !probeCids.has(Number(/cid:(\d+)/.exec(l)?.[1])));
}

async function putChecked(t: import("ava").ExecutionContext, path: string, data: Buffer): Promise<void> {
  const r = await cluster.put(path, data);
  t.is(r.code, 0, r.stderr);
  files.set(path, data);
}

async function allReadBack(t: import("ava").ExecutionContext): Promise<void> {
  for (const [path, data] of files) t.is(sha256((await cluster.ok(["get", path, "-"])).stdout), sha256(data), path);
}

test.serial("staged puts, appends and checkpoints (with log purge) run under the namenode's permissions", async (t) => {
  for (let i = 0; i < 6; i++) await putChecked(t, `/nn/f${i}.bin`, seededBytes(300_000 + i, i));
  await cluster.ok(["put", "-", "/nn/log.txt"], { input: Buffer.alloc(0) });
  for (let i = 0; i < 3; i++) await cluster.ok(["append", "-", "/nn/log.txt"], { input: Buffer.from(`line ${i}\n`) });
  files.set("/nn/log.txt", Buffer.from("line 0\nline 1\nline 2\n"));
  await allReadBack(t);

  const admin = await connectAs("admin");
  try {
    const snaps = await new Objm(admin).open(subj.snapshotBucket());
    await waitFor(async () => (await snaps.list()).filter((o) => !o.deleted).length > 0, 20_000, "a snapshot in the snapshot bucket");
    const jsm = await jetstreamManager(admin);
    await waitFor(async () => (await jsm.streams.info(subj.metaStream())).state.first_seq > 1, 20_000, "log entries covered by a snapshot purged");
    // A staged object nobody finishes is swept by the namenode once older than stagingMaxAgeMs.
    const staging = await new Objm(admin).open(subj.stagingBucket());
    await staging.putBlob({ name: "left-behind" }, new Uint8Array(1000));
    await waitFor(async () => !(await staging.info("left-behind")) || (await staging.info("left-behind"))?.deleted, 30_000, "the stray staged object swept");
  } finally {
    await admin.close();
  }
  t.deepEqual(namenodeViolations(), []);
});

test.serial("a repair after a datanode dies, and a namenode restarted from a snapshot, run under its permissions", async (t) => {
  const victim = (await cluster.stat("/nn/f0.bin")).chunks[0].replicas[0];
  await cluster.ok(["cluster", "stop", victim, "--kill"]);
  await waitFor(async () => (await cluster.nodes()).some((n) => n.id === victim && n.state === "dead"), 30_000, `${victim} declared dead`);
  t.is(await waitFor(() => replicationRestored(cluster, files.keys()), 60_000, "replication restored"), true);
  await cluster.ok(["cluster", "start", victim]);
  // The standby (loaded from the newest snapshot, then the log's tail) is restarted the same way.
  const standby = (await cluster.status()).namenodes.find((n) => n.role !== "active");
  if (standby) {
    await cluster.ok(["cluster", "stop", standby.id, "--kill"]);
    await cluster.ok(["cluster", "start", standby.id]);
  }
  await allReadBack(t);
  await putChecked(t, "/nn/after-restart.bin", seededBytes(200_000, 99));
  t.deepEqual(namenodeViolations(), []);
});

test.serial("the standby follows the log and takes over under the same permissions", async (t) => {
  const before = await cluster.status();
  const active = before.namenodes.find((n) => n.role === "active");
  t.truthy(active, JSON.stringify(before.namenodes));
  await cluster.ok(["cluster", "stop", active!.id, "--kill"]);
  await waitFor(async () => (await cluster.status()).namenodes.some((n) => n.id !== active!.id && n.role === "active"), 60_000, "the standby took over");
  await putChecked(t, "/nn/after-takeover.bin", seededBytes(250_000, 7));
  await allReadBack(t);
  await cluster.ok(["cluster", "start", active!.id]);
  t.deepEqual(namenodeViolations(), []);
});

test.serial("the namenode user cannot delete or create streams, nor publish client or datanode-only subjects", async (t) => {
  const nc = await connectAs("namenode");
  if (nc.info?.client_id !== undefined) probeCids.add(nc.info.client_id);
  try {
    const denied = async (subject: string) => {
      const seen = (async () => {
        for await (const s of nc.status()) {
          if (s.type === "error" && /permission/i.test(String(s.error?.message))) return String(s.error.message);
        }
        return "";
      })();
      nc.publish(subject, new Uint8Array(0));
      await nc.flush();
      const timeout = new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`no permission error for ${subject}`)), 5000));
      return Promise.race([seen, timeout]);
    };
    for (const s of [
      `$JS.API.STREAM.DELETE.${subj.metaStream()}`,
      `$JS.API.STREAM.DELETE.OBJ_${subj.stagingBucket()}`,
      "$JS.API.STREAM.CREATE.SOMETHING_ELSE",
      "$JS.API.STREAM.PURGE.SOMETHING_ELSE",
      subj.data("w1"),
      subj.datanode("dn1", "open"),
      subj.datanode("dn1", "appendApply"),
    ]) {
      t.regex(await denied(s), /permission/i, s);
    }
  } finally {
    await nc.close();
  }
  // The cluster still works.
  await putChecked(t, "/nn/last.bin", seededBytes(100_000, 3));
  await allReadBack(t);
});
