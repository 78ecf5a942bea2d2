import test from "ava";
import { notice, setQuiet } from "../../cli/output.js";

function captureStderr(fn: () => void): string {
  const original = process.stderr.write.bind(process.stderr);
  let out = "";
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return out;
}

test.serial("notice writes one line to stderr, and nothing once quiet", (t) => {
  setQuiet(false);
  t.is(captureStderr(() => notice("stored /a: 1.0 MiB, 50.0 MiB/s")), "stored /a: 1.0 MiB, 50.0 MiB/s\n");
  setQuiet(true);
  t.is(captureStderr(() => notice("stored /a: 1.0 MiB, 50.0 MiB/s")), "");
  setQuiet(false);
});
