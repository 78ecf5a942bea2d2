/**
 * Times of append leases (docs/append.md). The namespace knows who holds the
 * lease of a chunk at which epoch (logged); this table knows until when, from
 * the injected clock (never logged: after a restart every replayed lease counts
 * from the restart). A chunk in this table is `leased` in the chunk machine;
 * it leaves it on EXPIRE (tick), REVOKE (sealed or superseded) or DELETE. PURE.
 */
import { nextChunkState, type ChunkEvent } from "./chunk-machine.js";
import type { TransitionListener } from "./allocations.js";

export interface LeaseTimes {
  readonly chunkId: string;
  readonly fileId: string;
  readonly epoch: number;
  readonly primary: string;
  expiresAtMs: number;
}

/** Why a lease left the table. */
export type LeaseEnd = "expired" | "sealed" | "superseded" | "deleted";

export class AppendLeases {
  private readonly byChunk = new Map<string, LeaseTimes>();

  constructor(
    private readonly leaseMs: number,
    private readonly onTransition: TransitionListener = () => undefined,
  ) {}

  get size(): number {
    return this.byChunk.size;
  }

  /** The lease of a chunk while it is in the table (it may have run out since the last tick: see `live`). */
  get(chunkId: string): LeaseTimes | undefined {
    return this.byChunk.get(chunkId);
  }

  /** True while the chunk is `leased` (until the tick that expires it). */
  has(chunkId: string): boolean {
    return this.byChunk.has(chunkId);
  }

  /** The lease of a chunk if it has not run out at `nowMs`. */
  live(chunkId: string, nowMs: number): LeaseTimes | undefined {
    const l = this.byChunk.get(chunkId);
    return l && l.expiresAtMs > nowMs ? l : undefined;
  }

  /** Milliseconds the chunk's lease still runs at `nowMs` (0 when none or run out). */
  expiresInMs(chunkId: string, nowMs: number): number {
    const l = this.byChunk.get(chunkId);
    return l ? Math.max(0, l.expiresAtMs - nowMs) : 0;
  }

  /** A lease was granted (or replayed): it runs `leaseMs` from now. A lease it replaces is revoked. */
  grant(l: Omit<LeaseTimes, "expiresAtMs">, nowMs: number): LeaseTimes | undefined {
    const previous = this.byChunk.get(l.chunkId);
    if (previous) this.end(l.chunkId, "REVOKE");
    this.step(l.chunkId, "committed", "GRANT");
    this.byChunk.set(l.chunkId, { ...l, expiresAtMs: nowMs + this.leaseMs });
    return previous;
  }

  /**
   * The holder of lease `epoch` committed: the lease runs `leaseMs` from now. A lease
   * that ran out but was not superseded (the namespace still names it) comes back.
   */
  renew(l: Omit<LeaseTimes, "expiresAtMs">, nowMs: number): void {
    const cur = this.byChunk.get(l.chunkId);
    if (cur && cur.epoch === l.epoch) {
      this.step(l.chunkId, "leased", "RENEW");
      cur.expiresAtMs = nowMs + this.leaseMs;
      return;
    }
    this.grant(l, nowMs);
  }

  /** Ends a chunk's lease now (sealed, superseded or deleted). Returns it, if there was one. */
  revoke(chunkId: string, why: Exclude<LeaseEnd, "expired">): LeaseTimes | undefined {
    return this.end(chunkId, why === "deleted" ? "DELETE" : "REVOKE");
  }

  /** Leases of one file (a deleted file's leases end with it). O(leases). */
  ofFile(fileId: string): LeaseTimes[] {
    const out: LeaseTimes[] = [];
    for (const l of this.byChunk.values()) if (l.fileId === fileId) out.push(l);
    return out;
  }

  /** Leases run out at `nowMs`: removed (`leased` → `committed`) and returned. */
  takeExpired(nowMs: number): LeaseTimes[] {
    const out: LeaseTimes[] = [];
    for (const l of this.byChunk.values()) if (l.expiresAtMs <= nowMs) out.push(l);
    for (const l of out) this.end(l.chunkId, "EXPIRE");
    return out;
  }

  private end(chunkId: string, event: "EXPIRE" | "REVOKE" | "DELETE"): LeaseTimes | undefined {
    const l = this.byChunk.get(chunkId);
    if (!l) return undefined;
    this.byChunk.delete(chunkId);
    this.step(chunkId, "leased", event);
    return l;
  }

  private step(chunkId: string, from: "committed" | "leased", type: ChunkEvent["type"]): void {
    const to = nextChunkState(from, { type } as ChunkEvent);
    this.onTransition(chunkId, from, to, type);
  }
}
