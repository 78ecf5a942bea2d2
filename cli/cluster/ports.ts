/** Loopback TCP port helpers for the launcher, the benchmarks and the tests. */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** True when nothing listens on 127.0.0.1:`port`. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

/** Ports kept free above a chosen port, for servers a launcher numbers from it (port+1, port+2 …). */
const SPARE_ABOVE = 16;
/** How wide the band of ports chosen from is. */
const BAND = 12_000;

/**
 * The first port the kernel hands to outgoing connections (`ip_local_port_range`); 32768 where it cannot
 * be read. Ports below it are never taken by a connection made meanwhile.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 + SPARE_ABOVE ? low : 32768;
  } catch {
    return 32768;
  }
}

/**
 * A free port on 127.0.0.1, released before returning (so another listener could still take it first).
 * It is drawn from just below the kernel's ephemeral range: a port from `listen(0)` lies inside that
 * range, where any outgoing connection made before the server binds it may take it, and a NATS cluster
 * starting in a busy test run lost a server that way ("nats-3 exited": address in use).
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - SPARE_ABOVE;
  const low = Math.max(1025, high - BAND);
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = low + Math.floor(Math.random() * (high - low));
    if (await portIsFree(p)) return p;
  }
  return kernelPort();
}

/** A port chosen by the kernel (inside the ephemeral range). */
function kernelPort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const p = typeof a === "object" && a ? a.port : 0;
      srv.close(() => res(p));
    });
  });
}
