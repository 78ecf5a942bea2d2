/**
 * The chunk lifecycle as a pure XState v5 machine. The namenode keeps only the
 * state value per chunk (no running actor per chunk: millions of chunks) and
 * computes each step with xstate's pure `transition`.
 *
 *   allocated → staging → replicating → committed → deleting → gone
 *   allocated | staging | replicating --ABANDON/FAIL--> failed --CLEANUP--> gone
 *   committed --GRANT--> leased --RENEW--> leased --EXPIRE/REVOKE--> committed   (appends, docs/append.md)
 *   leased --DELETE--> deleting
 */
import { setup, transition } from "xstate";

export type ChunkEvent =
  /** Staged path: the chunk was put into the staging bucket. */
  | { type: "STAGE" }
  /** A replica reported the chunk stored (direct path, or ingest after staging). */
  | { type: "REPLICA_STORED" }
  /** The writer committed the chunk (logged). */
  | { type: "COMMIT" }
  /** The writer gave the chunk up (re-allocation, abandon, lease expiry). */
  | { type: "ABANDON" }
  /** The write failed (no replica confirmed). */
  | { type: "FAIL" }
  /** The chunk's file was deleted or the chunk was superseded. */
  | { type: "DELETE" }
  /** Every replica of a deleting chunk is gone. */
  | { type: "PURGED" }
  /** A failed chunk's leftovers were cleaned up (or there were none). */
  | { type: "CLEANUP" }
  /** A primary replica got an append lease on the chunk (the last chunk of its file). */
  | { type: "GRANT" }
  /** The lease holder's grant or commit extended the lease. */
  | { type: "RENEW" }
  /** The lease ran out without a renewal. */
  | { type: "EXPIRE" }
  /** The lease was ended early: new chunks sealed the chunk, or a new lease superseded it. */
  | { type: "REVOKE" };

export type ChunkState = "allocated" | "staging" | "replicating" | "committed" | "leased" | "deleting" | "failed" | "gone";

export const chunkMachine = setup({
  types: { events: {} as ChunkEvent },
}).createMachine({
  id: "chunk",
  initial: "allocated",
  states: {
    allocated: {
      on: { STAGE: "staging", REPLICA_STORED: "replicating", COMMIT: "committed", ABANDON: "failed", FAIL: "failed" },
    },
    staging: {
      on: { REPLICA_STORED: "replicating", COMMIT: "committed", ABANDON: "failed", FAIL: "failed" },
    },
    replicating: {
      on: { REPLICA_STORED: "replicating", COMMIT: "committed", ABANDON: "failed", FAIL: "failed" },
    },
    committed: {
      // Late deltas for a committed chunk are normal; they change nothing.
      on: { REPLICA_STORED: "committed", DELETE: "deleting", GRANT: "leased" },
    },
    // Appends in place go to the last chunk of a file through its primary; while leased the watchdog
    // neither repairs the chunk nor deletes its stale copies (a copy would fall behind the appends).
    leased: {
      on: { REPLICA_STORED: "leased", RENEW: "leased", EXPIRE: "committed", REVOKE: "committed", DELETE: "deleting" },
    },
    deleting: {
      on: { PURGED: "gone", DELETE: "deleting" },
    },
    failed: {
      on: { CLEANUP: "gone", ABANDON: "failed", FAIL: "failed" },
    },
    gone: { type: "final" },
  },
});

/** Thrown for an event a state does not accept: a bug in the caller, not bad input. */
export class IllegalChunkTransition extends Error {
  constructor(
    readonly from: ChunkState,
    readonly event: ChunkEvent["type"],
  ) {
    super(`chunk in state ${from} cannot take event ${event}`);
    this.name = "IllegalChunkTransition";
  }
}

/** The state a chunk in `state` moves to on `event`; throws IllegalChunkTransition when not allowed. */
export function nextChunkState(state: ChunkState, event: ChunkEvent): ChunkState {
  const snapshot = chunkMachine.resolveState({ value: state, context: {} });
  if (!snapshot.can(event)) throw new IllegalChunkTransition(state, event.type);
  const [next] = transition(chunkMachine, snapshot, event);
  return next.value as ChunkState;
}

/** The state of a freshly allocated chunk. */
export const INITIAL_CHUNK_STATE: ChunkState = "allocated";
