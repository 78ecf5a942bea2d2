/** Decode limits (messages/decode-limits.ts via codec.decode): hostile headers are refused before decoding. */
import test from "ava";
import { decode, encode, checkMsgpack, checkJsonDepth, MAX_DECODE_DEPTH, WoodsError, namenodeRequests } from "../../messages/index.js";

const te = new TextEncoder();
const str = (s: string) => [0xa0 | Buffer.byteLength(s), ...Buffer.from(s)];

function badRequest(t: import("ava").ExecutionContext, data: Uint8Array, re: RegExp): void {
  const e = t.throws(() => decode(data)) as WoodsError | undefined;
  t.is(e?.code, "BAD_REQUEST");
  t.regex(e?.message ?? "", re);
}

test("every message we encode passes the structural check", (t) => {
  const values = [
    {},
    { path: "/a/b", replication: 3, v: 1 },
    { data: new Uint8Array(70_000), chunkId: "c1", n: -5, f: 1.5, big: Number.MAX_SAFE_INTEGER, neg: -(2 ** 40), t: true, u: undefined, z: null },
    { chunks: Array.from({ length: 70_000 }, (_, i) => ({ id: `c${i}`, version: 1, sizeBytes: i })) },
    { s: "x".repeat(70_000), m: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, [i, [i]]])) },
  ];
  for (const v of values) t.is(checkMsgpack(encode(v)), undefined);
});

test("a str32 header claiming 4 GB is refused without allocating", (t) => {
  badRequest(t, new Uint8Array([0x81, ...str("path"), 0xdb, 0xff, 0xff, 0xff, 0xff, 0x2f]), /claims 4294967295 bytes/);
});

test("a bin32 header claiming 4 GB is refused", (t) => {
  badRequest(t, new Uint8Array([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]), /claims 4294967295 bytes/);
});

test("an array32 of 2^32-1 elements is refused", (t) => {
  badRequest(t, new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]), /claims 4294967295 values/);
});

test("a map32 of 2^32-1 entries is refused", (t) => {
  badRequest(t, new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0]), /claims 8589934590 values/);
});

test("nesting 100,000 deep is refused (msgpack arrays and maps, JSON)", (t) => {
  const arrays = new Uint8Array(100_001).fill(0x91);
  arrays[100_000] = 0xc0;
  badRequest(t, arrays, new RegExp(`deeper than ${MAX_DECODE_DEPTH}`));
  const maps = new Uint8Array(200_001);
  for (let i = 0; i < 100_000; i++) {
    maps[2 * i] = 0x81;
    maps[2 * i + 1] = 0xa0;
  }
  maps[200_000] = 0xc0;
  badRequest(t, maps, /deeper than/);
  badRequest(t, te.encode('{"a":' + "[".repeat(100_000) + "]".repeat(100_000) + "}"), /malformed JSON: nested deeper than/);
  badRequest(t, te.encode('{"a":'.repeat(100_000) + "1" + "}".repeat(100_000)), /deeper than/);
});

test("nesting up to the limit is accepted", (t) => {
  const ok = new Uint8Array(MAX_DECODE_DEPTH + 1).fill(0x91);
  ok[MAX_DECODE_DEPTH] = 0xc0;
  t.is(checkMsgpack(ok), undefined);
  const over = new Uint8Array(MAX_DECODE_DEPTH + 2).fill(0x91);
  over[MAX_DECODE_DEPTH + 1] = 0xc0;
  t.regex(checkMsgpack(over) ?? "", /deeper/);
  t.is(checkJsonDepth(te.encode("[".repeat(MAX_DECODE_DEPTH) + "]".repeat(MAX_DECODE_DEPTH))), undefined);
  // Brackets inside strings do not count, escaped quotes do not end them.
  t.is(checkJsonDepth(te.encode(JSON.stringify({ s: '\\"[[[[' + "[".repeat(100) }))), undefined);
});

test("truncated msgpack, a reserved byte and trailing bytes are refused", (t) => {
  const whole = encode({ path: "/a/b", replication: 3 });
  for (let n = 1; n < whole.length; n++) badRequest(t, whole.subarray(0, n), /truncated|claims|missing/);
  badRequest(t, new Uint8Array([0xc1]), /not a msgpack type/);
  badRequest(t, new Uint8Array([...whole, 0x01]), /left after/);
});

test("__proto__ and constructor keys cannot pollute a prototype (msgpack and JSON)", (t) => {
  const mp = new Uint8Array([0x83, ...str("path"), ...str("/a"), ...str("__proto__"), 0x81, ...str("replication"), 0x10, ...str("constructor"), 0x81, ...str("prototype"), 0x81, ...str("x"), 0x01]);
  const fromMp = decode(mp).value as Record<string, unknown>;
  t.is(Object.getPrototypeOf(fromMp), Object.prototype);
  t.is((fromMp as { replication?: unknown }).replication, undefined);
  const fromJson = decode(te.encode('{"path":"/a","__proto__":{"replication":16},"constructor":{"prototype":{"x":1}}}')).value as object;
  t.false(Object.prototype.hasOwnProperty.call(fromJson, "__proto__"));
  t.is(Object.getPrototypeOf(fromJson), Object.prototype);
  const target = Object.assign({}, fromJson) as { replication?: unknown };
  t.is(target.replication, undefined);
  t.is(({} as { x?: unknown }).x, undefined);
  // The schema keeps only its own fields.
  for (const v of [fromMp, fromJson]) t.deepEqual(namenodeRequests.create.parse(v), { path: "/a" });
});

test("uint64 beyond 2^53 and NaN do not pass the schemas", (t) => {
  // read offset = 2^53 + 1 as msgpack uint64
  const over = new Uint8Array([0x81, ...str("offset"), 0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0x01]);
  const value = decode(over).value as { offset: unknown };
  const schema = namenodeRequests.heartbeat.shape.startedAtMs;
  t.false(schema.safeParse(value.offset).success);
  t.false(schema.safeParse(Number.NaN).success);
  t.false(schema.safeParse(-1).success);
  badRequest(t, te.encode('{"offset": NaN}'), /malformed JSON/);
});

test("invalid UTF-8 in JSON is refused; in msgpack it becomes U+FFFD", (t) => {
  badRequest(t, new Uint8Array([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), /malformed JSON/);
  const v = decode(new Uint8Array([0x81, ...str("path"), 0xa3, 0x2f, 0xc3, 0x28])).value as { path: string };
  t.true(v.path.includes("\uFFFD"));
});
