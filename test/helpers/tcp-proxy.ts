/**
 * A TCP proxy for partition tests: listens on a free port on 127.0.0.1 and forwards
 * every connection to a target (a nats-server). `cut()` drops every connection and
 * refuses new ones (a clean partition); `stall()` keeps connections open but stops
 * moving bytes in both directions (a gray partition: the peer sees silence, not a
 * close); `restore()` goes back to forwarding, flushing whatever was held.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export type ProxyMode = "open" | "cut" | "stalled";

export interface TcpProxy {
  port: number;
  url: string;
  mode(): ProxyMode;
  /** Connections currently held open. */
  connections(): number;
  cut(): void;
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  piped: boolean;
}

/** Starts a proxy to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  let mode: ProxyMode = "open";
  const pairs = new Set<Pair>();

  const pipe = (p: Pair) => {
    if (p.piped) return;
    p.piped = true;
    p.client.pipe(p.upstream);
    p.upstream.pipe(p.client);
  };
  // Unpiping and pausing stops reading from the kernel, so TCP windows fill up and the
  // peers see a silent connection, as behind a dead switch.
  const hold = (p: Pair) => {
    if (p.piped) {
      p.client.unpipe(p.upstream);
      p.upstream.unpipe(p.client);
      p.piped = false;
    }
    p.client.pause();
    p.upstream.pause();
  };
  const drop = (p: Pair) => {
    pairs.delete(p);
    p.client.destroy();
    p.upstream.destroy();
  };

  const server: Server = createServer((client) => {
    if (mode === "cut") {
      client.destroy();
      return;
    }
    client.pause();
    const upstream = connect(targetPort, targetHost);
    upstream.pause();
    const p: Pair = { client, upstream, piped: false };
    pairs.add(p);
    for (const s of [client, upstream]) {
      s.on("error", () => drop(p));
      s.on("close", () => drop(p));
    }
    upstream.once("connect", () => {
      if (mode === "open") pipe(p);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;

  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    mode: () => mode,
    connections: () => pairs.size,
    cut() {
      mode = "cut";
      for (const p of [...pairs]) drop(p);
    },
    stall() {
      mode = "stalled";
      for (const p of pairs) hold(p);
    },
    restore() {
      mode = "open";
      for (const p of pairs) if (p.upstream.readyState === "open") pipe(p);
    },
    async close() {
      mode = "cut";
      for (const p of [...pairs]) drop(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
