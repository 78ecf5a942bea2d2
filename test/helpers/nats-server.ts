/** Starts a real nats-server on free ports with a temp store dir, for tests. */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Path of a nats-server >= 2.10 (via scripts/ensure-nats-server.sh, cached per process). */
let cachedBinary: string | undefined;
export function natsServerBinary(): string {
  if (cachedBinary) return cachedBinary;
  cachedBinary = execFileSync("bash", [join(ROOT, "scripts", "ensure-nats-server.sh")], { encoding: "utf8" }).trim();
  return cachedBinary;
}

export { freePort } from "../../cli/cluster/ports.js";
import { freePort } from "../../cli/cluster/ports.js";

export interface NatsServerHandle {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts nats-server with JetStream and max_payload 8MB; resolves once /healthz answers. */
export async function startNatsServer(opts: { dir?: string; port?: number } = {}): Promise<NatsServerHandle> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "woods-nats-"));
  const port = opts.port ?? (await freePort());
  const httpPort = await freePort();
  const conf = join(dir, "nats.conf");
  writeFileSync(
    conf,
    `host: 127.0.0.1\nport: ${port}\nhttp_port: ${httpPort}\nmax_payload: 8MB\nmax_pending: 256MB\njetstream { store_dir: "${join(dir, "store")}", max_file_store: 4GB, max_memory_store: 256MB }\n`,
  );
  const proc = spawn(natsServerBinary(), ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz?js-enabled-only=true`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`nats-server did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
