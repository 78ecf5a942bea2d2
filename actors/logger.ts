import { pino, type Logger } from "pino";
import { trace } from "@opentelemetry/api";

/** Adds the trace and span ids of the active (recording) span, so a log line can be found from its trace. */
function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span || !span.isRecording()) return {};
  const c = span.spanContext();
  return { traceId: c.traceId, spanId: c.spanId };
}

/** One pino logger per actor process, tagged with `{ actor, nodeId }`. JSON, one line per event. */
export function createLogger(actor: string, nodeId: string, level = "info"): Logger {
  return pino({ level, base: { actor, nodeId, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, mixin: traceFields });
}

export type { Logger };
