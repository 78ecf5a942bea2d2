/**
 * Chunks handed out by `allocate` and not committed yet. Not logged: a chunk
 * enters the log at commit, so after a restart these are simply forgotten
 * (their replicas become orphans, deleted after the grace period). PURE.
 */
import { nextChunkState, type ChunkEvent, type ChunkState } from "./chunk-machine.js";

export interface Allocation {
  readonly chunkId: string;
  readonly fileId: string;
  readonly index: number;
  readonly version: number;
  readonly replicas: readonly string[];
  state: ChunkState;
}

export type TransitionListener = (chunkId: string, from: ChunkState, to: ChunkState, event: ChunkEvent["type"]) => void;

export class Allocations {
  private readonly byChunk = new Map<string, Allocation>();
  /** fileId → index → chunkId of the open allocation for that index. */
  private readonly byFile = new Map<string, Map<number, string>>();
  /** datanode id → open allocations with a replica on it. */
  private readonly openByNode = new Map<string, number>();

  constructor(private readonly onTransition: TransitionListener = () => undefined) {}

  get size(): number {
    return this.byChunk.size;
  }

  get(chunkId: string): Allocation | undefined {
    return this.byChunk.get(chunkId);
  }

  /** Records a new allocation; an open allocation for the same index is abandoned (the writer retried). */
  add(a: Omit<Allocation, "state">): Allocation {
    let perFile = this.byFile.get(a.fileId);
    if (!perFile) this.byFile.set(a.fileId, (perFile = new Map()));
    const previous = perFile.get(a.index);
    if (previous !== undefined) this.end(previous, "ABANDON");
    const rec: Allocation = { ...a, state: "allocated" };
    this.byChunk.set(a.chunkId, rec);
    for (const dn of a.replicas) this.openByNode.set(dn, (this.openByNode.get(dn) ?? 0) + 1);
    perFile.set(a.index, a.chunkId);
    return rec;
  }

  /** Open allocations with a replica on `dn` (chunks being written there, not yet committed). */
  openOn(dn: string): number {
    return this.openByNode.get(dn) ?? 0;
  }

  /** A replica reported the chunk stored. */
  replicaStored(chunkId: string): void {
    const a = this.byChunk.get(chunkId);
    if (a) this.step(a, "REPLICA_STORED");
  }

  /** The chunk was committed: it leaves this table for the namespace. */
  committed(chunkId: string): void {
    const a = this.byChunk.get(chunkId);
    if (!a) return;
    this.step(a, "COMMIT");
    this.forget(a);
  }

  /** Ends every open allocation of a file (completed, abandoned or deleted). Returns what was dropped. */
  dropFile(fileId: string): Allocation[] {
    const perFile = this.byFile.get(fileId);
    if (!perFile) return [];
    const out: Allocation[] = [];
    for (const chunkId of [...perFile.values()]) {
      const a = this.byChunk.get(chunkId);
      if (a) out.push(a);
      this.end(chunkId, "ABANDON");
    }
    this.byFile.delete(fileId);
    return out;
  }

  private end(chunkId: string, event: "ABANDON" | "FAIL"): void {
    const a = this.byChunk.get(chunkId);
    if (!a) return;
    this.step(a, event);
    // Leftover replicas are cleaned up as orphans by the registry, so the chunk is gone for us.
    this.step(a, "CLEANUP");
    this.forget(a);
  }

  private step(a: Allocation, type: ChunkEvent["type"]): void {
    const from = a.state;
    a.state = nextChunkState(from, { type } as ChunkEvent);
    if (a.state !== from) this.onTransition(a.chunkId, from, a.state, type);
  }

  private forget(a: Allocation): void {
    const wasOpen = this.byChunk.delete(a.chunkId);
    for (const dn of wasOpen ? a.replicas : []) {
      const left = (this.openByNode.get(dn) ?? 1) - 1;
      if (left > 0) this.openByNode.set(dn, left);
      else this.openByNode.delete(dn);
    }
    const perFile = this.byFile.get(a.fileId);
    if (perFile?.get(a.index) === a.chunkId) perFile.delete(a.index);
    if (perFile?.size === 0) this.byFile.delete(a.fileId);
  }
}
