import test from "ava";
import { crc32 } from "node:zlib";
import { randomBytes } from "node:crypto";
import {
  BlockCrcAccumulator,
  FOOTER_BYTES,
  buildTrailer,
  chunkFileBytes,
  chunkFileName,
  coveringBlocks,
  firstBadBlock,
  parseChunkFileName,
  parseFooter,
  validateChunkId,
} from "../../actors/datanode/chunk-file.js";

const BLOCK = 1024;

function blockCrcsOf(data: Buffer, blockSize: number): number[] {
  const out: number[] = [];
  for (let at = 0; at < data.length; at += blockSize) out.push(crc32(data.subarray(at, at + blockSize)) >>> 0);
  return out;
}

function wholeFile(data: Buffer, version = 3): Buffer {
  const acc = new BlockCrcAccumulator(BLOCK);
  acc.update(data);
  const s = acc.finish();
  return Buffer.concat([data, buildTrailer({ dataLength: data.length, chunkVersion: version, blockSizeBytes: BLOCK, blockCrcs: s.blockCrcs, dataCrc: s.dataCrc })]);
}

test("block CRCs computed from unaligned frames equal those of the whole data", (t) => {
  const data = randomBytes(BLOCK * 5 + 333);
  const acc = new BlockCrcAccumulator(BLOCK);
  // Frame sizes chosen to straddle block boundaries in every way: smaller, equal, larger than a block.
  const sizes = [1, 1023, 1, 2047, 700, 1024, 3, 5000];
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - at);
    acc.update(data.subarray(at, at + n));
    at += n;
  }
  const s = acc.finish();
  t.deepEqual(s.blockCrcs, blockCrcsOf(data, BLOCK));
  t.is(s.blockCrcs.length, 6);
  t.is(s.dataCrc, crc32(data) >>> 0);
  t.is(s.dataLength, data.length);
});

test("a measured piece carries its own CRC32 and is added only where it was measured", (t) => {
  const data = randomBytes(BLOCK * 2 + 100);
  const acc = new BlockCrcAccumulator(BLOCK);
  const first = acc.measure(data.subarray(0, 1500));
  t.is(first.crc, crc32(data.subarray(0, 1500)) >>> 0);
  t.deepEqual(first.partLengths, [1024, 476]);
  const stale = acc.measure(data.subarray(1500));
  acc.add(first);
  // `stale` was measured at length 0 (block boundaries of offset 0), not at 1500.
  t.throws(() => acc.add(stale));
  const second = acc.measure(data.subarray(1500));
  t.deepEqual(second.partLengths, [548, 100]);
  acc.add(second);
  const s = acc.finish();
  t.deepEqual(s.blockCrcs, blockCrcsOf(data, BLOCK));
  t.is(s.dataCrc, crc32(data) >>> 0);
});

test("an empty chunk has no blocks and a valid footer", (t) => {
  const file = wholeFile(Buffer.alloc(0));
  t.is(file.length, FOOTER_BYTES);
  const f = parseFooter(file.subarray(file.length - FOOTER_BYTES), file.length);
  t.is(f.dataLength, 0);
});

test("a footer round-trips length, version, block size and data CRC", (t) => {
  const data = randomBytes(BLOCK * 2 + 10);
  const file = wholeFile(data, 42);
  t.is(file.length, chunkFileBytes(data.length, BLOCK));
  const f = parseFooter(file.subarray(file.length - FOOTER_BYTES), file.length);
  t.deepEqual(f, { formatVersion: 1, dataLength: data.length, chunkVersion: 42, blockSizeBytes: BLOCK, dataCrc: crc32(data) >>> 0 });
});

test("a flipped byte in the footer is detected", (t) => {
  const file = wholeFile(randomBytes(3000));
  for (const pos of [0, 9, 14, 22, 29, 33, FOOTER_BYTES - 1]) {
    const bad = Buffer.from(file);
    bad[bad.length - FOOTER_BYTES + pos] ^= 0x01;
    const err = t.throws(() => parseFooter(bad.subarray(bad.length - FOOTER_BYTES), bad.length), undefined, `byte ${pos}`);
    t.is((err as { code?: string }).code, "CHECKSUM");
  }
});

test("a truncated file is rejected because its size no longer matches the footer", (t) => {
  const file = wholeFile(randomBytes(5000));
  // Cutting data off the front keeps the footer intact but breaks the size equation.
  const cut = file.subarray(100);
  t.throws(() => parseFooter(cut.subarray(cut.length - FOOTER_BYTES), cut.length), { message: /footer implies/ });
  // Cutting the tail destroys the footer itself.
  const tail = file.subarray(0, file.length - 7);
  t.throws(() => parseFooter(tail.subarray(tail.length - FOOTER_BYTES), tail.length));
  t.throws(() => parseFooter(Buffer.alloc(10), 10));
});

test("a flipped data byte is found in the right block", (t) => {
  const data = randomBytes(BLOCK * 4 + 100);
  const file = wholeFile(data);
  const table = file.subarray(data.length, data.length + 5 * 4);
  t.is(firstBadBlock(data, table, 0, BLOCK), -1);
  const bad = Buffer.from(data);
  bad[BLOCK * 3 + 17] ^= 0x80;
  t.is(firstBadBlock(bad, table, 0, BLOCK), 3);
  // Verifying only blocks 1..2 of the corrupted data sees no problem: corruption is local.
  t.is(firstBadBlock(bad.subarray(BLOCK, BLOCK * 3), table.subarray(4, 12), 1, BLOCK), -1);
});

test("covering blocks span whole blocks and stop at the end of the data", (t) => {
  t.deepEqual(coveringBlocks(0, 1, 5000, BLOCK), { firstBlock: 0, blocks: 1, start: 0, end: 1024 });
  t.deepEqual(coveringBlocks(1000, 100, 5000, BLOCK), { firstBlock: 0, blocks: 2, start: 0, end: 2048 });
  t.deepEqual(coveringBlocks(4500, 500, 5000, BLOCK), { firstBlock: 4, blocks: 1, start: 4096, end: 5000 });
  t.deepEqual(coveringBlocks(1024, 1024, 5000, BLOCK), { firstBlock: 1, blocks: 1, start: 1024, end: 2048 });
});

test("chunk file names accept only validated ids and round-trip", (t) => {
  t.is(chunkFileName("c_1-A", 7), "c_1-A_v7.chunk");
  t.deepEqual(parseChunkFileName("c_1-A_v7.chunk"), { chunkId: "c_1-A", version: 7 });
  for (const bad of ["../x", "a/b", "", "a.b", "x".repeat(129), "a\u0000b"]) t.throws(() => validateChunkId(bad), { message: /must match/ });
  t.throws(() => chunkFileName("ok", 0));
  t.is(parseChunkFileName("x_v0.chunk"), undefined);
  t.is(parseChunkFileName("x_v1.chunk.part"), undefined);
  t.is(parseChunkFileName("../x_v1.chunk"), undefined);
});
