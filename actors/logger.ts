import { pino, type Logger } from "pino";

/** One pino logger per actor process, tagged with `{ actor, nodeId }`. JSON, one line per event. */
export function createLogger(actor: string, nodeId: string, level = "info"): Logger {
  return pino({ level, base: { actor, nodeId, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export type { Logger };
