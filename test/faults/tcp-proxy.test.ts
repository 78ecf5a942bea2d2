import test from "ava";
import { createServer, connect, type Socket } from "node:net";
import { once } from "node:events";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

/** An echo server on a free port. */
async function echoServer() {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    s.pipe(s);
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const addr = srv.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : 0,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** Sends `text` and resolves with what came back within `ms`, or null. */
async function echo(sock: Socket, text: string, ms = 300): Promise<string | null> {
  let got = "";
  const onData = (d: Buffer) => (got += d.toString());
  sock.on("data", onData);
  sock.write(text);
  const deadline = Date.now() + ms;
  while (got.length < text.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  sock.off("data", onData);
  return got.length ? got : null;
}

test("the test proxy forwards, stalls without closing, restores what it held, and cuts", async (t) => {
  const target = await echoServer();
  const proxy = await startTcpProxy(target.port);
  t.teardown(async () => {
    await proxy.close();
    await target.close();
  });
  const sock = connect(proxy.port, "127.0.0.1");
  sock.on("error", () => undefined);
  await once(sock, "connect");
  t.is(await echo(sock, "hello"), "hello");

  proxy.stall();
  let closed = false;
  sock.once("close", () => (closed = true));
  t.is(await echo(sock, "held"), null, "no bytes move while stalled");
  t.false(closed, "a stalled connection stays open");

  proxy.restore();
  const late = await new Promise<string>((resolve) => sock.once("data", (d: Buffer) => resolve(d.toString())));
  t.is(late, "held", "bytes held during the stall arrive after restore");
  t.is(await echo(sock, "again"), "again");

  proxy.cut();
  await new Promise((r) => setTimeout(r, 50));
  t.true(closed, "cut closes existing connections");
  const refused = connect(proxy.port, "127.0.0.1");
  refused.on("error", () => undefined);
  await once(refused, "close");
  t.is(proxy.connections(), 0, "new connections are refused while cut");

  proxy.restore();
  const fresh = connect(proxy.port, "127.0.0.1");
  fresh.on("error", () => undefined);
  await once(fresh, "connect");
  t.is(await echo(fresh, "back"), "back");
  fresh.destroy();
});
