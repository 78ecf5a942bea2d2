/**
 * Namenode restart time and heap per file and per chunk (`npm run bench -- --only restart`).
 *
 * Writing a million files through a running namenode takes far too long for a benchmark, so the
 * metadata log is written directly: the same `LogBatch` messages the namenode's appender would
 * publish (create, chunk, complete per file; 512 entries per message, the default
 * `logBatchMaxEntries`), with the real encoder, to the real stream. The snapshot is made by the
 * real code as well (Namespace.apply of those entries, capture, encodeSnapshot, SnapshotStore),
 * at the sequence where the namenode's default `snapshotEveryEntries` leaves the longest tail:
 * about 100k entries before the end of the log. What is measured is a real namenode start
 * (`runNamenode` in a child process, bench/restart-namenode.ts): load the newest snapshot, replay
 * the log tail, log its epoch, serve. A second start without the snapshot replays the whole log.
 *
 * Heap is `heapUsed` after forced collections, in the namenode's process, before and after the
 * start, and again once three stand-in datanodes (this process, over NATS) have sent full
 * reports of every chunk, so the registry holds three replicas per chunk. Two data sets with the
 * same number of chunks but different numbers of files (1 and 4 chunks per file) separate the
 * cost of a file from the cost of a chunk.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, existsSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats, call, type NatsConnection } from "../actors/index.js";
import { Namespace } from "../actors/namenode/index.js";
import { encodeSnapshot } from "../actors/namenode/snapshot-format.js";
import { ensureMetaStream, SnapshotStore, snapshotName } from "../jetstream/index.js";
import { loadConfig } from "../config/index.js";
import { encode, subjects, type LogEntry, type NamenodeReplies, type Subjects } from "../messages/index.js";
import { startNatsServer } from "../test/helpers/nats-server.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/**
 * The namenode under test runs compiled, as `woods namenode` does (`npm run bench` builds first):
 * tsx's transform adds work to hot paths (a `__name` call per closure created) that a deployment does not have.
 */
const CHILD = join(HERE, "..", "dist", "bench", "restart-namenode.js");
const DEFAULTS = loadConfig({ env: {} }).namenode;
/** Entries per log message, as the namenode's group commit writes them. */
const BATCH_ENTRIES = DEFAULTS.logBatchMaxEntries;
/** Longest log tail after the newest snapshot with the default snapshot trigger. */
const TAIL_ENTRIES = DEFAULTS.snapshotEveryEntries;
const DATANODES = ["dn1", "dn2", "dn3"];
/** Chunks per report page, as a datanode pages them (`datanode.reportPageMaxChunks`). */
const REPORT_PAGE = 10_000;
const PUBLISH_WINDOW = 64;
const CHUNK_BYTES = 64 * 1024 * 1024;
const FILES_PER_DIR = 1000;

export interface RestartDataset {
  files: number;
  chunksPerFile: number;
  /** Also start once without the snapshot (full replay). */
  fullReplay: boolean;
}

export interface RestartRow extends RestartDataset {
  chunks: number;
  /** Starts from the snapshot measured (the times are their median). */
  starts: number;
  logEntries: number;
  logMessages: number;
  logBytes: number;
  snapshotBytes: number;
  tailEntries: number;
  /** runNamenode() until it serves, with the newest snapshot and the tail (median of `starts`). */
  restartMs: number;
  /** Fastest and slowest of the starts. */
  restartRangeMs: [number, number];
  /** CPU time of that start in the namenode process (steadier than wall time on a busy machine). */
  restartCpuMs: number;
  snapshotLoadMs: number;
  tailReplayMs: number;
  /** runNamenode() until it serves, replaying the whole log (undefined unless asked). */
  fullReplayMs?: number;
  fullReplayCpuMs?: number;
  fullReplayHeapBytes?: number;
  /** Heap the start added: the namespace (and everything else a start builds). */
  heapBytes: number;
  /** Heap once every chunk has three reported replicas. */
  heapReportedBytes: number;
  /** Time the three full reports took the namenode to take in (all pages, sequentially per node). */
  reportMs: number;
}

export interface RestartResult {
  rows: RestartRow[];
  /**
   * Solved from two rows with equal chunk counts: own cost of a file, and of a chunk (namespace
   * only / with 3 replicas). Absent when only one data set ran (`files`).
   */
  perFileBytes?: number;
  perChunkBytes?: number;
  perFileReportedBytes?: number;
  perChunkReportedBytes?: number;
}

/** 32 hex digits that look random but follow from (kind, i, j): chunk and file ids like the namenode's uuids. */
function hexId(kind: number, i: number, j = 0): string {
  let out = "";
  for (let w = 0; w < 4; w++) out += mix(kind * 0x3c6ef372 + i * 4 + w, j).toString(16).padStart(8, "0");
  return out;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ (b * 0x27d4eb2d), 0x9e3779b1) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const fileId = (i: number) => hexId(1, i);
const chunkId = (i: number, j: number) => hexId(2, i, j);
const filePath = (i: number) => `/bench/d${Math.floor(i / FILES_PER_DIR)}/f${i}`;
const chunkSize = (i: number, j: number, k: number) => (j < k - 1 ? CHUNK_BYTES : 1 + (mix(i, j) % CHUNK_BYTES));
const checksum = (i: number, j: number) => `crc32:${mix(i + 7, j + 11).toString(16).padStart(8, "0")}`;

/** The log entries of the data set, in the order a namenode with one writer at a time would log them. */
function* entries(d: RestartDataset, atMs: number): Generator<LogEntry> {
  yield { op: "epoch", epoch: 1, namenodeId: "nn1", atMs };
  for (let i = 0; i < d.files; i++) {
    const id = fileId(i);
    yield { op: "create", fileId: id, path: filePath(i), replication: 3, atMs, clientId: "bench" };
    let size = 0;
    for (let j = 0; j < d.chunksPerFile; j++) {
      const s = chunkSize(i, j, d.chunksPerFile);
      size += s;
      yield { op: "chunk", fileId: id, index: j, chunkId: chunkId(i, j), version: 1, sizeBytes: s, checksum: checksum(i, j), atMs };
    }
    yield { op: "complete", fileId: id, sizeBytes: size, atMs };
  }
}

/** Writes the data set's log (and the snapshot a namenode would have taken) under `subj`. */
async function writeLog(nc: NatsConnection, subj: Subjects, d: RestartDataset): Promise<Pick<RestartRow, "logEntries" | "logMessages" | "logBytes" | "snapshotBytes" | "tailEntries">> {
  await ensureMetaStream(nc, subj, 1);
  const js = jetstream(nc, { timeout: 60_000 });
  const logEntries = 1 + d.files * (d.chunksPerFile + 2);
  const logMessages = Math.ceil(logEntries / BATCH_ENTRIES);
  const snapSeq = Math.max(1, logMessages - Math.ceil(TAIL_ENTRIES / BATCH_ENTRIES));
  let ns: Namespace | undefined = new Namespace();
  let seq = 0;
  let logBytes = 0;
  let snapshotBytes = 0;
  const inflight = new Set<Promise<unknown>>();
  const publish = async (batch: LogEntry[]): Promise<void> => {
    seq++;
    if (ns) for (const e of batch) ns.apply(e);
    const data = encode({ v: 1, entries: batch });
    logBytes += data.length;
    const p = js.publish(subj.metaLog(), data);
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    if (inflight.size >= PUBLISH_WINDOW) await Promise.race(inflight);
    if (ns && seq === snapSeq) {
      // Encoding holds the event loop for a while: let the acks of what is in flight arrive first.
      await Promise.all(inflight);
      const cap = { ...ns.capture(), logSeq: seq, createdAtMs: Date.now() };
      const encoded = await encodeSnapshot(cap);
      snapshotBytes = await (await SnapshotStore.open(nc, subj.snapshotBucket(), 1)).write(snapshotName(seq), encoded.parts);
      ns = undefined;
    }
  };
  let batch: LogEntry[] = [];
  for (const e of entries(d, Date.now())) {
    batch.push(e);
    if (batch.length === BATCH_ENTRIES) {
      await publish(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await publish(batch);
  await Promise.all(inflight);
  const info = await (await jetstreamManager(nc)).streams.info(subj.metaStream());
  if (info.state.last_seq !== logMessages) throw new Error(`restart bench: the log has ${info.state.last_seq} messages, expected ${logMessages}`);
  return { logEntries, logMessages, logBytes, snapshotBytes, tailEntries: logEntries - Math.min(logEntries, snapSeq * BATCH_ENTRIES) };
}

/** A namenode process under measurement. */
class NamenodeChild {
  private readonly waiting: ((m: any) => void)[] = [];
  private exited: Promise<void>;

  private constructor(private readonly proc: ChildProcess) {
    proc.on("message", (m) => this.waiting.shift()?.(m));
    this.exited = new Promise((resolve, reject) =>
      proc.on("exit", (code) => {
        for (const w of this.waiting.splice(0)) w({ type: "exit", code });
        code === 0 ? resolve() : reject(new Error(`restart bench: namenode process exited with ${code}`));
      }),
    );
    this.exited.catch(() => undefined);
  }

  static start(natsUrl: string, prefix: string, profileDir?: string): NamenodeChild {
    if (!existsSync(CHILD)) throw new Error(`restart bench: ${CHILD} is missing; run \`npm run build\` (npm run bench does)`);
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const prof = profileDir ? [`--cpu-prof`, `--cpu-prof-dir=${profileDir}`, `--heap-prof`, `--heap-prof-dir=${profileDir}`] : [];
    return new NamenodeChild(
      fork(CHILD, [natsUrl, prefix], {
        execArgv: ["--expose-gc", "--max-old-space-size=8192", ...prof],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
  }

  next<T>(): Promise<T> {
    return new Promise((resolve, reject) =>
      this.waiting.push((m) => (m.type === "exit" ? reject(new Error(`restart bench: namenode process exited with ${m.code}`)) : resolve(m))),
    );
  }

  async heap(): Promise<{ heapUsed: number; located: number }> {
    const p = this.next<{ heapUsed: number; located: number }>();
    this.proc.send({ type: "heap" });
    return p;
  }

  async stop(): Promise<void> {
    this.proc.send({ type: "stop" });
    await this.exited;
  }
}

interface Started {
  restartMs: number;
  restartCpuMs: number;
  /** When runNamenode was called and when it resolved (monotonic µs, the clock of CPU profiles). */
  windowUs: [number, number];
  heapBefore: number;
  heapAfter: number;
  files: number;
  chunks: number;
  startup: { snapshot?: { loadMs: number }; replayMs: number; replayedEntries: number };
}

/** Three stand-in datanodes heartbeat and send full reports of every chunk (three replicas each). */
async function reportAll(nc: NatsConnection, subj: Subjects, d: RestartDataset): Promise<{ ms: number; stopBeats: () => void }> {
  const beat = (id: string) =>
    call<NamenodeReplies["heartbeat"]>(nc, subj.namenode("heartbeat"), {
      id,
      startedAtMs: 1,
      capacityBytes: 10e12,
      usedBytes: 0,
      availableBytes: 9e12,
      load: 0,
      activeWrites: 0,
      chunkCount: d.files * d.chunksPerFile,
      dirs: [],
    }, 60_000);
  for (const id of DATANODES) await beat(id);
  const timer = setInterval(() => DATANODES.forEach((id) => void beat(id).catch(() => undefined)), 1000);
  const t0 = performance.now();
  await Promise.all(
    DATANODES.map(async (id) => {
      const total = d.files * d.chunksPerFile;
      const pages = Math.ceil(total / REPORT_PAGE);
      for (let page = 0; page < pages; page++) {
        const chunks: { id: string; version: number; sizeBytes: number }[] = [];
        for (let n = page * REPORT_PAGE; n < Math.min(total, (page + 1) * REPORT_PAGE); n++) {
          const i = Math.floor(n / d.chunksPerFile);
          const j = n % d.chunksPerFile;
          chunks.push({ id: chunkId(i, j), version: 1, sizeBytes: chunkSize(i, j, d.chunksPerFile) });
        }
        await call(nc, subj.namenode("report"), { id, full: true, reportId: `bench-${id}`, page, last: page === pages - 1, chunks, removed: [] }, 60_000);
      }
    }),
  );
  return { ms: performance.now() - t0, stopBeats: () => clearInterval(timer) };
}

/** Stats a few files and checks them against what was logged. */
async function verify(nc: NatsConnection, subj: Subjects, d: RestartDataset): Promise<void> {
  for (const i of [0, Math.floor(d.files / 2), d.files - 1]) {
    const st = await call<NamenodeReplies["stat"]>(nc, subj.namenode("stat"), { path: filePath(i) }, 60_000);
    const want = Array.from({ length: d.chunksPerFile }, (_, j) => `${chunkId(i, j)}/${chunkSize(i, j, d.chunksPerFile)}/${checksum(i, j)}`).join(" ");
    const got = st.chunks.map((c) => `${c.id}/${c.size}/${c.checksum}`).join(" ");
    if (got !== want || st.chunks.some((c) => c.replicas.length !== DATANODES.length)) {
      throw new Error(`restart bench: stat ${filePath(i)} after the restart does not match the log: ${got} (${st.chunks[0]?.replicas.length} replicas), want ${want}`);
    }
  }
}

async function runDataset(nc: NatsConnection, natsUrl: string, d: RestartDataset, n: number, repeats: number, profileDir?: string, log = console.log): Promise<RestartRow> {
  const prefix = `rs${n}`;
  const subj = subjects(prefix);
  const chunks = d.files * d.chunksPerFile;
  const label = `${d.files.toLocaleString("en-US")} files × ${d.chunksPerFile} chunk(s)`;
  const t0 = performance.now();
  const written = await writeLog(nc, subj, d);
  log(`restart bench: wrote ${label}: ${written.logMessages} log messages (${(written.logBytes / 2 ** 20).toFixed(0)} MiB), snapshot ${(written.snapshotBytes / 2 ** 20).toFixed(0)} MiB, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const child = NamenodeChild.start(natsUrl, prefix, profileDir && join(profileDir, `${prefix}-snapshot`));
  const started = await child.next<Started>();
  if (profileDir) writeFileSync(join(profileDir, `${prefix}-snapshot`, "window.json"), JSON.stringify(started.windowUs));
  if (started.files !== d.files || started.chunks !== chunks) throw new Error(`restart bench: the namenode has ${started.files} files and ${started.chunks} chunks, expected ${d.files} and ${chunks}`);
  if (!started.startup.snapshot) throw new Error("restart bench: the namenode did not load the snapshot");
  log(`restart bench: ${label}: the namenode serves ${(started.restartMs / 1000).toFixed(2)} s after its start (snapshot ${started.startup.snapshot.loadMs} ms, tail of ${started.startup.replayedEntries} entries ${started.startup.replayMs} ms); three datanodes report every chunk`);
  const rep = await reportAll(nc, subj, d);
  await verify(nc, subj, d);
  const h = await child.heap();
  rep.stopBeats();
  if (h.located !== chunks) throw new Error(`restart bench: ${h.located} chunks located after the reports, expected ${chunks}`);
  await child.stop();
  // More starts for the times (a shared machine is noisy): the median of all of them is reported.
  const starts = [started];
  for (let i = 1; i < repeats; i++) {
    const again = NamenodeChild.start(natsUrl, prefix);
    starts.push(await again.next<Started>());
    await again.stop();
  }
  const mid = starts.sort((a, b) => a.restartMs - b.restartMs)[Math.floor(starts.length / 2)];
  const row: RestartRow = {
    ...d,
    chunks,
    ...written,
    starts: starts.length,
    restartMs: mid.restartMs,
    restartRangeMs: [starts[0].restartMs, starts[starts.length - 1].restartMs],
    restartCpuMs: mid.restartCpuMs,
    snapshotLoadMs: mid.startup.snapshot!.loadMs,
    tailReplayMs: mid.startup.replayMs,
    heapBytes: started.heapAfter - started.heapBefore,
    heapReportedBytes: h.heapUsed - started.heapBefore,
    reportMs: rep.ms,
  };
  log(`restart bench: ${label}: three full reports of ${chunks} chunks took ${(row.reportMs / 1000).toFixed(1)} s`);
  log(`restart bench: ${label}: restart ${(row.restartMs / 1000).toFixed(2)} s (median of ${starts.length}: ${starts.map((x) => (x.restartMs / 1000).toFixed(2)).join(", ")} s; CPU ${(row.restartCpuMs / 1000).toFixed(2)} s; snapshot ${row.snapshotLoadMs} ms, tail of ${started.startup.replayedEntries} entries ${row.tailReplayMs} ms), heap ${(row.heapBytes / d.files).toFixed(0)} B/file, ${(row.heapReportedBytes / d.files).toFixed(0)} B/file with replicas`);

  if (d.fullReplay) {
    const store = await SnapshotStore.open(nc, subj.snapshotBucket(), 1);
    for (const s of await store.list()) await store.remove(s.name);
    const full = NamenodeChild.start(natsUrl, prefix, profileDir && join(profileDir, `${prefix}-full`));
    const st = await full.next<Started>();
    if (profileDir) writeFileSync(join(profileDir, `${prefix}-full`, "window.json"), JSON.stringify(st.windowUs));
    if (st.startup.snapshot || st.files !== d.files) throw new Error("restart bench: the full-replay start did not replay the whole log");
    await full.stop();
    row.fullReplayMs = st.restartMs;
    row.fullReplayCpuMs = st.restartCpuMs;
    row.fullReplayHeapBytes = st.heapAfter - st.heapBefore;
    log(`restart bench: ${label}: full replay of ${st.startup.replayedEntries} entries ${(st.restartMs / 1000).toFixed(2)} s (CPU ${(st.restartCpuMs / 1000).toFixed(2)} s), heap ${(row.fullReplayHeapBytes / d.files).toFixed(0)} B/file`);
  }
  // Free the server's memory and disk for the next data set.
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(subj.metaStream()).catch(() => undefined);
  for await (const s of jsm.streams.list()) if (s.config.name.startsWith(`OBJ_${prefix}`)) await jsm.streams.delete(s.config.name).catch(() => undefined);
  return row;
}

/** Runs the restart benchmark on its own nats-server. `profileDir`: CPU and heap profiles of every namenode start. */
export async function restartBench(opts: { quick: boolean; work: string; profileDir?: string; files?: number; log?: (line: string) => void }): Promise<RestartResult> {
  const big = opts.files ?? (opts.quick ? 100_000 : 1_000_000);
  const datasets: RestartDataset[] = opts.files
    ? [{ files: opts.files, chunksPerFile: 1, fullReplay: false }]
    : opts.quick
    ? [
        { files: 100_000, chunksPerFile: 1, fullReplay: true },
        { files: 25_000, chunksPerFile: 4, fullReplay: false },
      ]
    : [
        { files: 100_000, chunksPerFile: 1, fullReplay: true },
        { files: 1_000_000, chunksPerFile: 1, fullReplay: true },
        { files: 250_000, chunksPerFile: 4, fullReplay: false },
      ];
  if (opts.profileDir) mkdirSync(opts.profileDir, { recursive: true });
  const natsDir = join(opts.work, "restart-nats");
  mkdirSync(natsDir, { recursive: true });
  const server = await startNatsServer({ dir: natsDir });
  const nc = await connectNats({ url: server.url, name: "woods-bench-restart" });
  try {
    const rows: RestartRow[] = [];
    for (const [n, d] of datasets.entries()) rows.push(await runDataset(nc, server.url, d, n, opts.quick || d.chunksPerFile > 1 ? 1 : 3, opts.profileDir, opts.log));
    // Same chunk count, different file counts: the difference is the cost of the extra files.
    const a = rows.find((r) => r.files === big && r.chunksPerFile === 1)!;
    const b = rows.find((r) => r.chunksPerFile === 4);
    if (!b) return { rows };
    const solve = (ha: number, hb: number) => {
      const perFile = (ha - hb) / (a.files - b.files);
      return { perFile, perChunk: (ha - perFile * a.files) / a.chunks };
    };
    const ns = solve(a.heapBytes, b.heapBytes);
    const rep = solve(a.heapReportedBytes, b.heapReportedBytes);
    return { rows, perFileBytes: ns.perFile, perChunkBytes: ns.perChunk, perFileReportedBytes: rep.perFile, perChunkReportedBytes: rep.perChunk };
  } finally {
    await nc.close();
    await server.stop();
  }
}

const RESTART_TARGET_MS = 5000;
const CHUNK_HEAP_TARGET_BYTES = 300;

/** Markdown tables of the restart benchmark. */
export function restartTable(r: RestartResult): string {
  const s = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const f = (n: number) => Math.round(n).toLocaleString("en-US");
  const restartRows = r.rows.filter((x) => x.chunksPerFile === 1);
  const big = restartRows.at(-1)!;
  const met = big.files >= 1_000_000 ? ` (target < 5 s: ${big.restartMs < RESTART_TARGET_MS ? "met" : "not met"})` : "";
  return [
    `| files in the log (1 chunk each) | log entries (messages, size) | snapshot | restart: newest snapshot + tail (median; range) | of which snapshot load | tail replay (entries) | restart: full log replay |`,
    "|---:|---|---:|---:|---:|---:|---:|",
    ...restartRows.map(
      (x) =>
        `| ${f(x.files)} | ${f(x.logEntries)} (${f(x.logMessages)}, ${mib(x.logBytes)}) | ${mib(x.snapshotBytes)} | ${s(x.restartMs)}${x.starts > 1 ? `; ${s(x.restartRangeMs[0])}–${s(x.restartRangeMs[1])}` : ""}${x === big ? met : ""} | ${s(x.snapshotLoadMs)} | ${s(x.tailReplayMs)} (${f(x.tailEntries)}) | ${s(x.fullReplayMs)} |`,
    ),
    "",
    `| namenode heap (after a restart, forced GC) | bytes |`,
    "|---|---:|",
    ...r.rows.map((x) => `| per file with ${x.chunksPerFile} chunk(s), ${f(x.files)} files: namespace / + 3 reported replicas per chunk | ${f(x.heapBytes / x.files)} / ${f(x.heapReportedBytes / x.files)} |`),
    ...(r.perFileBytes === undefined || r.perFileReportedBytes === undefined || r.perChunkBytes === undefined || r.perChunkReportedBytes === undefined
      ? []
      : [
          `| per file, own cost (without its chunks) | ${f(r.perFileBytes)} (with replicas: ${f(r.perFileReportedBytes)}) |`,
          `| per chunk, namespace only | ${f(r.perChunkBytes)} |`,
          `| per chunk, namespace + 3 reported replicas (target ≤ ${CHUNK_HEAP_TARGET_BYTES}) | ${f(r.perChunkReportedBytes)} (${r.perChunkReportedBytes <= CHUNK_HEAP_TARGET_BYTES ? "met" : "not met"}) |`,
        ]),
  ].join("\n");
}

/**
 * The "where the time and memory go" section of docs/benchmarks.md. Written from profiles
 * (`--only restart --profile DIR`, cut to each start with window.json); the tables above it in the
 * document are measured afresh by every full run.
 */
export const RESTART_NOTES = `### Where the time and memory go (namenode)

How it is measured: \`npm run bench -- --only restart\` (add \`--quick\` for 100k files only, \`--files N\` for one data set,
\`--profile DIR\` for a CPU and heap profile of every namenode start). The bench writes the metadata log itself, as the
namenode's group commit would (create, chunk, complete per file; 512 entries a message), and the snapshot the namenode
would have taken with its default \`snapshotEveryEntries\` (100,000): the longest tail it leaves, ~100k entries. What is
timed is a real \`runNamenode()\` in its own process, from the call until it serves: newest snapshot from the Object Store,
log tail, epoch entry, subscriptions. Heap is \`heapUsed + arrayBuffers\` after forced collections (the hash indexes and
the replica slab are typed arrays, outside the JS heap); "with replicas" is after three stand-in datanodes sent full
reports of every chunk. Per file and per chunk are solved from two data sets with the same chunks and different files.

Before this work (commit 30174b2, measured with the same bench): 100k files restarted in 1.2–1.8 s (snapshot 0.7–1.1 s),
1M files in 13.0 s (snapshot 12.3 s), and a namenode with 1M files could not take the three full reports (it stopped
answering heartbeats for 10–50 s; datanodes were declared dead). Heap per chunk was 346 bytes in the namespace and 811
with three replicas; a file with one chunk took 928 / 1,393 bytes.

**Time, 1M files (profile of one start, 4.5 s with the profiler on):**

| where | ms | what it is |
|---|---:|---|
| snapshot: hash index inserts | ~1,100 | 3 keys per file (path, file id, chunk id): hashing, and one cache miss per insert into 16 MiB tables |
| snapshot: garbage collection | ~1,000 | 7 long-lived objects per file (file, chunk array + its store, chunk, 3 strings), each copied out of the young generation |
| snapshot: parsing the parts | ~700 | reading fields, making the id (hex) and path (UTF-8) strings |
| snapshot: Object Store read + SHA-256 | ~600 | 93 MiB through the NATS client (its parser and buffer copies), the store's digest and ours (native) |
| log tail, 100k entries | ~400–600 | msgpack ~110, zod validation ~110, NATS delivery ~150, applying ~170 |

Before, the same snapshot took 12 s: each file went through msgpack tuples, checks, object literals and three \`Map.set\`s
with string keys (~1 µs each at a million keys: V8 re-reads the key strings on every probe and rehash), and the Object Store
hashed the object in JavaScript (~250 ms per 100k files).

**Memory:** a file with one chunk and three replicas is ~540 bytes, of which ~210 are the chunk (namespace ~150, registry ~60).

| part | bytes | notes |
|---|---:|---|
| file record | ~120 | 12 fields; times as whole seconds + rest (small integers kept inline, not 16-byte heap numbers) |
| file id, path, chunk id strings | ~48 + ~40 + ~48 | own flat copies: a string decoded by msgpackr is a slice of the whole message's text, and keeping it kept ~200 bytes |
| chunk array (one chunk) | ~56 | sized exactly (grown index by index it reserved 17 slots: 152 bytes) |
| chunk record | ~72 | 6 fields; CRC32 packed into an int32 (the \`crc32:xxxxxxxx\` string was 32 more bytes), formatted on read |
| hash indexes (path, file id, chunk id) | ~16 each | hash + row number in one Int32Array, load ≤ 1/2; a Map entry was 28–56 bytes |
| replica locations (3 copies) | ~60 | index ~16 + id slot ~8 + 32-byte slab of (node, version, flags); was a Map entry, an array and 3 objects (~460) |
| directory entry | ~20 | a Set of child records (no string hashing) |

Wall times on this machine move with whatever else runs on its 2 cores (the same 1M-file start took 3.6 s with the machine
quiet and 8 s with two test suites running); the start's CPU time (~5 s at 1M, counting the collector's helper threads)
moves less.

What is left, and why: a file is still ~7 heap objects (GC time at restart grows with them). A tick of the replication
watchdog still scans every chunk (~0.4 s a tick at 1M chunks; healthy chunks no longer allocate anything, and safe mode
no longer builds a view per chunk: it built a million objects a tick and starved the reports that end safe mode). Taking
in the three full reports of 1M chunks takes 5–15 s (msgpack and zod validation of each 10,000-chunk page is ~2.5 µs per
chunk); if they are not all in when \`safeModeMaxMs\` (30 s) runs out, the watchdog starts on the unreported chunks and logs
and publishes each one as missing on its own (a million lines), so the bench holds safe mode until every chunk is reported.`;
