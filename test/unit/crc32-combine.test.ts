import test from "ava";
import { crc32 } from "node:zlib";
import { randomBytes } from "node:crypto";
import { crc32Combine } from "../../messages/index.js";

test("the CRC32 combined from two parts equals zlib's CRC32 of their concatenation", (t) => {
  // Lengths chosen to hit empty parts, single bytes, powers of two and odd sizes past 2^24 bits.
  const cases: Array<[number, number]> = [[0, 0], [0, 9], [9, 0], [1, 1], [7, 65536], [65536, 1 << 20], [3, 3_000_001], [1 << 20, 12_345]];
  for (const [a, b] of cases) {
    const A = randomBytes(a);
    const B = randomBytes(b);
    t.is(crc32Combine(crc32(A), crc32(B), b), crc32(Buffer.concat([A, B])) >>> 0, `${a} + ${b} bytes`);
  }
});

test("combining many unequal pieces in order gives the whole data's CRC32; out of order it does not", (t) => {
  const data = randomBytes(200_003);
  const cuts = [0, 1, 4096, 4097, 70_000, 131_072, 199_999, 200_003];
  let crc = 0;
  for (let i = 1; i < cuts.length; i++) {
    const piece = data.subarray(cuts[i - 1], cuts[i]);
    crc = crc32Combine(crc, crc32(piece), piece.length);
  }
  t.is(crc, crc32(data) >>> 0);
  const a = data.subarray(0, 100);
  const b = data.subarray(100, 300);
  t.not(crc32Combine(crc32(b), crc32(a), a.length), crc32(data.subarray(0, 300)) >>> 0);
});
