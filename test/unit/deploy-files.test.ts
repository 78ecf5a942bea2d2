import test from "ava";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("docker-compose.yml runs nats with JetStream, a namenode and three datanodes with their own volumes", (t) => {
  const doc = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"));
  const svc = doc.services;
  t.truthy(svc.nats);
  t.true(svc.nats.command.includes("-js"));
  t.deepEqual(svc.namenode.command.slice(0, 1), ["namenode"]);
  const dns = Object.keys(svc).filter((k) => k.startsWith("dn"));
  t.is(dns.length, 3);
  const volumes = new Set<string>();
  for (const dn of dns) {
    const cmd: string[] = svc[dn].command;
    t.is(cmd[0], "datanode");
    t.is(cmd[cmd.indexOf("--id") + 1], dn);
    const vol = svc[dn].volumes[0].split(":")[0];
    volumes.add(vol);
    t.truthy(doc.volumes[vol], `volume ${vol} declared`);
  }
  t.is(volumes.size, 3, "each datanode has its own volume");
});

test("nats-server.conf enables JetStream with fsync before ack and an 8MB max_payload", (t) => {
  const conf = readFileSync(join(ROOT, "nats-server.conf"), "utf8");
  t.regex(conf, /max_payload:\s*8MB/);
  t.regex(conf, /jetstream\s*\{/);
  t.regex(conf, /sync_interval:\s*always/);
});
