/** normalizePath against hostile names: a table of inputs and the error (or canonical form) each gets. */
import test from "ava";
import { normalizePath, WoodsError, PATH_MAX_BYTES, SEGMENT_MAX_BYTES } from "../../messages/index.js";

const refused: [string, unknown, RegExp][] = [
  ["a relative traversal", "../../etc/passwd", /must be absolute/],
  ["an absolute traversal", "/../../etc/passwd", /".." segment/],
  ["a traversal in the middle", "/a/b/../../../etc/passwd", /".." segment/],
  ["a NUL byte", "/a\0b", /NUL or control/],
  ["an empty segment", "/a//b", /empty segment/],
  ["a dot segment", "/a/./b", /"\." segment/],
  ["a trailing slash", "/a/b/", /empty segment/],
  ["the root as a file", "/", /root directory/],
  ["the empty string", "", /must be absolute/],
  ["a non-string", 42, /must be a string/],
  ["a 1 MB path", "/" + "a".repeat(1024 * 1024), /longer than 4096 bytes/],
  ["10,000 components", "/a".repeat(10_000), /longer than 4096 bytes/],
  ["a segment over 255 bytes", "/" + "é".repeat(128), /segment of the path is longer than 255/],
  ["U+FFFD (invalid UTF-8 decoded)", "/a\uFFFDb", /not valid UTF-8/],
  ["a lone high surrogate", "/a\uD800b", /not valid UTF-8/],
  ["a lone low surrogate", "/a\uDC00", /not valid UTF-8/],
  ["CR", "/a\rb", /control/],
  ["LF", "/a\nb", /control/],
  ["CR/LF with a fake NATS protocol line", "/a\r\nPUB woods.namenode.rm 2\r\n", /control/],
  ["TAB", "/a\tb", /control/],
  ["DEL", "/a\u007fb", /control/],
  ["a C1 control (U+0085 NEL)", "/a\u0085b", /control/],
  ["ESC (terminal escape)", "/a\u001b[2Jb", /control/],
];

for (const [what, input, re] of refused) {
  test(`normalizePath refuses ${what}`, (t) => {
    const e = t.throws(() => normalizePath(input)) as WoodsError | undefined;
    t.is(e?.code, "INVALID_PATH");
    t.regex(e?.message ?? "", re);
  });
}

const literal: [string, string][] = [
  ["a URL-encoded traversal", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd"],
  ["NATS wildcards", "/a/*/>"],
  ["dots inside a segment", "/a/..b/c..d/.e"],
  ["a backslash traversal", "/..\\..\\etc\\passwd"],
  ["non-ASCII names", "/données/日本/🌲"],
];

for (const [what, input] of literal) {
  test(`normalizePath keeps ${what} as a literal name`, (t) => {
    t.is(normalizePath(input), input);
  });
}

test("normalizePath accepts exactly the limits", (t) => {
  const seg = "a".repeat(SEGMENT_MAX_BYTES);
  t.is(normalizePath("/" + seg), "/" + seg);
  const long = ("/" + "b".repeat(SEGMENT_MAX_BYTES)).repeat(16).slice(0, PATH_MAX_BYTES);
  t.is(normalizePath(long), long);
  t.throws(() => normalizePath(long + "b"));
  t.is(normalizePath("/", { allowRoot: true }), "/");
  t.is(normalizePath("/a/", { allowRoot: true }), "/a");
});
