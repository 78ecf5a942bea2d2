/**
 * `woods namenode` keeps trying to start instead of exiting while NATS cannot hold its log yet (no
 * server, or a server without JetStream, as while a NATS cluster forms), and comes up active once it can.
 */
import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, freePort, natsServerBinary, type NatsServerHandle } from "../helpers/nats-server.js";
import { WOODS, waitFor } from "../helpers/cluster.js";
import { call } from "../../actors/rpc.js";

let server: NatsServerHandle | undefined;
let plain: ChildProcess | undefined;
test.after.always(async () => {
  plain?.kill("SIGKILL");
  await server?.stop();
});

test("a namenode waits through no server and a server without JetStream, then serves as active", async (t) => {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [WOODS, "namenode", "--id", "nn1"], {
    env: { ...process.env, WOODS_NATS: url, WOODS_LOG_FORMAT: "json", WOODS_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  t.teardown(() => void child.kill("SIGKILL"));

  // No server yet: the namenode waits for its first connection.
  await new Promise((r) => setTimeout(r, 1500));
  t.is(exited, undefined, `the namenode exited without a NATS server: ${out.slice(-500)}`);

  // A server without JetStream: every start fails (no stream for the log); the namenode retries.
  plain = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  await waitFor(() => /could not start \(attempt 2\)/.test(out), 30_000, "a second failed start to be logged");
  t.is(exited, undefined, `the namenode exited on a server without JetStream: ${out.slice(-500)}`);

  // The server comes back with JetStream on the same port: the namenode's next attempt takes over the log.
  plain.kill("SIGKILL");
  await new Promise((r) => plain!.once("exit", r));
  server = await startNatsServer({ port });
  const nc = await connect({ servers: url });
  try {
    const ping = await waitFor(
      async () => call<{ id: string; standby?: boolean }>(nc, "woods.namenode.ping", {}, 1000).catch(() => undefined),
      60_000,
      "the namenode to answer as active",
      500,
    );
    t.is(ping.id, "nn1");
    t.falsy(ping.standby);
    t.is(exited, undefined);
  } finally {
    await nc.close();
  }
});
