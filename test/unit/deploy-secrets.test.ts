/** The deployment's secrets generator (cli/deploy-secrets.ts, run by deploy/make-secrets.sh). */
import test from "ava";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDeploySecrets, parseDeployArgs, main } from "../../cli/deploy-secrets.js";
import { credsFile } from "../../cli/cluster/auth.js";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "woods-secrets-"));
}

function password(file: string): string {
  return (JSON.parse(readFileSync(file, "utf8")) as { password: string }).password;
}

test("running it again keeps every password, adds a new datanode's user and drops a removed one's", (t) => {
  const dir = tmp();
  try {
    writeDeploySecrets({ outDir: dir, owner: null, datanodes: ["dn1", "dn2"] });
    const before = { admin: password(credsFile(dir, "admin")), dn1: password(credsFile(dir, { datanode: "dn1" })), route: password(join(dir, "creds", "route.creds")) };
    const conf1 = readFileSync(join(dir, "nats-server.conf"), "utf8");
    t.regex(conf1, /user: "datanode-dn2"/);
    writeDeploySecrets({ outDir: dir, owner: null, datanodes: ["dn1", "dn3"] });
    t.is(password(credsFile(dir, "admin")), before.admin);
    t.is(password(credsFile(dir, { datanode: "dn1" })), before.dn1);
    t.is(password(join(dir, "creds", "route.creds")), before.route);
    t.true(existsSync(credsFile(dir, { datanode: "dn3" })));
    const conf2 = readFileSync(join(dir, "nats-server.conf"), "utf8");
    t.regex(conf2, /user: "datanode-dn3"/);
    t.notRegex(conf2, /user: "datanode-dn2"/, "a datanode left out can no longer log in");
    t.true(conf2.includes(before.route), "the routes keep their password");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad datanode ids and routes are refused before anything is written", (t) => {
  const dir = tmp();
  try {
    t.throws(() => writeDeploySecrets({ outDir: dir, owner: null, datanodes: ["dn 1"] }), { message: /datanode id/ });
    t.throws(() => writeDeploySecrets({ outDir: dir, owner: null, datanodes: ["dn1", "dn1"] }), { message: /repeat/ });
    t.throws(() => writeDeploySecrets({ outDir: dir, owner: null, routes: ["nats-1"] }), { message: /host:port/ });
    t.false(existsSync(join(dir, "nats-server.conf")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the command line: lists, owner, help and unknown options", (t) => {
  const o = parseDeployArgs(["--out", "/x", "--datanodes", "a, b,c", "--routes", "h1:6222,h2:6222", "--owner", "1000:1000", "--prefix", "p"]);
  t.not(o, "help");
  if (o === "help") return;
  t.is(o.outDir, "/x");
  t.deepEqual(o.datanodes, ["a", "b", "c"]);
  t.deepEqual(o.routes, ["h1:6222", "h2:6222"]);
  t.deepEqual(o.owner, { uid: 1000, gid: 1000 });
  t.is(o.prefix, "p");
  t.is((parseDeployArgs(["--owner", "none"]) as { owner: unknown }).owner, null);
  t.is(parseDeployArgs(["--help"]), "help");
  t.throws(() => parseDeployArgs(["--bogus", "1"]), { message: /unknown option/ });
  t.throws(() => parseDeployArgs(["--out"]), { message: /needs a value/ });
  t.throws(() => parseDeployArgs(["--owner", "root"]), { message: /UID:GID/ });
  t.is(main(["--nope", "x"]), 2);
});
