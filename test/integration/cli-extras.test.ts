/** CLI extras that need no cluster: `config print`, `--quiet`, help with examples. */
import test from "ava";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { runWoods } from "../helpers/cluster.js";

const work = mkdtempSync(join(tmpdir(), "woods-cli-extras-"));

test("config print shows defaults overridden by the file, then the environment, then flags, as YAML", async (t) => {
  const file = join(work, "woods.yaml");
  writeFileSync(file, "replication: 2\nnamenode:\n  leaseMs: 5000\nclient:\n  retry:\n    maxAttempts: 4\n");
  const r = await runWoods(["--config", file, "--nats", "nats://10.1.2.3:4333", "config", "print"], {
    env: { WOODS_CONFIG: "", WOODS_NATS: "", WOODS_NAMENODE_LEASE_MS: "7000" },
  });
  t.is(r.code, 0, r.stderr);
  const printed = parseYaml(r.stdout.toString());
  t.is(printed.replication, 2, "from the file");
  t.is(printed.namenode.leaseMs, 7000, "the environment beats the file");
  t.is(printed.client.retry.maxAttempts, 4, "nested file keys");
  t.is(printed.nats.url, "nats://10.1.2.3:4333", "the flag beats everything");
  t.is(printed.chunkSizeBytes, 64 * 1024 * 1024, "defaults fill the rest");
});

test("config print --json prints the same effective config as JSON", async (t) => {
  const r = await runWoods(["config", "print", "--json"], { env: { WOODS_CONFIG: "", WOODS_REPLICATION: "5" } });
  t.is(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout.toString());
  t.is(printed.replication, 5);
  t.is(printed.prefix, "woods");
});

test("config print exits 1 naming the key and the bad value", async (t) => {
  const r = await runWoods(["config", "print"], { env: { WOODS_CONFIG: "", WOODS_CLIENT_RETRY_MAX_ATTEMPTS: "lots" } });
  t.is(r.code, 1);
  t.is(r.stdout.length, 0);
  t.regex(r.stderr, /^woods: config key client\.retry\.maxAttempts="lots" is invalid/);
});

test("a bad value in the config file is reported with its key", async (t) => {
  const file = join(work, "bad.yaml");
  writeFileSync(file, "namenode:\n  deadAfterMs: -5\n");
  const r = await runWoods(["--config", file, "config", "print"], { env: { WOODS_CONFIG: "" } });
  t.is(r.code, 1);
  t.regex(r.stderr, /namenode\.deadAfterMs=-5/);
});

test("--help shows examples for the program, put and get", async (t) => {
  const main = await runWoods(["--help"]);
  t.is(main.code, 0);
  t.regex(main.stdout.toString(), /Examples:\n\s+woods cluster up/);
  t.regex(main.stdout.toString(), /--quiet/);
  const put = await runWoods(["put", "--help"]);
  t.regex(put.stdout.toString(), /Examples:[\s\S]*woods put - \/backups/);
  const get = await runWoods(["get", "--help"]);
  t.regex(get.stdout.toString(), /Examples:[\s\S]*woods get \/backups\/photos.tar -/);
});

test("--quiet is accepted before any command and keeps errors on stderr", async (t) => {
  const r = await runWoods(["--quiet", "config", "print"], { env: { WOODS_CONFIG: "", WOODS_REPLICATION: "0" } });
  t.is(r.code, 1);
  t.regex(r.stderr, /config key replication=0/);
});
