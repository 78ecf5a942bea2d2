/**
 * Namenode crash points for fault tests. Inert unless the environment variable
 * `WOODS_FAULT_NAMENODE_CRASH` is set (or a spec is passed to runNamenode):
 *
 *   WOODS_FAULT_NAMENODE_CRASH=<point>[:<verb>][:<n>]
 *
 *   point  before-append  the mutation is validated and applied in memory, but its log batch is not published
 *          after-puback   the log's PubAck arrived, the client has not been answered
 *          after-reply    the answer was sent (and flushed to the server)
 *   verb   create | commit | complete | abandon | rm | appendLocate (a lease grant) | appendChunks
 *          | appendCommit | appendDropReplica   (default: any of them)
 *   n      crash on the n-th matching mutation (default 1)
 *
 * e.g. `after-puback:complete`, `before-append:commit:3`, `after-reply:2`.
 * A mutation is a client request that appends to the log; retries answered
 * without an append (already applied) and lease expiries do not count.
 * At that instant the namenode kills itself with SIGKILL. PURE: parsing and counting only.
 */

export const CRASH_POINTS = ["before-append", "after-puback", "after-reply"] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Verbs whose requests mutate the namespace (append to the log). */
export const MUTATION_VERBS = ["create", "commit", "complete", "abandon", "rm", "appendLocate", "appendChunks", "appendCommit", "appendDropReplica", "rename"] as const;
export type MutationVerb = (typeof MUTATION_VERBS)[number];

export interface CrashSpec {
  point: CrashPoint;
  /** Only mutations of this verb count; undefined = every mutation. */
  verb?: MutationVerb;
  /** Crash on the n-th matching mutation (1-based). */
  nth: number;
}

/** Parses a crash spec; undefined for an empty or absent value. Throws on a malformed one (a typo must not silently disarm a test). */
export function parseCrashSpec(text: string | undefined): CrashSpec | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const parts = text.trim().split(":");
  const point = parts.shift() as CrashPoint;
  if (!CRASH_POINTS.includes(point)) {
    throw new Error(`WOODS_FAULT_NAMENODE_CRASH: unknown crash point ${JSON.stringify(point)} (want ${CRASH_POINTS.join(" | ")})`);
  }
  const spec: CrashSpec = { point, nth: 1 };
  for (const p of parts) {
    if (/^[1-9][0-9]{0,8}$/.test(p)) spec.nth = Number(p);
    else if ((MUTATION_VERBS as readonly string[]).includes(p) && spec.verb === undefined) spec.verb = p as MutationVerb;
    else throw new Error(`WOODS_FAULT_NAMENODE_CRASH: ${JSON.stringify(p)} is neither a mutation verb (${MUTATION_VERBS.join(", ")}) nor a count`);
  }
  return spec;
}

/** Counts matching mutations and says when the armed one comes. */
export class CrashTrigger {
  private seen = 0;

  constructor(readonly spec: CrashSpec) {}

  /** Records one mutation of `verb`; returns the crash point when this is the one to crash on. */
  hit(verb: string): CrashPoint | undefined {
    if (this.spec.verb !== undefined && this.spec.verb !== verb) return undefined;
    this.seen++;
    return this.seen === this.spec.nth ? this.spec.point : undefined;
  }
}

/** True for verbs that may append to the log. */
export function isMutationVerb(verb: string): verb is MutationVerb {
  return (MUTATION_VERBS as readonly string[]).includes(verb);
}
