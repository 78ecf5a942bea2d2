/**
 * Asks the namenode for `nodes` every poll, `fsck` and the file list less often, and feeds the
 * replies to the dashboard state. One poll at a time (a slow namenode delays the next poll instead
 * of piling requests up), and the costly views back off with their own cost: fsck is O(chunks) and
 * the file walk is one `ls` per directory, so each runs at most about 5% of the time.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { LsEntry, NamenodeReplies, Subjects } from "../../messages/index.js";
import { call } from "../rpc.js";
import type { Logger } from "../logger.js";
import { applyFiles, applyFilesError, applyFsck, applyNodes, applyPollError, type DashboardState } from "./state.js";

export interface PollerOptions {
  /** Time between polls of `nodes` (never below 1000: the dashboard must not load the cluster). */
  pollIntervalMs: number;
  requestTimeoutMs: number;
  /** Most `ls` requests of one file walk. */
  lsCallsMax: number;
  /** The file list is refreshed at least this often even without file events. */
  filesRefreshMs: number;
  /** fsck and the walk wait this many times their own duration before running again. */
  costFactor: number;
  clock: () => number;
}

export const DEFAULT_POLLER: Omit<PollerOptions, "clock" | "requestTimeoutMs"> = {
  pollIntervalMs: 1000,
  lsCallsMax: 32,
  filesRefreshMs: 10_000,
  costFactor: 20,
};

/**
 * Breadth-first listing from `/`: files first-come up to `filesMax`, at most `lsCallsMax` requests.
 * Returns the files and whether the walk stopped early.
 */
export async function walkFiles(
  ls: (prefix: string) => Promise<LsEntry[]>,
  filesMax: number,
  lsCallsMax: number,
): Promise<{ entries: LsEntry[]; truncated: boolean }> {
  const files: LsEntry[] = [];
  const dirs = ["/"];
  let calls = 0;
  while (dirs.length > 0) {
    if (calls >= lsCallsMax || files.length >= filesMax) return { entries: files.slice(0, filesMax), truncated: true };
    const dir = dirs.shift()!;
    calls++;
    let entries: LsEntry[];
    try {
      entries = await ls(dir);
    } catch (e) {
      // A directory removed between two listings is not an error of the walk.
      if ((e as { code?: string }).code === "NOT_FOUND") continue;
      throw e;
    }
    for (const e of entries) {
      if (e.type === "dir") dirs.push(e.path);
      else files.push(e);
    }
  }
  return { entries: files.slice(0, filesMax), truncated: files.length > filesMax };
}

export class Poller {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private nextFsckAtMs = 0;
  private nextFilesAtMs = 0;
  private lastFilesAtMs = 0;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subj: Subjects,
    private readonly state: DashboardState,
    private readonly opts: PollerOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pollOnce().finally(() => this.schedule(this.opts.pollIntervalMs));
    }, delayMs);
  }

  private async request<V extends "nodes" | "fsck" | "ls">(verb: V, body: object): Promise<NamenodeReplies[V]> {
    return call<NamenodeReplies[V]>(this.nc, this.subj.namenode(verb), body, this.opts.requestTimeoutMs);
  }

  /** One round: nodes always, fsck and the file walk when due. */
  async pollOnce(): Promise<void> {
    const clock = this.opts.clock;
    const wasReachable = this.state.namenode.reachable;
    try {
      const sentMs = clock();
      const r = await this.request("nodes", {});
      applyNodes(this.state, r.nodes, sentMs, clock());
      if (clock() >= this.nextFsckAtMs) {
        const t0 = clock();
        // The reply body still carries the envelope's `ok`; the page wants only the counts.
        const { ok: _ok, ...fsck } = (await this.request("fsck", {})) as NamenodeReplies["fsck"] & { ok?: boolean };
        applyFsck(this.state, fsck, clock());
        this.nextFsckAtMs = clock() + (clock() - t0) * this.opts.costFactor;
      }
      if (!wasReachable) this.log.info("namenode answers; dashboard is up to date");
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      if (wasReachable || this.state.namenode.error === null) this.log.warn({ err: message }, `namenode does not answer: ${message}`);
      applyPollError(this.state, message);
      return;
    }
    await this.walkIfDue();
  }

  /** The file list: after file events (cost-limited) and every `filesRefreshMs` regardless. */
  private async walkIfDue(): Promise<void> {
    const clock = this.opts.clock;
    const now = clock();
    if (!((this.state.filesDirty && now >= this.nextFilesAtMs) || now >= this.lastFilesAtMs + this.opts.filesRefreshMs)) return;
    const t0 = clock();
    try {
      const walk = await walkFiles(async (prefix) => (await this.request("ls", { prefix })).entries, this.state.limits.filesMax, this.opts.lsCallsMax);
      applyFiles(this.state, walk.entries, walk.truncated, clock());
      this.nextFilesAtMs = clock() + (clock() - t0) * this.opts.costFactor;
    } catch (e) {
      // Not the namenode's health: a listing can fail on its own (a directory too large for one reply).
      const message = (e as Error).message ?? String(e);
      if (this.state.files.error !== message) this.log.warn({ err: message }, `could not list the files: ${message}`);
      applyFilesError(this.state, message);
      this.nextFilesAtMs = clock() + this.opts.filesRefreshMs;
    }
    this.lastFilesAtMs = clock();
  }
}
