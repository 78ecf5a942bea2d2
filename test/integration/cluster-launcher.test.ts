import test from "ava";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runWoods, waitFor, WOODS, startCluster } from "../helpers/cluster.js";
import { freePort } from "../helpers/nats-server.js";

test("cluster up in the foreground serves until Ctrl-C, then stops every process; a second up keeps the data", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "woods-fg-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  // The cluster dir gives client commands its client credentials (anonymous connections are refused).
  const env = { WOODS_NATS: `nats://127.0.0.1:${port}`, WOODS_CLUSTER_DIR: dir, WOODS_CREDS: "", WOODS_CONFIG: "" };
  const up = spawn(process.execPath, [WOODS, "cluster", "up", "--dir", dir, "--port", String(port), "--datanodes", "2", "--replication", "2"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  up.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => up.on("exit", (code) => r(code)));
  const deadline = Date.now() + 60_000;
  while (!stderr.includes("Ctrl-C") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.regex(stderr, /Ctrl-C/);

  const status = JSON.parse((await runWoods(["cluster", "status", "--json", "--dir", dir])).stdout.toString());
  t.is(status.nats, `nats://127.0.0.1:${port}`);
  t.is(typeof status.namenode.pid, "number");
  t.deepEqual(status.datanodes.map((d: { id: string }) => d.id), ["dn1", "dn2"]);
  for (const d of status.datanodes) {
    t.is(typeof d.pid, "number");
    t.true(existsSync(d.dir));
  }
  const put = await runWoods(["put", "-", "/keep/me.txt"], { env, input: Buffer.from("still here") });
  t.is(put.code, 0, put.stderr);

  up.kill("SIGINT");
  t.is(await exited, 0);
  const after = JSON.parse((await runWoods(["cluster", "status", "--json", "--dir", dir])).stdout.toString());
  t.is(after.namenode.pid, null);
  t.true(after.datanodes.every((d: { pid: number | null }) => d.pid === null));
  t.is(after.natsServer.pid, null);
  // Gone, not merely signalled: on a loaded machine the last exits (and their reaping) may trail by a moment.
  for (const pid of [status.namenode.pid, ...status.datanodes.map((d: { pid: number }) => d.pid)]) {
    const gone = await waitFor(() => {
      try {
        process.kill(pid, 0);
        return null;
      } catch {
        return true;
      }
    }, 5000, `process ${pid} gone`).catch(() => false);
    t.true(gone, `process ${pid} is gone`);
  }

  const again = await runWoods(["cluster", "up", "--detach", "--dir", dir, "--port", String(port), "--datanodes", "2", "--replication", "2"]);
  t.is(again.code, 0, again.stderr);
  try {
    const got = await runWoods(["get", "/keep/me.txt", "-"], { env });
    t.is(got.code, 0, got.stderr);
    t.is(got.stdout.toString(), "still here");
    const twice = await runWoods(["cluster", "up", "--detach", "--dir", dir, "--port", String(port)]);
    t.is(twice.code, 1, "a second cluster on the same dir is refused");
    t.regex(twice.stderr, /^woods: .*already running/);
  } finally {
    await runWoods(["cluster", "down", "--dir", dir]);
  }
});

test("a cluster.json from before clusters of servers (only natsServer and namenode) is still understood", async (t) => {
  const cluster = await startCluster({ datanodes: 1, replication: 1 });
  t.teardown(() => cluster.down());
  const file = join(cluster.dir, "cluster.json");
  const state = JSON.parse(readFileSync(file, "utf8"));
  // The shape older launchers wrote.
  delete state.natsServers;
  delete state.namenodes;
  delete state.natsServer.id;
  writeFileSync(file, JSON.stringify(state, null, 2));

  const s = await cluster.status();
  t.deepEqual(s.natsServers.map((n) => [n.id, n.pid, n.url, n.running]), [["nats-1", state.natsServer.pid, cluster.url, true]]);
  t.is(s.natsServers[0]!.routes, undefined, "a single server has no routes");
  t.like(s.natsServer, { pid: state.natsServer.pid, url: cluster.url, running: true });
  t.deepEqual(s.namenodes.map((n) => [n.id, n.pid, n.role]), [["nn1", state.namenode.pid, "active"]]);
  t.like(s.namenode, { id: "nn1", pid: state.namenode.pid, role: "active" });
  t.is(s.datanodes[0]!.zone, null);

  // The old names still work, and the file is written back in the new shape.
  await cluster.ok(["cluster", "stop", "namenode"]);
  t.is((await cluster.status()).namenode.pid, null);
  await cluster.ok(["cluster", "start", "namenode"]);
  const after = JSON.parse(readFileSync(file, "utf8"));
  t.is(after.natsServers.length, 1);
  t.is(after.natsServers[0].id, "nats-1");
  t.is(after.namenodes[0].pid, after.namenode.pid);
  const put = await cluster.put("/old/state.txt", Buffer.from("fine"));
  t.is(put.code, 0, put.stderr);
});
