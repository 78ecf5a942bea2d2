/** The CLI's progress bar text and its silence off a terminal (cli/progress.ts). */
import test from "ava";
import { formatEta, progressLine, transferProgress } from "../../cli/progress.js";
import { setQuiet } from "../../cli/output.js";

const MiB = 1024 * 1024;

test("with a known total the bar shows percent, bytes, MiB/s and the time left", (t) => {
  const line = progressLine({ label: "put /a", doneBytes: 50 * MiB, totalBytes: 200 * MiB, elapsedMs: 2000, barWidth: 20 });
  t.is(line, "put /a [=====---------------]  25% | 50.0 MiB / 200.0 MiB | 25.0 MiB/s | ETA 6s");
  const done = progressLine({ label: "get /a", doneBytes: 200 * MiB, totalBytes: 200 * MiB, elapsedMs: 1000, barWidth: 10 });
  t.is(done, "get /a [==========] 100% | 200.0 MiB / 200.0 MiB | 200 MiB/s | ETA 0s");
});

test("without a total (a pipe on stdin) it shows bytes and MiB/s only; before any time has passed, no rate", (t) => {
  t.is(progressLine({ label: "put /s", doneBytes: 3 * MiB, elapsedMs: 1500 }), "put /s 3.0 MiB | 2.0 MiB/s");
  t.is(progressLine({ label: "put /s", doneBytes: 0, totalBytes: 10, elapsedMs: 0, barWidth: 4 }), "put /s [----]   0% | 0 B / 10 B | -- MiB/s | ETA --");
});

test("the time left reads as seconds, minutes or hours", (t) => {
  t.deepEqual([formatEta(0), formatEta(42.4), formatEta(185), formatEta(3720), formatEta(Infinity), formatEta(-1)], ["0s", "42s", "3m05s", "1h02m", "--", "--"]);
});

test("off a terminal (and under --quiet) a transfer draws nothing", async (t) => {
  const original = process.stderr.write.bind(process.stderr);
  let written = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    for (const quiet of [false, true]) {
      setQuiet(quiet);
      const p = await transferProgress("put /a", 10);
      t.is(p.onProgress, undefined, "the client is not asked for progress");
      p.stop();
    }
  } finally {
    process.stderr.write = original;
    setQuiet(false);
  }
  t.false(process.stderr.isTTY === true, "the test runs without a terminal");
  t.is(written, "");
});
