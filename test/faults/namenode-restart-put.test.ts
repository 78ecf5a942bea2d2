/**
 * A client rides out a namenode restart of several seconds: a put streaming from stdin
 * keeps allocating chunks while the namenode is killed and started again, and succeeds
 * without the user seeing an error.
 */
import test from "ava";
import { spawn } from "node:child_process";
import { startCluster, FAST_FAULT_CONFIG, seededBytes, sha256, WOODS, type TestCluster, type RunResult } from "../helpers/cluster.js";
import { MiB } from "../helpers/faults.js";

let cluster: TestCluster;

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB", config: FAST_FAULT_CONFIG });
});
test.after.always(async () => {
  await cluster?.down();
});

/** `woods put - REMOTE` whose stdin the test feeds piece by piece. */
function streamingPut(remote: string) {
  const child = spawn(process.execPath, [WOODS, "put", "-", remote], { env: { ...process.env, ...cluster.env }, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.on("error", () => undefined);
  const result = new Promise<RunResult>((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.alloc(0), stderr })));
  return {
    write: (b: Buffer) => new Promise<void>((resolve) => (child.stdin.write(b) ? resolve() : child.stdin.once("drain", () => resolve()))),
    end: () => child.stdin.end(),
    result,
  };
}

test.serial("a put streaming through a namenode kill -9 and a 3 s restart succeeds and reads back", async (t) => {
  const data = seededBytes(12 * MiB + 4321, 77);
  const put = streamingPut("/restart/streamed");
  const pieces = 24;
  const piece = Math.ceil(data.length / pieces);
  let restarted: Promise<unknown> = Promise.resolve();
  for (let k = 0; k < pieces; k++) {
    await put.write(data.subarray(k * piece, (k + 1) * piece));
    if (k === 6) {
      await cluster.ok(["cluster", "stop", "namenode", "--kill"]);
      // The namenode stays down for 3 s while the put keeps streaming chunks that need allocating.
      restarted = new Promise((r) => setTimeout(r, 3000)).then(() => cluster.ok(["cluster", "start", "namenode"]));
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  put.end();
  await restarted;
  const r = await put.result;
  t.is(r.code, 0, `the put failed across the restart: ${r.stderr}`);
  const back = await cluster.ok(["get", "/restart/streamed", "-"]);
  t.is(sha256(back.stdout), sha256(data));
  const st = await cluster.stat("/restart/streamed");
  t.is(st.size, data.length);
  t.is(st.chunks.length, 13);
});

test.serial("small puts started while the namenode is down succeed once it is back", async (t) => {
  await cluster.ok(["cluster", "stop", "namenode", "--kill"]);
  const datas = [0, 1, 2].map((i) => seededBytes(300_000 + i, 90 + i));
  const puts = datas.map((d, i) => cluster.put(`/restart/late${i}`, d));
  await new Promise((r) => setTimeout(r, 2500));
  await cluster.ok(["cluster", "start", "namenode"]);
  const results = await Promise.all(puts);
  for (const [i, r] of results.entries()) {
    t.is(r.code, 0, `put ${i}: ${r.stderr}`);
    const back = await cluster.ok(["get", `/restart/late${i}`, "-"]);
    t.is(sha256(back.stdout), sha256(datas[i]));
  }
});
