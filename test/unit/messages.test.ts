import test from "ava";
import { subjects, normalizePath, encode, decode, encodeJson, unwrapReply, WoodsError, okBody, errorBody, parentsOf } from "../../messages/index.js";

test("subjects are built from validated tokens under the prefix", (t) => {
  const s = subjects("woods");
  t.is(s.namenode("stat"), "woods.namenode.stat");
  t.is(s.datanode("dn1", "read"), "woods.datanode.dn1.read");
  t.is(s.data("abc_123"), "woods.data.abc_123");
  t.is(s.event("file.created"), "woods.events.file.created");
  t.is(s.metaStream(), "WOODS_META");
  t.is(s.stagingBucket(), "woods-staging");
  t.is(subjects("test.a").metaStream(), "TEST_A_META");
});

test("subject builders refuse wildcards, dots and empty tokens", (t) => {
  const s = subjects();
  for (const bad of ["*", ">", "a.b", "", "dn 1", "x".repeat(129)]) {
    t.throws(() => s.datanode(bad, "read"), { instanceOf: TypeError }, bad);
    t.throws(() => s.data(bad), { instanceOf: TypeError }, bad);
  }
  t.throws(() => subjects("bad prefix"));
  t.throws(() => subjects("a.>"));
  // @ts-expect-error unknown verb
  t.throws(() => s.namenode("drop-all"));
});

test("paths are canonical, absolute and free of traversal", (t) => {
  t.is(normalizePath("/a/b.bin"), "/a/b.bin");
  t.is(normalizePath("/", { allowRoot: true }), "/");
  t.is(normalizePath("/a/", { allowRoot: true }), "/a");
  t.is(normalizePath("/ünïcødé/ファイル"), "/ünïcødé/ファイル");
  for (const bad of ["a/b", "", "/", "/a/../b", "/a/./b", "/a//b", "/a/b/", "/a\u0000b", "/a\nb", "/\ud800", 42, null]) {
    const err = t.throws(() => normalizePath(bad as string), { instanceOf: WoodsError });
    t.is(err?.code, "INVALID_PATH");
  }
  t.throws(() => normalizePath("/" + "a".repeat(256)), { instanceOf: WoodsError });
  t.throws(() => normalizePath("/a".repeat(2100)), { instanceOf: WoodsError });
  t.deepEqual(parentsOf("/a/b/c"), ["/a", "/a/b"]);
});

test("codec round-trips msgpack and JSON and names malformed payloads", (t) => {
  const body = { path: "/a", n: 3, data: new Uint8Array([1, 2, 3]) };
  const m = decode(encode(body));
  t.false(m.json);
  t.is((m.value as { path: string }).path, "/a");
  t.deepEqual([...(m.value as { data: Uint8Array }).data], [1, 2, 3]);
  const j = decode(encodeJson({ path: "/b" }));
  t.true(j.json);
  t.deepEqual(j.value, { path: "/b" });
  t.true(decode(new TextEncoder().encode('  {"a":1}')).json);
  t.is((t.throws(() => decode(new TextEncoder().encode("{oops"))) as WoodsError | undefined)?.code, "BAD_REQUEST");
  t.is((t.throws(() => decode(new Uint8Array([0x92, 0x01]))) as WoodsError | undefined)?.code, "BAD_REQUEST");
  t.is((t.throws(() => decode(new Uint8Array(17 * 1024 * 1024))) as WoodsError | undefined)?.code, "TOO_LARGE");
});

test("error replies unwrap to typed errors with their retryable flag", (t) => {
  t.deepEqual(unwrapReply<{ x: number }>(okBody({ x: 1 })), { ok: true, x: 1 } as never);
  const err = t.throws(() => unwrapReply(errorBody(new WoodsError("UNAVAILABLE", "down").toWire())), { instanceOf: WoodsError });
  t.is(err?.code, "UNAVAILABLE");
  t.true(err?.retryable);
  const nf = t.throws(() => unwrapReply(errorBody(new WoodsError("NOT_FOUND", "nope").toWire())), { instanceOf: WoodsError });
  t.false(nf?.retryable);
});
