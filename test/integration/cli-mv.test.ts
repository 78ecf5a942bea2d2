/** `woods mv` and the --json output of put/get/rm, through the CLI against a real cluster. */
import test from "ava";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, sha256, seededBytes, type TestCluster } from "../helpers/cluster.js";

const MiB = 1024 * 1024;
let cluster: TestCluster;
const work = mkdtempSync(join(tmpdir(), "woods-mv-"));

test.before(async () => {
  cluster = await startCluster({ datanodes: 3, replication: 2, chunkSize: "1MiB" });
});
test.after.always(async () => {
  await cluster?.down();
});

/** `woods ls DIR --json` as paths, or the exit code when it fails. */
async function lsPaths(dir: string): Promise<string[] | number> {
  const r = await cluster.woods(["ls", dir, "--json"]);
  if (r.code !== 0) return r.code;
  return (JSON.parse(r.stdout.toString()) as { path: string }[]).map((e) => e.path);
}

async function getBytes(remote: string): Promise<Buffer> {
  return (await cluster.ok(["get", remote, "-"])).stdout;
}

test("mv moves a multi-chunk file: get returns the same bytes, the old directory no longer lists it", async (t) => {
  const data = seededBytes(3 * MiB + 777, 11);
  t.is((await cluster.put("/mv1/src/data.bin", data)).code, 0);
  await cluster.put("/mv1/src/other.bin", Buffer.from("stays"));
  const before = await cluster.stat("/mv1/src/data.bin");
  const r = await cluster.ok(["mv", "--json", "/mv1/src/data.bin", "/mv1/dst/deep/data.bin"]);
  t.deepEqual(JSON.parse(r.stdout.toString()), { src: "/mv1/src/data.bin", dst: "/mv1/dst/deep/data.bin" });
  t.is(sha256(await getBytes("/mv1/dst/deep/data.bin")), sha256(data));
  t.deepEqual(await lsPaths("/mv1/src"), ["/mv1/src/other.bin"]);
  t.deepEqual(await lsPaths("/mv1/dst/deep"), ["/mv1/dst/deep/data.bin"]);
  t.deepEqual(await lsPaths("/mv1"), ["/mv1/dst", "/mv1/src"]);
  const after = await cluster.stat("/mv1/dst/deep/data.bin");
  t.deepEqual(
    after.chunks.map((c) => c.id),
    before.chunks.map((c) => c.id),
    "no data moved: the same chunks",
  );
  t.is(after.size, data.length);
  const old = await cluster.woods(["stat", "/mv1/src/data.bin"]);
  t.is(old.code, 1);
  t.regex(old.stderr, /NOT_FOUND/);
  // The last file of a directory moves out: the directory is gone.
  await cluster.ok(["mv", "/mv1/src/other.bin", "/mv1/other.bin"]);
  t.is(await lsPaths("/mv1/src"), 1);
  t.deepEqual(await lsPaths("/mv1"), ["/mv1/dst", "/mv1/other.bin"]);
});

test("mv errors: a missing SRC is NOT_FOUND, an existing DST is EXISTS, a directory is IS_DIRECTORY, all exit 1; usage errors exit 2", async (t) => {
  await cluster.put("/mv2/a", Buffer.from("a"));
  await cluster.put("/mv2/b", Buffer.from("b"));
  await cluster.put("/mv2/dir/c", Buffer.from("c"));
  const missing = await cluster.woods(["mv", "/mv2/nope", "/mv2/x"]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^woods: .*\/mv2\/nope does not exist \(NOT_FOUND\)\n$/);
  const exists = await cluster.woods(["mv", "/mv2/a", "/mv2/b"]);
  t.is(exists.code, 1);
  t.regex(exists.stderr, /^woods: \/mv2\/b already exists \(EXISTS\)\n$/);
  const intoDir = await cluster.woods(["mv", "/mv2/a", "/mv2/dir"]);
  t.is(intoDir.code, 1);
  t.regex(intoDir.stderr, /IS_DIRECTORY/);
  t.regex(intoDir.stderr, /\/mv2\/dir\/a/, "suggests the full path");
  const dirSrc = await cluster.woods(["mv", "/mv2/dir", "/mv2/dir2"]);
  t.is(dirSrc.code, 1);
  t.regex(dirSrc.stderr, /IS_DIRECTORY/);
  const underFile = await cluster.woods(["mv", "/mv2/a", "/mv2/b/inside"]);
  t.is(underFile.code, 1);
  t.regex(underFile.stderr, /NOT_A_FILE/);
  const badPath = await cluster.woods(["mv", "/mv2/a", "relative"]);
  t.is(badPath.code, 1);
  t.regex(badPath.stderr, /INVALID_PATH/);
  t.is((await cluster.woods(["mv", "/mv2/a"])).code, 2);
  // Nothing moved.
  t.deepEqual(await lsPaths("/mv2"), ["/mv2/a", "/mv2/b", "/mv2/dir"]);
  t.is((await getBytes("/mv2/b")).toString(), "b");
});

test("a DST ending in / keeps the name, and running the same mv again succeeds (a retry after a lost reply)", async (t) => {
  await cluster.put("/mv3/in/photo.jpg", Buffer.from("pixels"));
  await cluster.put("/mv3/out/keep", Buffer.from("k"));
  const r = await cluster.ok(["mv", "--json", "/mv3/in/photo.jpg", "/mv3/out/"]);
  t.deepEqual(JSON.parse(r.stdout.toString()), { src: "/mv3/in/photo.jpg", dst: "/mv3/out/photo.jpg" });
  t.is((await getBytes("/mv3/out/photo.jpg")).toString(), "pixels");
  const again = await cluster.woods(["mv", "/mv3/in/photo.jpg", "/mv3/out/photo.jpg"]);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(await lsPaths("/mv3/out"), ["/mv3/out/keep", "/mv3/out/photo.jpg"]);
});

test("after mv, appends go to the new path (tail and new-chunk appends) and the old path is NOT_FOUND", async (t) => {
  const head = seededBytes(MiB + 100, 5);
  await cluster.put("/mv4/log", head);
  await cluster.ok(["append", "-", "/mv4/log"], { input: Buffer.from("before the move\n") });
  await cluster.ok(["mv", "/mv4/log", "/mv4/archive/log"]);
  const small = Buffer.from("after the move\n");
  const r1 = JSON.parse((await cluster.ok(["append", "--json", "-", "/mv4/archive/log"], { input: small })).stdout.toString());
  t.like(r1, { path: "/mv4/archive/log", size: small.length });
  const big = seededBytes(2 * MiB + 3, 6);
  const bigFile = join(work, "big-append");
  writeFileSync(bigFile, big);
  const r2 = JSON.parse((await cluster.ok(["append", "--json", bigFile, "/mv4/archive/log"])).stdout.toString());
  t.like(r2, { size: big.length, mode: "chunks" });
  const old = await cluster.woods(["append", "-", "/mv4/log"], { input: Buffer.from("lost?") });
  t.is(old.code, 1);
  t.regex(old.stderr, /NOT_FOUND/);
  const expected = Buffer.concat([head, Buffer.from("before the move\n"), small, big]);
  const back = await getBytes("/mv4/archive/log");
  t.is(back.length, expected.length);
  t.is(sha256(back), sha256(expected));
  t.is(r1.offset, head.length + "before the move\n".length);
  t.is(r2.offset, r1.offset + small.length);
});

test("put, get and rm print JSON with --json; without a terminal nothing else reaches stderr", async (t) => {
  const data = seededBytes(2 * MiB + 5, 21);
  const local = join(work, "j-in");
  writeFileSync(local, data);
  const put = await cluster.ok(["put", "--json", local, "/mv5/j.bin"]);
  t.deepEqual(JSON.parse(put.stdout.toString()), { path: "/mv5/j.bin", size: data.length, chunks: 3 });
  t.is(put.stderr, "", "no progress bar or rate line on a pipe");
  const out = join(work, "j-out");
  const get = await cluster.ok(["get", "--json", "/mv5/j.bin", out]);
  t.deepEqual(JSON.parse(get.stdout.toString()), { path: "/mv5/j.bin", size: data.length });
  t.is(get.stderr, "");
  t.is(sha256(readFileSync(out)), sha256(data));
  const toStdout = await cluster.woods(["get", "--json", "/mv5/j.bin", "-"]);
  t.is(toStdout.code, 2, "stdout carries the bytes: --json needs a file");
  t.regex(toStdout.stderr, /--json needs a LOCAL file/);
  const rm = await cluster.ok(["rm", "--json", "/mv5/j.bin"]);
  t.deepEqual(JSON.parse(rm.stdout.toString()), { path: "/mv5/j.bin" });
  const ev = await cluster.woods(["events", "--help"]);
  t.regex(ev.stdout.toString(), /--json/);
});

test.serial("a rename survives a namenode restart (replayed from the log)", async (t) => {
  const data = seededBytes(MiB + 9, 31);
  await cluster.put("/mv6/a", data);
  await cluster.ok(["mv", "/mv6/a", "/mv6/b/a"]);
  await cluster.ok(["cluster", "stop", "namenode"]);
  await cluster.ok(["cluster", "start", "namenode"]);
  t.is(sha256(await getBytes("/mv6/b/a")), sha256(data));
  t.deepEqual(await lsPaths("/mv6"), ["/mv6/b"]);
  const old = await cluster.woods(["stat", "/mv6/a"]);
  t.is(old.code, 1);
  // The retry answer (SRC gone, DST renamed from it) is rebuilt by the replay too.
  t.is((await cluster.woods(["mv", "/mv6/a", "/mv6/b/a"])).code, 0);
});
