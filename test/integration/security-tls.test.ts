/**
 * TLS (README, Security): `cluster up --tls DIR` makes the server require TLS and a client certificate
 * signed by the cluster's CA. A throwaway CA is made here with openssl.
 */
import test from "ava";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { startCluster, authFor, seededBytes, sha256, type TestCluster } from "../helpers/cluster.js";

let cluster: TestCluster;
let pki: string;

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA `name` (name.pem, name-key.pem) in `dir`. */
function makeCa(dir: string, name: string): void {
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", `${name}-key.pem`, "-out", `${name}.pem`], dir);
}

/** A certificate `out`-cert.pem / `out`-key.pem signed by CA `ca`, valid for 127.0.0.1 and localhost. */
function makeCert(dir: string, ca: string, out: string, cn: string): void {
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${cn}`, "-keyout", `${out}-key.pem`, "-out", `${out}.csr`], dir);
  writeFileSync(join(dir, `${out}.ext`), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
  openssl(["x509", "-req", "-in", `${out}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}-key.pem`, "-CAcreateserial", "-days", "2", "-extfile", `${out}.ext`, "-out", `${out}-cert.pem`], dir);
}

test.before(async () => {
  pki = mkdtempSync(join(tmpdir(), "woods-pki-"));
  makeCa(pki, "ca");
  makeCert(pki, "ca", "server", "woods-nats");
  makeCert(pki, "ca", "client", "woods-client");
  // A second CA the cluster does not trust, and a client certificate it signed.
  makeCa(pki, "rogue-ca");
  makeCert(pki, "rogue-ca", "rogue", "rogue-client");
  cluster = await startCluster({ datanodes: 2, replication: 2, tlsDir: pki });
});
test.after.always(async () => {
  await cluster?.down();
  if (pki) rmSync(pki, { recursive: true, force: true });
});

test.serial("put and get work over TLS", async (t) => {
  t.regex(cluster.url, /^tls:/);
  const data = seededBytes(2 * 1024 * 1024 + 5, 11);
  const put = await cluster.put("/tls/a.bin", data);
  t.is(put.code, 0, put.stderr);
  const got = await cluster.ok(["get", "/tls/a.bin", "-"]);
  t.is(sha256(got.stdout), sha256(data));
});

test.serial("a client with a certificate from an untrusted CA, or none, or without TLS, is refused even with a valid password", async (t) => {
  const auth = authFor(cluster.url, "client");
  const hostPort = cluster.url.replace(/^tls:\/\//, "");
  const attempt = (opts: Record<string, unknown>) => connect({ servers: hostPort, reconnect: false, timeout: 3000, ...auth, ...opts });
  // The control: the right certificate gets in.
  const nc = await attempt({ tls: { caFile: join(pki, "ca.pem"), certFile: join(pki, "client-cert.pem"), keyFile: join(pki, "client-key.pem") } });
  await nc.close();
  await t.throwsAsync(attempt({ tls: { caFile: join(pki, "ca.pem"), certFile: join(pki, "rogue-cert.pem"), keyFile: join(pki, "rogue-key.pem") } }));
  await t.throwsAsync(attempt({ tls: { caFile: join(pki, "ca.pem") } }));
  await t.throwsAsync(attempt({}));
  // Nor does a client trust a server whose certificate its CA did not sign.
  await t.throwsAsync(attempt({ tls: { caFile: join(pki, "rogue-ca.pem"), certFile: join(pki, "client-cert.pem"), keyFile: join(pki, "client-key.pem") } }));
});
