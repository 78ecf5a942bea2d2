/**
 * Hot reload on a real cluster: `cluster up` starts the namenode and datanodes with
 * `--config <dir>/woods.yaml`; editing that file changes the placement policy, the repair limits
 * and the scrub rate of the running processes, a broken edit is refused and the old config kept,
 * and the cluster serves throughout.
 */
import test from "ava";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { startCluster, waitFor, seededBytes, sha256 } from "../helpers/cluster.js";

/** The `msg` of every JSON log line of `<dir>/logs/<name>.log` matching `re`. */
function logged(dir: string, name: string, re: RegExp): string[] {
  const file = join(dir, "logs", `${name}.log`);
  if (!existsSync(file)) return [];
  const out: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const msg = (JSON.parse(line) as { msg?: string }).msg ?? "";
      if (re.test(msg)) out.push(msg);
    } catch {
      /* a line cut by a crash */
    }
  }
  return out;
}

/** Writes `text` the way many editors save: a new file renamed over the old one. */
function saveByRename(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

test("editing woods.yaml changes placement and repair limits of the running namenode; a broken edit keeps the old config", async (t) => {
  const cluster = await startCluster({ datanodes: 3, replication: 1, chunkSize: "1MiB" });
  t.teardown(() => cluster.down());
  const file = join(cluster.dir, "woods.yaml");
  // Client commands read a copy: the cluster's file is about to be broken on purpose.
  const clientCfg = join(mkdtempSync(join(tmpdir(), "woods-client-cfg-")), "client.yaml");
  copyFileSync(file, clientCfg);
  const env = { WOODS_CONFIG: clientCfg };

  await waitFor(() => logged(cluster.dir, "namenode", /reloads .*namenode\.placementPolicy.* when .*woods\.yaml changes/).length > 0, 15_000, "the namenode watching woods.yaml");
  await waitFor(() => logged(cluster.dir, "dn1", /reloads .*datanode\.scrubBytesPerSecond/).length > 0, 15_000, "dn1 watching woods.yaml");

  const tree = parseYaml(readFileSync(file, "utf8")) as { [key: string]: unknown; namenode?: object; datanode?: object };
  tree.namenode = { ...(tree.namenode ?? {}), placementPolicy: "round-robin", repairInflightMax: 4, repairTimeoutMs: 30000 };
  tree.datanode = { ...(tree.datanode ?? {}), scrubBytesPerSecond: 1048576 };
  tree.replication = 2;
  saveByRename(file, toYaml(tree));

  const applied = await waitFor(() => logged(cluster.dir, "namenode", /namenode nn1 reloaded/)[0], 20_000, "the namenode's reload line");
  t.regex(applied, /namenode\.placementPolicy "free-space" → "round-robin"/);
  t.regex(applied, /namenode\.repairInflightMax 16 → 4/);
  t.regex(applied, /namenode\.repairTimeoutMs 120000 → 30000/);
  t.notRegex(applied, /scrubBytesPerSecond/, "the namenode leaves the datanodes' keys alone");
  const restart = await waitFor(() => logged(cluster.dir, "namenode", /needs a restart/)[0], 10_000, "a restart warning");
  t.regex(restart, /replication 1 → 2/);
  const dnApplied = await waitFor(() => logged(cluster.dir, "dn2", /datanode dn2 reloaded/)[0], 20_000, "dn2's reload line");
  t.regex(dnApplied, /datanode\.scrubBytesPerSecond 16777216 → 1048576/);

  // Round-robin with replication 1: six chunks in a row land on every datanode.
  const data = seededBytes(6 * 1024 * 1024, 11);
  const put = await cluster.put("/rr/a.bin", data, { env });
  t.is(put.code, 0, put.stderr);
  const stat = JSON.parse((await cluster.ok(["stat", "/rr/a.bin", "--json"], { env })).stdout.toString()) as { chunks: { replicas: string[] }[] };
  t.is(stat.chunks.length, 6);
  t.deepEqual([...new Set(stat.chunks.flatMap((c) => c.replicas))].sort(), ["dn1", "dn2", "dn3"]);

  // A broken edit: refused with the key and the value; the namenode keeps round-robin and serves.
  writeFileSync(file, "namenode:\n  placementPolicy: fastest\n");
  const refused = await waitFor(() => logged(cluster.dir, "namenode", /kept its running config/)[0], 20_000, "the namenode refusing the broken file");
  t.regex(refused, /namenode\.placementPolicy="fastest"/);
  await waitFor(() => logged(cluster.dir, "dn1", /kept its running config/).length > 0, 20_000, "dn1 refusing the broken file");
  const more = seededBytes(3 * 1024 * 1024, 12);
  const put2 = await cluster.put("/rr/b.bin", more, { env });
  t.is(put2.code, 0, put2.stderr);
  const stat2 = JSON.parse((await cluster.ok(["stat", "/rr/b.bin", "--json"], { env })).stdout.toString()) as { chunks: { replicas: string[] }[] };
  t.deepEqual([...new Set(stat2.chunks.flatMap((c) => c.replicas))].sort(), ["dn1", "dn2", "dn3"], "still round-robin");
  const got = await cluster.ok(["get", "/rr/a.bin", "-"], { env });
  t.is(sha256(got.stdout), sha256(data));
  t.is(logged(cluster.dir, "namenode", /namenode nn1 reloaded/).length, 1, "the broken file changed nothing");
  t.deepEqual(logged(cluster.dir, "namenode", /exiting|fatal/i), []);
});
