/**
 * Chunks handed out by `appendAllocate` and not attached yet (`appendChunks`).
 * Like write allocations they are not logged: a restart forgets them and their
 * replicas become orphans unless attached within the orphan grace. An allocation
 * lives `ttlMs` after the last `appendAllocate` for its file (a large append
 * allocates its chunks one after another and attaches them all at the end). PURE.
 */
import { WoodsError } from "../../messages/index.js";
import { nextChunkState, type ChunkEvent, type ChunkState } from "./chunk-machine.js";
import type { TransitionListener } from "./allocations.js";

/** Most append allocations open at once: bounds memory against clients that allocate and never attach. */
export const APPEND_ALLOCATIONS_MAX = 65_536;

export interface AppendAllocation {
  readonly chunkId: string;
  readonly fileId: string;
  readonly version: number;
  readonly replicas: readonly string[];
  state: ChunkState;
}

export class AppendAllocations {
  private readonly byChunk = new Map<string, AppendAllocation>();
  /** fileId → its open allocations and when they expire. */
  private readonly byFile = new Map<string, { chunks: Set<string>; expiresAtMs: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly onTransition: TransitionListener = () => undefined,
    private readonly max = APPEND_ALLOCATIONS_MAX,
  ) {}

  get size(): number {
    return this.byChunk.size;
  }

  get(chunkId: string): AppendAllocation | undefined {
    return this.byChunk.get(chunkId);
  }

  /** Records a new allocation and extends every open allocation of its file. UNAVAILABLE when the table is full. */
  add(a: Omit<AppendAllocation, "state">, nowMs: number): AppendAllocation {
    if (this.byChunk.size >= this.max) {
      throw new WoodsError("UNAVAILABLE", `${this.byChunk.size} append chunks are allocated and not attached yet; retry later`);
    }
    const rec: AppendAllocation = { ...a, state: "allocated" };
    this.byChunk.set(a.chunkId, rec);
    let perFile = this.byFile.get(a.fileId);
    if (!perFile) this.byFile.set(a.fileId, (perFile = { chunks: new Set(), expiresAtMs: 0 }));
    perFile.chunks.add(a.chunkId);
    perFile.expiresAtMs = nowMs + this.ttlMs;
    return rec;
  }

  /** A replica reported the chunk stored. */
  replicaStored(chunkId: string): void {
    const a = this.byChunk.get(chunkId);
    if (a) this.step(a, "REPLICA_STORED");
  }

  /** The chunk was attached to its file: it leaves this table for the namespace. */
  attached(chunkId: string): void {
    const a = this.byChunk.get(chunkId);
    if (!a) return;
    this.step(a, "COMMIT");
    this.forget(a);
  }

  /** Ends every open allocation of a file (deleted). */
  dropFile(fileId: string): void {
    const perFile = this.byFile.get(fileId);
    if (!perFile) return;
    for (const chunkId of [...perFile.chunks]) this.abandon(chunkId);
  }

  /** Ends allocations whose file saw no `appendAllocate` for `ttlMs`. Returns the chunk ids dropped. */
  takeExpired(nowMs: number): string[] {
    const out: string[] = [];
    for (const [, perFile] of this.byFile) if (perFile.expiresAtMs <= nowMs) out.push(...perFile.chunks);
    for (const id of out) this.abandon(id);
    return out;
  }

  private abandon(chunkId: string): void {
    const a = this.byChunk.get(chunkId);
    if (!a) return;
    this.step(a, "ABANDON");
    // Leftover replicas are cleaned up as orphans by the registry.
    this.step(a, "CLEANUP");
    this.forget(a);
  }

  private step(a: AppendAllocation, type: ChunkEvent["type"]): void {
    const from = a.state;
    a.state = nextChunkState(from, { type } as ChunkEvent);
    if (a.state !== from) this.onTransition(a.chunkId, from, a.state, type);
  }

  private forget(a: AppendAllocation): void {
    this.byChunk.delete(a.chunkId);
    const perFile = this.byFile.get(a.fileId);
    perFile?.chunks.delete(a.chunkId);
    if (perFile?.chunks.size === 0) this.byFile.delete(a.fileId);
  }
}
