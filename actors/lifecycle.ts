import type { Logger } from "./logger.js";

/** Runs `stop` once on SIGINT/SIGTERM, then exits. A second signal exits at once. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, `stopping after ${signal}`);
    const timer = setTimeout(() => process.exit(1), 10_000);
    timer.unref();
    stop()
      .catch((err) => log.error({ err }, "error while stopping"))
      .finally(() => process.exit(0));
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}

/** Crashes loudly on a broken invariant (the supervisor restarts the actor). */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}
