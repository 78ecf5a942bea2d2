/**
 * One namenode restart under measurement, run by bench/restart.ts as a child process (fork, IPC,
 * `--expose-gc`) so its heap holds nothing but the namenode. It runs the real start path
 * (`runNamenode`: newest snapshot, log tail replay, epoch entry, serving) and reports over IPC:
 *
 *   child → parent  {type:"started", restartMs, restartCpuMs, heapBefore, heapAfter, files, chunks, startup}
 *   parent → child  {type:"heap"}  → child → parent {type:"heap", heapUsed, located}
 *   parent → child  {type:"stop"}  → the child stops the namenode and exits
 */
import { runNamenode } from "../actors/namenode/index.js";
import { loadConfig } from "../config/index.js";
import { decode, encode } from "../messages/index.js";

type Msg = { type: "heap" } | { type: "stop" };

/** Heap in use, plus typed arrays' contents, after two full collections (the second one clears what the first one's finalizers freed). */
function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  // msgpackr holds on to the last buffer it decoded (module state) until it decodes another: right
  // after a start that is the snapshot's last part, or a log batch. Not the namespace's; let it go.
  decode(encode({}));
  gc();
  gc();
  // Typed arrays keep their contents outside the JS heap (the namenode's hash indexes and replica
  // slab are typed arrays): count them too, or the figure would flatter them.
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function main(): Promise<void> {
  const [natsUrl, prefix] = process.argv.slice(2);
  if (!natsUrl || !prefix || !process.send) throw new Error("usage: fork(restart-namenode.ts, [natsUrl, prefix]) with an IPC channel");
  const config = loadConfig({
    env: {},
    overrides: {
      prefix,
      nats: { url: natsUrl },
      log: { level: "warn" },
      // No snapshot of our own while we measure (a full replay would start one at the first tick).
      // The bench nats-server allows 256 MiB of memory storage; repairs never run here. Safe mode lasts
      // until every chunk is reported (by default it ends after 30 s regardless: on a busy machine the
      // three million replicas of 1M chunks can take longer, and then the watchdog would start on a
      // million "missing" chunks, which is not the state whose heap we measure).
      namenode: { snapshotEveryEntries: 0, snapshotIntervalMs: 0, repairBucketMaxBytes: 16 * 1024 * 1024, safeModeMaxMs: 600_000 },
    },
  });
  const heapBefore = heapUsed();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  // Monotonic µs, the clock of --cpu-prof samples: lets a profile be cut to the start alone.
  const windowUs = [Number(process.hrtime.bigint() / 1000n), 0];
  const nn = await runNamenode({ config });
  windowUs[1] = Number(process.hrtime.bigint() / 1000n);
  const restartMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // CPU time of the start (all threads): steadier than wall time on a shared machine.
  const restartCpuMs = (cpu.user + cpu.system) / 1000;
  const heapAfter = heapUsed();
  const ns = nn.state.ns;
  process.send({ type: "started", restartMs, restartCpuMs, windowUs, heapBefore, heapAfter, files: ns.fileCount, chunks: ns.chunkCount, startup: nn.startup });
  // The bench went away (crashed, or was stopped): do not stay behind serving.
  process.on("disconnect", () => process.exit(1));
  process.on("message", (m: Msg) => {
    if (m.type === "heap") process.send!({ type: "heap", heapUsed: heapUsed(), located: nn.state.registry.locatedChunkCount });
    else if (m.type === "stop") void nn.stop().finally(() => process.exit(0));
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
