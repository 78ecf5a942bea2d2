/** The persisted namenode epoch fence (actors/datanode/namenode-epoch.ts) on real temp dirs. */
import test from "ava";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../actors/logger.js";
import { NAMENODE_EPOCH_FILE, NamenodeFence, decodeNamenodeEpoch, encodeNamenodeEpoch } from "../../actors/datanode/namenode-epoch.js";
import type { WoodsError } from "../../messages/index.js";

const log = createLogger("datanode", "test", "silent");

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "woods-nnepoch-"));
  mkdirSync(join(d, "tmp"));
  return d;
}

test("the file format round-trips and a damaged file decodes as undefined", (t) => {
  t.is(decodeNamenodeEpoch(encodeNamenodeEpoch(42)), 42);
  const bad = encodeNamenodeEpoch(42);
  bad[9] ^= 1;
  t.is(decodeNamenodeEpoch(bad), undefined);
  t.is(decodeNamenodeEpoch(Buffer.from("WOODNNEP")), undefined);
});

test("a newer epoch is on disk once admitted; an older one is FENCED, also after loading again", async (t) => {
  const d = dataDir();
  const fence = await NamenodeFence.load({ dirs: () => [d], log });
  t.is(fence.highest, 0);
  await fence.admit(undefined);
  await fence.admit(3);
  t.is(decodeNamenodeEpoch(readFileSync(join(d, NAMENODE_EPOCH_FILE))), 3);
  await Promise.all([fence.admit(5), fence.admit(4).catch(() => undefined), fence.admit(5)]);
  t.is(decodeNamenodeEpoch(readFileSync(join(d, NAMENODE_EPOCH_FILE))), 5);
  t.deepEqual(readdirSync(join(d, "tmp")), [], "no temp file left");
  const again = await NamenodeFence.load({ dirs: () => [d], log });
  t.is(again.highest, 5);
  t.true(again.isStale(4));
  t.false(again.isStale(undefined));
  const e = await t.throwsAsync(again.admit(4));
  t.is((e as WoodsError).code, "FENCED");
  await again.admit(5);
});

test("loading takes the highest epoch of any data dir and ignores a damaged file", async (t) => {
  const [a, b] = [dataDir(), dataDir()];
  writeFileSync(join(a, NAMENODE_EPOCH_FILE), encodeNamenodeEpoch(2));
  writeFileSync(join(b, NAMENODE_EPOCH_FILE), encodeNamenodeEpoch(9));
  t.is((await NamenodeFence.load({ dirs: () => [a, b], log })).highest, 9);
  writeFileSync(join(b, NAMENODE_EPOCH_FILE), "garbage");
  t.is((await NamenodeFence.load({ dirs: () => [a, b], log })).highest, 2);
});

test("a write that fails keeps the fence in memory", async (t) => {
  const d = join(dataDir(), "missing");
  const fence = await NamenodeFence.load({ dirs: () => [d], log });
  await fence.admit(7);
  t.is(fence.highest, 7);
  t.true(fence.isStale(6));
});
