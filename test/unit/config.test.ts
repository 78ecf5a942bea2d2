import test from "ava";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, parseSize, envNames, ConfigError } from "../../config/index.js";

test("defaults load and satisfy the schema", (t) => {
  const c = loadConfig({ env: {} });
  t.is(c.chunkSizeBytes, 64 * 1024 * 1024);
  t.is(c.replication, 3);
  t.is(c.writePath, "direct");
  t.is(c.namenode.placementPolicy, "free-space");
});

test("file, then environment, then overrides take precedence", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "woods-cfg-"));
  const file = join(dir, "c.yaml");
  writeFileSync(file, "replication: 2\nclient:\n  writeWindowFrames: 4\n");
  const c = loadConfig({ file, env: { WOODS_CLIENT_WRITE_WINDOW_FRAMES: "8", WOODS_NATS: "nats://h:1" }, overrides: { replication: 1 } });
  t.is(c.replication, 1);
  t.is(c.client.writeWindowFrames, 8);
  t.is(c.nats.url, "nats://h:1");
  t.is(loadConfig({ file, env: {} }).replication, 2);
});

test("a bad value names the key and the value", (t) => {
  const e = t.throws(() => loadConfig({ env: { WOODS_NAMENODE_PLACEMENT_POLICY: "fastest" } }), { instanceOf: ConfigError });
  t.regex(e!.message, /namenode\.placementPolicy/);
  t.regex(e!.message, /fastest/);
  const dir = mkdtempSync(join(tmpdir(), "woods-cfg-"));
  writeFileSync(join(dir, "x.yaml"), "chunkSizeBytes: -5\n");
  t.throws(() => loadConfig({ file: join(dir, "x.yaml"), env: {} }), { message: /chunkSizeBytes=-5/ });
  writeFileSync(join(dir, "y.yaml"), "noSuchKey: 1\n");
  t.throws(() => loadConfig({ file: join(dir, "y.yaml"), env: {} }), { instanceOf: ConfigError });
});

test("every leaf key has an environment variable", (t) => {
  const names = envNames();
  t.deepEqual(names.get("WOODS_CHUNK_SIZE_BYTES"), ["chunkSizeBytes"]);
  t.deepEqual(names.get("WOODS_CLIENT_RETRY_MAX_ATTEMPTS"), ["client", "retry", "maxAttempts"]);
});

test("sizes parse with binary and decimal units", (t) => {
  t.is(parseSize("64MiB"), 64 * 1024 * 1024);
  t.is(parseSize("1MiB"), 1024 * 1024);
  t.is(parseSize("4096"), 4096);
  t.is(parseSize("8MB"), 8_000_000);
  t.throws(() => parseSize("lots"));
  t.throws(() => parseSize("0"));
});
