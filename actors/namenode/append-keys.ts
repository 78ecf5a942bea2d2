/**
 * Idempotency keys of appends (docs/append.md, "Exactly once"): key → where the
 * append landed. Part of the namespace: rebuilt by replaying `append` and
 * `appendChunks` entries and carried in snapshots. Pruned by age (`prune`),
 * which the actor calls on its tick with `namenode.appendKeyTtlMs`. PURE.
 */

/** Where one append landed in its file. */
export interface AppendedKey {
  readonly key: string;
  readonly fileId: string;
  /** File offset of the append's first byte. */
  readonly offset: number;
  readonly sizeBytes: number;
  /** When it was logged (namenode clock, from the log entry). */
  readonly atMs: number;
}

export class AppendKeys {
  /** In insertion (= log) order, so the oldest come first when pruning. */
  private readonly byKey = new Map<string, AppendedKey>();
  private readonly byFile = new Map<string, Set<string>>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): AppendedKey | undefined {
    return this.byKey.get(key);
  }

  /**
   * Stores a key. A key already present is replaced: live, a key is only logged again
   * after it was pruned (a retry past the TTL), and replay does not prune, so the log
   * may hold a key twice; the later one wins, as it did live.
   */
  add(k: AppendedKey): void {
    if (this.byKey.has(k.key)) this.remove(k.key);
    this.byKey.set(k.key, k);
    let keys = this.byFile.get(k.fileId);
    if (!keys) this.byFile.set(k.fileId, (keys = new Set()));
    keys.add(k.key);
  }

  /** Forgets every key of a file (deleted: a retry then finds the file gone). */
  dropFile(fileId: string): void {
    const keys = this.byFile.get(fileId);
    if (!keys) return;
    for (const key of keys) this.byKey.delete(key);
    this.byFile.delete(fileId);
  }

  /**
   * Forgets keys logged before `beforeMs`. Walks from the oldest and stops at the first
   * younger one: O(pruned). A clock that stepped back only delays pruning behind it.
   */
  prune(beforeMs: number): number {
    let pruned = 0;
    for (const k of this.byKey.values()) {
      if (k.atMs >= beforeMs) break;
      this.remove(k.key);
      pruned++;
    }
    return pruned;
  }

  /** Every key, oldest first (snapshots). */
  values(): IterableIterator<AppendedKey> {
    return this.byKey.values();
  }

  private remove(key: string): void {
    const k = this.byKey.get(key);
    if (!k) return;
    this.byKey.delete(key);
    const keys = this.byFile.get(k.fileId);
    keys?.delete(key);
    if (keys?.size === 0) this.byFile.delete(k.fileId);
  }
}
