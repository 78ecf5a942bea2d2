/**
 * A real local cluster for end-to-end tests: `woods cluster up --detach` on a
 * temp dir and a free port, driven through the public CLI.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash, randomBytes } from "node:crypto";
import { freePort } from "./nats-server.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WOODS = join(ROOT, "bin", "woods.js");

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the woods CLI with optional stdin bytes; never rejects on a non-zero exit. */
export function runWoods(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WOODS, ...args], { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.on("error", () => undefined);
    if (opts.input) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export interface TestCluster {
  dir: string;
  port: number;
  url: string;
  env: NodeJS.ProcessEnv;
  /** Runs a client command against this cluster (adds --dir for cluster subcommands). */
  woods(args: string[], opts?: { input?: Buffer; timeoutMs?: number }): Promise<RunResult>;
  /** Like woods() but throws unless the exit code is 0. */
  ok(args: string[], opts?: { input?: Buffer; timeoutMs?: number }): Promise<RunResult>;
  status(): Promise<{ nats: string; namenode: { pid: number | null }; datanodes: { id: string; pid: number | null; dir: string }[] }>;
  down(): Promise<void>;
}

/** Starts a cluster; call down() in t.teardown. */
export async function startCluster(opts: { datanodes?: number; replication?: number; chunkSize?: string } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "woods-cluster-"));
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const env = { WOODS_NATS: url, WOODS_LOG_LEVEL: "info" };
  const up = await runWoods(
    [
      "cluster", "up", "--detach", "--dir", dir, "--port", String(port),
      "--datanodes", String(opts.datanodes ?? 3), "--replication", String(opts.replication ?? 3),
      "--chunk-size", opts.chunkSize ?? "1MiB",
    ],
    { env },
  );
  if (up.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cluster up failed (${up.code}): ${up.stderr}`);
  }
  const woods = (args: string[], o: { input?: Buffer; timeoutMs?: number } = {}) => {
    const full = args[0] === "cluster" ? [...args, "--dir", dir] : args;
    return runWoods(full, { env, ...o });
  };
  let stopped = false;
  return {
    dir,
    port,
    url,
    env,
    woods,
    async ok(args, o) {
      const r = await woods(args, o);
      if (r.code !== 0) throw new Error(`woods ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
      return r;
    },
    async status() {
      const r = await woods(["cluster", "status", "--json"]);
      return JSON.parse(r.stdout.toString());
    },
    async down() {
      if (stopped) return;
      stopped = true;
      await woods(["cluster", "down"]);
      if (!process.env.WOODS_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sha256(data: Buffer | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Deterministic pseudo-random bytes (seeded) so failures can be reproduced. */
export function seededBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(Math.ceil(size / 4) * 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, size);
}

export { randomBytes };
