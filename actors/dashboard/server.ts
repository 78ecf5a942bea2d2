/**
 * The dashboard's HTTP face (node:http, no framework):
 *   GET /            the page (one self-contained HTML document)
 *   GET /events      server-sent events: `snapshot` on connect, then `update` whenever something changed
 *   GET /api/state   the current view and the kept events as JSON
 *   GET /healthz     "ok"
 * Pushes are coalesced: at most one update per `pushIntervalMs` to each client, and only when the
 * state moved, so a burst of events costs one message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger.js";
import { eventsAfter, viewOf, type DashboardState } from "./state.js";
import { dashboardPage } from "./page.js";

export interface ServerOptions {
  host: string;
  port: number;
  /** When `port` is taken, listen on any free port instead of failing (the default port only). */
  portFallback: boolean;
  /** Most SSE clients at once; more are answered 503. */
  clientsMax: number;
  pushIntervalMs: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  keepAliveMs: number;
  clock: () => number;
}

export const DEFAULT_SERVER: Omit<ServerOptions, "host" | "port" | "portFallback" | "clock"> = {
  clientsMax: 32,
  pushIntervalMs: 500,
  keepAliveMs: 15_000,
};

/** Unsent bytes a stream may hold before its client is dropped. */
const STREAM_BUFFER_MAX_BYTES = 4 * 1024 * 1024;

interface SseClient {
  res: ServerResponse;
  /** Highest event seq this client has been sent. */
  sentSeq: number;
  sentVersion: number;
}

export class DashboardServer {
  private readonly server: Server;
  private readonly clients = new Set<SseClient>();
  private pushTimer: NodeJS.Timeout | null = null;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private readonly page: string;

  constructor(
    private readonly state: DashboardState,
    private readonly opts: ServerOptions,
    private readonly log: Logger,
  ) {
    this.page = dashboardPage();
    this.server = createServer((req, res) => this.handle(req, res));
    // An SSE stream is long-lived; node's default request timeouts must not cut it.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 10_000;
  }

  /** Listens; resolves with the bound port. */
  async listen(): Promise<number> {
    const attempt = (port: number) =>
      new Promise<number>((resolve, reject) => {
        const onError = (e: Error) => {
          this.server.off("listening", onListening);
          reject(e);
        };
        const onListening = () => {
          this.server.off("error", onError);
          resolve((this.server.address() as AddressInfo).port);
        };
        this.server.once("error", onError);
        this.server.once("listening", onListening);
        this.server.listen(port, this.opts.host);
      });
    let port: number;
    try {
      port = await attempt(this.opts.port);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || !this.opts.portFallback) throw e;
      this.log.info(`port ${this.opts.port} is in use; the dashboard takes a free port instead`);
      port = await attempt(0);
    }
    this.pushTimer = setInterval(() => this.push(), this.opts.pushIntervalMs);
    this.keepAliveTimer = setInterval(() => this.keepAlive(), this.opts.keepAliveMs);
    return port;
  }

  /** Ends every stream and stops listening. */
  async close(): Promise<void> {
    if (this.pushTimer) clearInterval(this.pushTimer);
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Browsers keep idle connections open; they must not hold the shutdown up.
    this.server.closeAllConnections();
    await closed;
  }

  /** Sends an update to every client whose view is behind (runs every `pushIntervalMs`). */
  push(): void {
    if (this.clients.size === 0) return;
    const view = viewOf(this.state, this.opts.clock());
    // Clients are usually in step: one message per distinct starting point, shared.
    const bodies = new Map<number, string>();
    for (const c of this.clients) {
      if (c.sentVersion === this.state.version && c.sentSeq === view.lastSeq) continue;
      let body = bodies.get(c.sentSeq);
      if (body === undefined) {
        body = JSON.stringify({ view, events: eventsAfter(this.state, c.sentSeq) });
        bodies.set(c.sentSeq, body);
      }
      this.send(c, "update", body);
      c.sentSeq = view.lastSeq;
      c.sentVersion = this.state.version;
    }
  }

  private send(c: SseClient, event: string, data: string): void {
    // A client that does not read its stream is cut off rather than buffered without end; its
    // browser reconnects and starts again from a snapshot.
    if (c.res.writableLength > STREAM_BUFFER_MAX_BYTES) {
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  private keepAlive(): void {
    for (const c of this.clients) c.res.write(": keep-alive\n\n");
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("method not allowed\n");
        return;
      }
      const path = (req.url ?? "/").split("?")[0];
      switch (path) {
        case "/":
        case "/index.html":
          res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }).end(this.page);
          return;
        case "/api/state": {
          const body = JSON.stringify({ view: viewOf(this.state, this.opts.clock()), events: this.state.events });
          res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" }).end(body);
          return;
        }
        case "/events":
          this.openStream(req, res);
          return;
        case "/favicon.ico":
          res.writeHead(204).end();
          return;
        case "/healthz":
          res.writeHead(200, { "Content-Type": "text/plain" }).end("ok\n");
          return;
        default:
          res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      }
    } catch (e) {
      this.log.error({ err: e, url: req.url }, "dashboard request failed");
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain" });
      res.end("internal error\n");
    }
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= this.opts.clientsMax) {
      res.writeHead(503, { "Content-Type": "text/plain", "Retry-After": "5" }).end(`too many dashboard clients (${this.opts.clientsMax})\n`);
      return;
    }
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    req.socket.setNoDelay(true);
    const view = viewOf(this.state, this.opts.clock());
    const client: SseClient = { res, sentSeq: view.lastSeq, sentVersion: this.state.version };
    // The browser reconnects by itself after 2 s when the stream breaks.
    res.write("retry: 2000\n\n");
    this.send(client, "snapshot", JSON.stringify({ view, events: this.state.events }));
    this.clients.add(client);
    const drop = () => this.clients.delete(client);
    req.on("close", drop);
    res.on("error", drop);
  }
}
