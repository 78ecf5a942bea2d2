import test from "ava";
import { Readable } from "node:stream";
import { chunkStream } from "../../actors/client/chunker.js";

/** Deterministic bytes: byte i is (i * 31 + 7) & 0xff. */
function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

async function* pieces(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = sizes[i++ % sizes.length];
    yield data.subarray(at, at + n);
    at += n;
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

test("odd-sized pieces become chunks of exactly the chunk size except a shorter last one", async (t) => {
  const data = pattern(10_000);
  const chunks = await collect(chunkStream(pieces(data, [1, 7, 333, 4096, 0, 2, 999]), 1024));
  t.is(chunks.length, Math.ceil(10_000 / 1024));
  for (const c of chunks.slice(0, -1)) t.is(c.length, 1024);
  t.is(chunks.at(-1)!.length, 10_000 % 1024);
  t.deepEqual(Buffer.concat(chunks), Buffer.from(data));
});

test("input that is an exact multiple of the chunk size ends with a full chunk, not an empty one", async (t) => {
  const data = pattern(4096);
  const chunks = await collect(chunkStream(pieces(data, [100, 3000]), 1024));
  t.deepEqual(
    chunks.map((c) => c.length),
    [1024, 1024, 1024, 1024],
  );
  t.deepEqual(Buffer.concat(chunks), Buffer.from(data));
});

test("empty input yields zero chunks", async (t) => {
  t.deepEqual(await collect(chunkStream(pieces(new Uint8Array(0), [5]), 1024)), []);
  t.deepEqual(await collect(chunkStream(Readable.from([]), 1024)), []);
});

test("input of empty pieces only yields zero chunks", async (t) => {
  async function* empties() {
    yield new Uint8Array(0);
    yield new Uint8Array(0);
  }
  t.deepEqual(await collect(chunkStream(empties(), 16)), []);
});

test("input shorter than one chunk yields one short chunk", async (t) => {
  const chunks = await collect(chunkStream(pieces(pattern(5), [2]), 1024));
  t.is(chunks.length, 1);
  t.deepEqual(Buffer.from(chunks[0]), Buffer.from(pattern(5)));
});

test("a piece larger than several chunks is split across them", async (t) => {
  const data = pattern(5000);
  const chunks = await collect(chunkStream(pieces(data, [5000]), 1000));
  t.deepEqual(
    chunks.map((c) => c.length),
    [1000, 1000, 1000, 1000, 1000],
  );
  t.deepEqual(Buffer.concat(chunks), Buffer.from(data));
});

test("a Readable stream is chunked like any async iterable", async (t) => {
  const data = Buffer.from(pattern(3000));
  const chunks = await collect(chunkStream(Readable.from([data.subarray(0, 1500), data.subarray(1500)]), 1000));
  t.deepEqual(
    chunks.map((c) => c.length),
    [1000, 1000, 1000],
  );
  t.deepEqual(Buffer.concat(chunks), data);
});

test("chunks already yielded are not overwritten while later ones are filled", async (t) => {
  const data = pattern(3500);
  const held: Uint8Array[] = [];
  for await (const c of chunkStream(pieces(data, [7, 250]), 500)) held.push(c);
  t.deepEqual(Buffer.concat(held), Buffer.from(data));
});

test("the source is read lazily: the next chunk is not read before it is asked for", async (t) => {
  let produced = 0;
  async function* counting() {
    for (let i = 0; i < 10; i++) {
      produced += 100;
      yield pattern(100);
    }
  }
  const it = chunkStream(counting(), 200);
  await it.next();
  t.true(produced <= 200, `read ${produced} bytes to produce one 200-byte chunk`);
  await it.return(undefined);
});

test("a bad chunk size is refused", async (t) => {
  await t.throwsAsync(collect(chunkStream(pieces(pattern(10), [10]), 0)), { message: /chunk size/ });
});
