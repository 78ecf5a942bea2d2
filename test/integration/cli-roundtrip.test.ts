import test from "ava";
import { writeFileSync, readFileSync, mkdtempSync, readdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, sha256, seededBytes, type TestCluster } from "../helpers/cluster.js";

const MiB = 1024 * 1024;
let cluster: TestCluster;
const work = mkdtempSync(join(tmpdir(), "woods-rt-"));

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 3, chunkSize: "1MiB" });
});
test.after.always(async () => {
  await cluster?.down();
});

/** Every chunk file (any version) named after `chunkId` under a datanode dir. */
function chunkFilesFor(dnDir: string, chunkId: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.includes(chunkId)) found.push(join(d, e.name));
    }
  };
  walk(dnDir);
  return found;
}

const sizes: [string, number][] = [
  ["0 B", 0],
  ["1 B", 1],
  ["chunk size - 1", MiB - 1],
  ["chunk size", MiB],
  ["chunk size + 1", MiB + 1],
  ["many chunks", 5 * MiB + 12345],
];

for (const [name, size] of sizes) {
  test(`a file of ${name} reads back byte for byte`, async (t) => {
    const data = seededBytes(size, size + 7);
    const local = join(work, `in-${size}`);
    writeFileSync(local, data);
    const remote = `/rt/file-${size}.bin`;
    await cluster.ok(["put", local, remote]);
    const out = join(work, `out-${size}`);
    await cluster.ok(["get", remote, out]);
    const back = readFileSync(out);
    t.is(back.length, size);
    t.is(sha256(back), sha256(data));
    const stat = JSON.parse((await cluster.ok(["stat", remote, "--json"])).stdout.toString());
    t.is(stat.path, remote);
    t.is(stat.size, size);
    t.is(stat.replication, 3);
    t.is(stat.chunks.length, Math.ceil(size / MiB));
    t.is(stat.chunks.reduce((s: number, c: { size: number }) => s + c.size, 0), size);
  });
}

test("stdin to stdout round trip keeps every byte", async (t) => {
  const data = seededBytes(2 * MiB + 333, 99);
  await cluster.ok(["put", "-", "/rt/stdin.bin"], { input: data });
  const r = await cluster.ok(["get", "/rt/stdin.bin", "-"]);
  t.is(sha256(r.stdout), sha256(data));
});

test("each chunk has 3 replicas on 3 distinct datanodes, with chunk files on their disks", async (t) => {
  const data = seededBytes(3 * MiB, 5);
  const local = join(work, "replicas");
  writeFileSync(local, data);
  await cluster.ok(["put", local, "/rt/replicas.bin"]);
  const stat = JSON.parse((await cluster.ok(["stat", "/rt/replicas.bin", "--json"])).stdout.toString());
  const status = await cluster.status();
  t.is(stat.chunks.length, 3);
  for (const chunk of stat.chunks) {
    t.is(typeof chunk.id, "string");
    t.true(chunk.version >= 1);
    t.is(new Set(chunk.replicas).size, 3, `replicas ${chunk.replicas} must be distinct`);
    for (const dnId of chunk.replicas) {
      const dn = status.datanodes.find((d) => d.id === dnId);
      t.truthy(dn, `replica on unknown datanode ${dnId}`);
      t.true(chunkFilesFor(dn!.dir, chunk.id).length >= 1, `no chunk file for ${chunk.id} on ${dnId}`);
    }
  }
});

test("rm removes the file and the datanodes reclaim its chunk files", async (t) => {
  const local = join(work, "rm");
  writeFileSync(local, seededBytes(2 * MiB, 11));
  await cluster.ok(["put", local, "/rt/rm.bin"]);
  const stat = JSON.parse((await cluster.ok(["stat", "/rt/rm.bin", "--json"])).stdout.toString());
  const status = await cluster.status();
  await cluster.ok(["rm", "/rt/rm.bin"]);
  const gone = await cluster.woods(["stat", "/rt/rm.bin", "--json"]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /^woods: /);
  const deadline = Date.now() + 20_000;
  let remaining = Infinity;
  while (Date.now() < deadline) {
    remaining = 0;
    for (const chunk of stat.chunks) for (const dn of status.datanodes) remaining += chunkFilesFor(dn.dir, chunk.id).length;
    if (remaining === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.is(remaining, 0, "chunk files still on disk 20 s after rm");
});

test("ls lists the children of a prefix with implied directories", async (t) => {
  const local = join(work, "ls");
  writeFileSync(local, Buffer.from("hello"));
  await cluster.ok(["put", local, "/ls/a.txt"]);
  await cluster.ok(["put", local, "/ls/sub/b.txt"]);
  await cluster.ok(["put", local, "/ls/sub/deeper/c.txt"]);
  const entries = JSON.parse((await cluster.ok(["ls", "/ls", "--json"])).stdout.toString());
  const names = entries.map((e: { name: string; type: string }) => `${e.name}:${e.type}`).sort();
  t.deepEqual(names, ["a.txt:file", "sub:dir"]);
  const root = JSON.parse((await cluster.ok(["ls", "--json"])).stdout.toString());
  t.true(root.some((e: { name: string; type: string }) => e.name === "ls" && e.type === "dir"));
});

test("put refuses to overwrite an existing file", async (t) => {
  const local = join(work, "exists");
  writeFileSync(local, Buffer.from("first"));
  await cluster.ok(["put", local, "/rt/exists.txt"]);
  writeFileSync(local, Buffer.from("second"));
  const r = await cluster.woods(["put", local, "/rt/exists.txt"]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^woods: .*exist/i);
  t.is((await cluster.ok(["get", "/rt/exists.txt", "-"])).stdout.toString(), "first");
});

test("bad input gets a clear one-line error and exit 1", async (t) => {
  const local = join(work, "bad");
  writeFileSync(local, Buffer.from("x"));
  for (const [args, pattern] of [
    [["put", local, "relative/path"], /absolute/],
    [["put", local, "/a/../b"], /\.\./],
    [["put", local, "/a//b"], /empty segment/],
    [["put", join(work, "no-such-file"), "/rt/x"], /does not exist/],
    [["get", "/no/such/file", join(work, "never")], /not found|no such|does not exist/i],
    [["stat", "/no/such/file", "--json"], /not found|no such|does not exist/i],
    [["rm", "/no/such/file"], /not found|no such|does not exist/i],
  ] as [string[], RegExp][]) {
    const r = await cluster.woods(args);
    t.is(r.code, 1, `woods ${args.join(" ")} should exit 1, stderr: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    t.is(lines.length, 1, `one line on stderr for ${args.join(" ")}: ${r.stderr}`);
    t.regex(lines[0], /^woods: /);
    t.regex(lines[0], pattern);
  }
  t.false(existsSync(join(work, "never")), "a failed get leaves no local file");
});

test("usage errors exit 2", async (t) => {
  t.is((await cluster.woods(["put"])).code, 2);
  t.is((await cluster.woods(["no-such-command"])).code, 2);
  t.is((await cluster.woods(["put", "a", "/b", "--replication", "zero"])).code, 2);
});

test("nodes and fsck report a healthy cluster of 3 alive datanodes", async (t) => {
  const nodes = JSON.parse((await cluster.ok(["nodes", "--json"])).stdout.toString());
  t.is(nodes.length, 3);
  for (const n of nodes) {
    t.is(n.state, "alive");
    t.true(n.capacityBytes > 0);
    t.is(typeof n.usedBytes, "number");
    t.is(typeof n.chunks, "number");
  }
  const fsck = await cluster.woods(["fsck", "--json"]);
  const report = JSON.parse(fsck.stdout.toString());
  t.is(report.healthy, true, fsck.stdout.toString());
  t.is(fsck.code, 0);
  for (const k of ["files", "chunks", "underReplicated", "overReplicated", "corrupt", "missing"]) t.is(typeof report[k], "number");
});
