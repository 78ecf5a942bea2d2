import test from "ava";
import { nextChunkState, IllegalChunkTransition, type ChunkEvent, type ChunkState } from "../../actors/namenode/chunk-machine.js";

const ev = (type: ChunkEvent["type"]) => ({ type }) as ChunkEvent;

test("a chunk goes allocated → staging → replicating → committed → deleting → gone", (t) => {
  const path: [ChunkEvent["type"], ChunkState][] = [
    ["STAGE", "staging"],
    ["REPLICA_STORED", "replicating"],
    ["COMMIT", "committed"],
    ["DELETE", "deleting"],
    ["PURGED", "gone"],
  ];
  let s: ChunkState = "allocated";
  for (const [e, expected] of path) {
    s = nextChunkState(s, ev(e));
    t.is(s, expected);
  }
});

test("an abandoned or failed chunk goes to failed, then gone", (t) => {
  for (const from of ["allocated", "staging", "replicating"] as ChunkState[]) {
    t.is(nextChunkState(from, ev("ABANDON")), "failed");
    t.is(nextChunkState(from, ev("FAIL")), "failed");
  }
  t.is(nextChunkState("failed", ev("CLEANUP")), "gone");
});

test("an illegal transition throws and names the state and the event", (t) => {
  const err = t.throws(() => nextChunkState("committed", ev("ABANDON")), { instanceOf: IllegalChunkTransition });
  t.is(err?.from, "committed");
  t.is(err?.event, "ABANDON");
  t.throws(() => nextChunkState("gone", ev("COMMIT")), { instanceOf: IllegalChunkTransition });
  t.throws(() => nextChunkState("deleting", ev("COMMIT")), { instanceOf: IllegalChunkTransition });
  t.throws(() => nextChunkState("failed", ev("COMMIT")), { instanceOf: IllegalChunkTransition });
});
