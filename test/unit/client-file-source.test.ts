import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { fileSource, chunkStream } from "../../actors/client/index.js";

const dir = mkdtempSync(join(tmpdir(), "woods-file-source-"));

async function pieces(src: AsyncIterable<Uint8Array | string>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const p of src) out.push(typeof p === "string" ? Buffer.from(p) : p);
  return out;
}

test("a file is read in pieces of exactly the piece size, the last one short, and the chunker passes them on uncopied", async (t) => {
  const data = randomBytes(2 * 4096 + 1000);
  const file = join(dir, "a.bin");
  writeFileSync(file, data);
  const got = await pieces(fileSource(file, 4096));
  t.deepEqual(got.map((p) => p.length), [4096, 4096, 1000]);
  t.is(createHash("sha256").update(Buffer.concat(got)).digest("hex"), createHash("sha256").update(data).digest("hex"));
  // A whole-chunk piece is the chunk itself (the same buffer), not a copy.
  const src = fileSource(file, 4096)[Symbol.asyncIterator]();
  const first = (await src.next()).value as Uint8Array;
  const through = chunkStream({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: false, value: first }), return: async () => ({ done: true, value: undefined }) }) }, 4096);
  const passed = (await through.next()).value as Uint8Array;
  t.is(passed, first);
});

test("an empty file yields nothing; a missing file fails on the first read", async (t) => {
  const empty = join(dir, "empty.bin");
  writeFileSync(empty, "");
  t.deepEqual(await pieces(fileSource(empty, 4096)), []);
  const err = await t.throwsAsync(pieces(fileSource(join(dir, "missing.bin"), 4096)));
  t.is((err as NodeJS.ErrnoException).code, "ENOENT");
});
