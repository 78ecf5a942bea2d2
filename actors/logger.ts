import { pino, type DestinationStream, type Logger } from "pino";
import { trace } from "@opentelemetry/api";

/** Adds the trace and span ids of the active (recording) span, so a log line can be found from its trace. */
function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span || !span.isRecording()) return {};
  const c = span.spanContext();
  return { traceId: c.traceId, spanId: c.spanId };
}

/** `json`: one pino JSON object per line (files, pipes, log shippers). `pretty`: one readable line per event (a terminal). */
export type LogFormat = "json" | "pretty";

/**
 * The log format for an output: `pretty` on a terminal, `json` otherwise;
 * `WOODS_LOG_FORMAT=json|pretty` overrides (any other value is ignored).
 */
export function logFormat(isTTY: boolean, envValue: string | undefined = process.env.WOODS_LOG_FORMAT): LogFormat {
  const wanted = envValue?.trim().toLowerCase();
  if (wanted === "json" || wanted === "pretty") return wanted;
  return isTTY ? "pretty" : "json";
}

/** One pino logger per actor process, tagged with `{ actor, nodeId }`, one line per event on stdout (see `logFormat`). */
export function createLogger(actor: string, nodeId: string, level = "info"): Logger {
  const options = { level, base: { actor, nodeId, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, mixin: traceFields };
  if (logFormat(!!process.stdout.isTTY) === "json") return pino(options);
  return pino(options, prettyDestination(process.stdout));
}

/**
 * A pino destination that writes each JSON line as `formatPretty` renders it. Colours
 * only on a terminal, and never with `NO_COLOR` set.
 */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean }): DestinationStream {
  const color = !!out.isTTY && process.env.NO_COLOR === undefined;
  return {
    write(line: string): void {
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        out.write(line);
        return;
      }
      out.write(formatPretty(obj as Record<string, unknown>, { color }) + "\n");
    },
  };
}

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
/** ANSI colour per level: grey, cyan, green, yellow, red, magenta. */
const LEVEL_COLORS: Record<string, string> = { TRACE: "90", DEBUG: "36", INFO: "32", WARN: "33", ERROR: "31", FATAL: "35" };
/** Fields the line's head already shows, or that only matter to machines reading JSON. */
const HEAD_FIELDS = new Set(["level", "time", "msg", "actor", "nodeId", "pid", "hostname", "v"]);

/**
 * One pino log object as `HH:MM:SS.mmm LEVEL actor/nodeId msg key=value …` (local time),
 * with an error's stack indented on the lines after. PURE apart from the local time zone.
 */
export function formatPretty(obj: Record<string, unknown>, opts: { color?: boolean } = {}): string {
  const level = typeof obj.level === "number" ? (LEVEL_NAMES[obj.level] ?? `L${obj.level}`) : String(obj.level ?? "INFO").toUpperCase();
  const levelText = level.padEnd(5);
  const paint = (code: string, s: string) => (opts.color ? `\u001b[${code}m${s}\u001b[39m` : s);
  const head = [clockTime(obj.time), opts.color ? paint(LEVEL_COLORS[level] ?? "39", levelText) : levelText];
  const who = whoOf(obj.actor, obj.nodeId);
  if (who) head.push(who);
  if (obj.msg !== undefined && obj.msg !== "") head.push(String(obj.msg));
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(obj)) {
    if (HEAD_FIELDS.has(key) || value === undefined) continue;
    if ((key === "err" || key === "error") && value && typeof value === "object" && "message" in value) {
      const e = value as { message?: unknown; stack?: unknown; code?: unknown };
      fields.push(`${key}=${fieldValue(e.code !== undefined ? `${String(e.code)}: ${String(e.message)}` : e.message)}`);
      if (typeof e.stack === "string") stack = e.stack;
      continue;
    }
    fields.push(`${key}=${fieldValue(value)}`);
  }
  let line = head.join(" ");
  if (fields.length > 0) line += " " + (opts.color ? paint("90", fields.join(" ")) : fields.join(" "));
  if (stack) line += "\n" + stack.split("\n").slice(1).map((l) => `    ${l.trim()}`).join("\n");
  return line;
}

function whoOf(actor: unknown, nodeId: unknown): string {
  const a = actor === undefined ? "" : String(actor);
  const n = nodeId === undefined ? "" : String(nodeId);
  if (!a) return n;
  return n && n !== a ? `${a}/${n}` : a;
}

/** `HH:MM:SS.mmm` in local time from pino's ISO string or epoch milliseconds; `--:--:--.---` when absent. */
function clockTime(time: unknown): string {
  const d = typeof time === "string" || typeof time === "number" ? new Date(time) : undefined;
  if (!d || Number.isNaN(d.getTime())) return "--:--:--.---";
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Plain text when it reads unambiguously (no spaces, quotes or `=`), JSON otherwise. */
function fieldValue(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export type { Logger };
