/**
 * Periodic data dir probes: every `datanode.dirCheckIntervalMs` each healthy dir is probed
 * (store.checkDirs); a dir that fails is marked failed by the store, whose onDirFailed hook reports it.
 */
import type { Logger } from "../logger.js";
import type { ChunkStore } from "./store.js";

export class DirChecker {
  private readonly store: Pick<ChunkStore, "checkDirs">;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(opts: { store: Pick<ChunkStore, "checkDirs">; intervalMs: number; log: Logger }) {
    this.store = opts.store;
    this.intervalMs = opts.intervalMs;
    this.log = opts.log;
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      // The next check is scheduled only after this one ends, so a hung disk never stacks probes.
      this.running = this.store
        .checkDirs()
        .catch((e) => this.log.error({ err: e }, "data dir check failed unexpectedly"))
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
