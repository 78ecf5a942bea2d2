/** The log formats: JSON for files and pipes, readable lines on a terminal (actors/logger.ts). */
import test from "ava";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { formatPretty, logFormat } from "../../actors/logger.js";

const LOGGER = fileURLToPath(new URL("../../actors/logger.ts", import.meta.url));

/** The local `HH:MM:SS.mmm` of an instant, as the formatter shows it. */
function clock(iso: string): string {
  const d = new Date(iso);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

const T = "2025-03-04T05:06:07.089Z";

test("a log object reads as time, level, actor/nodeId, message and key=value fields", (t) => {
  const line = formatPretty({ level: 30, time: T, actor: "namenode", nodeId: "nn1", pid: 42, msg: "dn2 became dead after 6000 ms without heartbeat", dn: "dn2", silentMs: 6000, fenced: false });
  t.is(line, `${clock(T)} INFO  namenode/nn1 dn2 became dead after 6000 ms without heartbeat dn=dn2 silentMs=6000 fenced=false`);
});

test("every pino level has its name; epoch-millisecond times (the client's) work too", (t) => {
  const names = [10, 20, 30, 40, 50, 60].map((level) => formatPretty({ level, time: Date.parse(T), msg: "m" }).split(" ")[1]);
  t.deepEqual(names, ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]);
  t.true(formatPretty({ level: 30, time: Date.parse(T), msg: "m" }).startsWith(clock(T)));
  t.true(formatPretty({ level: 30, msg: "no time" }).startsWith("--:--:--.--- INFO"));
});

test("values with spaces, quotes or = are quoted; objects and arrays are JSON; trace ids are kept", (t) => {
  const line = formatPretty({
    level: 40,
    time: T,
    actor: "client",
    name: "woods-cli",
    msg: "retrying",
    path: "/a b/c",
    note: 'say "hi"',
    eq: "a=b",
    replicas: ["dn1", "dn2"],
    where: { chunk: 3 },
    none: null,
    traceId: "0af7651916cd43dd8448eb211c80319c",
  });
  t.is(
    line,
    `${clock(T)} WARN  client retrying name=woods-cli path="/a b/c" note="say \\"hi\\"" eq="a=b" replicas=["dn1","dn2"] where={"chunk":3} none=null traceId=0af7651916cd43dd8448eb211c80319c`,
  );
});

test("an actor whose node id is its name shows once; an error shows its code, message and stack", (t) => {
  const err = { type: "WoodsError", message: "disk gone", code: "IO", stack: "WoodsError: disk gone\n    at a (x.ts:1:1)\n    at b (y.ts:2:2)" };
  const line = formatPretty({ level: 50, time: T, actor: "dashboard", nodeId: "dashboard", msg: "poll failed", err });
  t.is(line, `${clock(T)} ERROR dashboard poll failed err="IO: disk gone"\n    at a (x.ts:1:1)\n    at b (y.ts:2:2)`);
});

test("colour marks the level and dims the fields only when asked", (t) => {
  const plain = formatPretty({ level: 40, time: T, msg: "m", k: 1 });
  t.false(plain.includes("\u001b["));
  const colored = formatPretty({ level: 40, time: T, msg: "m", k: 1 }, { color: true });
  t.true(colored.includes("\u001b[33mWARN \u001b[39m"));
  t.true(colored.includes("\u001b[90mk=1\u001b[39m"));
});

test("the format is readable on a terminal and JSON elsewhere; WOODS_LOG_FORMAT overrides either way", (t) => {
  t.is(logFormat(true, undefined), "pretty");
  t.is(logFormat(false, undefined), "json");
  t.is(logFormat(true, "json"), "json");
  t.is(logFormat(false, "pretty"), "pretty");
  t.is(logFormat(false, " PRETTY "), "pretty");
  t.is(logFormat(true, "yaml"), "pretty", "an unknown value is ignored");
});

/** Runs createLogger in a child process whose stdout is a pipe (not a terminal). */
function logFromChild(env: NodeJS.ProcessEnv): string {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)}; const log = createLogger("datanode", "dn7", "info"); log.info({ chunkId: "c1" }, "chunk c1 stored"); log.debug("hidden");`;
  const r = spawnSync(process.execPath, ["--import=tsx", "--input-type=module", "-e", script], { env: { ...process.env, ...env }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

test("an actor's log on a pipe is pino JSON, one object per line, with actor, nodeId, pid and an ISO time", (t) => {
  const out = logFromChild({ WOODS_LOG_FORMAT: "" });
  const lines = out.trim().split("\n");
  t.is(lines.length, 1);
  const obj = JSON.parse(lines[0]);
  t.deepEqual(Object.keys(obj), ["level", "time", "actor", "nodeId", "pid", "chunkId", "msg"]);
  t.like(obj, { level: 30, actor: "datanode", nodeId: "dn7", chunkId: "c1", msg: "chunk c1 stored" });
  t.regex(obj.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("WOODS_LOG_FORMAT=pretty gives readable lines on a pipe too", (t) => {
  const out = logFromChild({ WOODS_LOG_FORMAT: "pretty", NO_COLOR: "1" });
  t.regex(out, /^\d\d:\d\d:\d\d\.\d{3} INFO  datanode\/dn7 chunk c1 stored chunkId=c1\n$/);
});
