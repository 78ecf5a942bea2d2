/**
 * Per-chunk readers-writer locks. An in-place append rewrites a chunk's trailer (and may cut an
 * uncommitted tail); readers (ranged reads, the scrubber, a repair source) and deletes must never
 * see a half-rewritten file, or they would take a good replica for a corrupt one. Reads share the
 * lock; appends and deletes hold it alone. Waiters are served in arrival order (a run of readers
 * together), so a steady stream of reads cannot starve appends, nor appends reads.
 */
import { assert } from "../lifecycle.js";

interface Waiter {
  exclusive: boolean;
  wake: () => void;
}

interface LockState {
  readers: number;
  writer: boolean;
  waiters: Waiter[];
}

export class ChunkLocks {
  private readonly locks = new Map<string, LockState>();

  /** Runs `fn` while holding `chunkId`'s lock shared with other readers. */
  shared<T>(chunkId: string, fn: () => Promise<T>): Promise<T> {
    return this.run(chunkId, false, fn);
  }

  /** Runs `fn` while holding `chunkId`'s lock alone. */
  exclusive<T>(chunkId: string, fn: () => Promise<T>): Promise<T> {
    return this.run(chunkId, true, fn);
  }

  /** Chunks with a holder or a waiter (for tests and leak checks). */
  get size(): number {
    return this.locks.size;
  }

  private async run<T>(chunkId: string, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.acquire(chunkId, exclusive);
    try {
      return await fn();
    } finally {
      this.release(chunkId, exclusive);
    }
  }

  private acquire(chunkId: string, exclusive: boolean): Promise<void> {
    let s = this.locks.get(chunkId);
    if (!s) this.locks.set(chunkId, (s = { readers: 0, writer: false, waiters: [] }));
    const free = exclusive ? !s.writer && s.readers === 0 : !s.writer;
    if (free && s.waiters.length === 0) {
      if (exclusive) s.writer = true;
      else s.readers++;
      return Promise.resolve();
    }
    return new Promise((resolve) => s.waiters.push({ exclusive, wake: resolve }));
  }

  private release(chunkId: string, exclusive: boolean): void {
    const s = this.locks.get(chunkId);
    assert(s !== undefined, `lock of chunk ${chunkId} released but not held`);
    if (exclusive) {
      assert(s.writer, `exclusive lock of chunk ${chunkId} released but not held`);
      s.writer = false;
    } else {
      assert(s.readers > 0, `shared lock of chunk ${chunkId} released but not held`);
      s.readers--;
    }
    // Grant in arrival order: one writer once the lock is free, or every reader up to the next writer.
    while (s.waiters.length > 0 && !s.writer) {
      const next = s.waiters[0];
      if (next.exclusive) {
        if (s.readers > 0) break;
        s.waiters.shift();
        s.writer = true;
        next.wake();
        break;
      }
      s.waiters.shift();
      s.readers++;
      next.wake();
    }
    if (!s.writer && s.readers === 0 && s.waiters.length === 0) this.locks.delete(chunkId);
  }
}
