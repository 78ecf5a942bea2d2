import test from "ava";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// docker-compose.yml and the deploy/ files: test/unit/docker-compose.test.ts.

test("nats-server.conf enables JetStream with fsync before ack and an 8MB max_payload", (t) => {
  const conf = readFileSync(join(ROOT, "nats-server.conf"), "utf8");
  t.regex(conf, /max_payload:\s*8MB/);
  t.regex(conf, /jetstream\s*\{/);
  t.regex(conf, /sync_interval:\s*always/);
});
