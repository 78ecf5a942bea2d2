/**
 * Hash indexes for the namenode's big tables (files by path and by id, chunks by id, replica
 * locations by chunk id). PURE: no I/O.
 *
 * Why not a Map: at a million string keys V8's Map costs ~1 µs per insert and ~0.3 µs per lookup
 * (measured on this machine): every probe and every rehash on growth reads the key strings again,
 * which are scattered over the heap (a cache miss each), and each entry takes 28-56 bytes. Here
 * each key's 32-bit hash sits next to its row number in two Int32Arrays, so probes and growth touch
 * only those; the key string is read once, to confirm a hash match. Rows carry their own keys, so
 * the index stores no strings: ~16-24 bytes per entry at the load factors it keeps (≤ 1/2).
 */

/**
 * Seed of every hash in this process. Paths are chosen by clients: with a hash anyone can compute,
 * a client could create files whose paths all collide and make every lookup walk them all. Random
 * per process, like V8's own string hash seed; nothing observable depends on it (rows keep their
 * insertion order), only where entries sit in the tables.
 */
const HASH_SEED = globalThis.crypto.getRandomValues(new Int32Array(1))[0];

/** FNV-1a over the UTF-16 code units of `s`, from a per-process seed, finished with murmur3's mix (as an int32). */
export function hashKey(s: string): number {
  let h = 0x811c9dc5 ^ HASH_SEED;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const INITIAL_CAPACITY = 16;

/** Row numbers by key, open addressing with linear probing; the rows (and so the keys) live with the caller. */
export class KeyIndex {
  /** Two ints per place, side by side (one cache line for both): the key's hash, and its row + 1 (0 = empty). */
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  /** `keyOf(row)` is the key of a row present in the index. */
  constructor(private readonly keyOf: (row: number) => string) {
    this.slots = new Int32Array(2 * INITIAL_CAPACITY);
    this.mask = INITIAL_CAPACITY - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The row with this key (`h` = hashKey(key)), or -1. */
  find(key: string, h: number): number {
    const { slots, mask } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const r = slots[2 * i + 1];
      if (r === 0) return -1;
      if (slots[2 * i] === h && this.keyOf(r - 1) === key) return r - 1;
    }
  }

  /** Makes room for `n` entries in all (no growing while they are added). */
  reserve(n: number): void {
    while (n * 2 > this.mask + 1) this.grow();
  }

  /** Indexes `row` under hash `h`; the caller made sure its key is not in the index yet. */
  add(h: number, row: number): void {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const { slots, mask } = this;
    let i = h & mask;
    while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
    slots[2 * i] = h;
    slots[2 * i + 1] = row + 1;
    this.count++;
  }

  /** Drops `row`, indexed under hash `h` (found by row number: its key may have changed since). */
  remove(h: number, row: number): boolean {
    const { slots, mask } = this;
    let i = h & mask;
    for (;;) {
      const r = slots[2 * i + 1];
      if (r === 0) return false;
      if (r === row + 1) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: move later entries of the probe run into the gap when their home allows.
    for (let j = (i + 1) & mask; slots[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = slots[2 * j] & mask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (between) continue;
      slots[2 * i] = slots[2 * j];
      slots[2 * i + 1] = slots[2 * j + 1];
      i = j;
    }
    slots[2 * i + 1] = 0;
    this.count--;
    return true;
  }

  /** Renumbers rows after the caller compacted them: row r becomes `to[r]`. */
  renumber(to: Int32Array): void {
    const { slots } = this;
    for (let i = 1; i < slots.length; i += 2) if (slots[i] !== 0) slots[i] = to[slots[i] - 1] + 1;
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    this.slots = new Int32Array(2 * capacity);
    this.mask = capacity - 1;
    const { slots, mask } = this;
    for (let k = 0; k < old.length; k += 2) {
      if (old[k + 1] === 0) continue;
      let i = old[k] & mask;
      while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
      slots[2 * i] = old[k];
      slots[2 * i + 1] = old[k + 1];
    }
  }
}

/**
 * Rows in insertion order with one or more unique string keys each (a file: path and id), every
 * key indexed. Deleting leaves a hole; holes are squeezed out on a later add once they outnumber
 * the rows, so iterating stays in insertion order and O(rows). An add during an iteration may
 * squeeze: iterators then finish over the rows as they were (the namenode never adds while it
 * iterates: its iterations are synchronous).
 */
export class IndexedTable<T> {
  private rows: (T | undefined)[] = [];
  private holes = 0;
  private readonly indexes: KeyIndex[];
  /** Hashes of the row being added, one per key (reused: no allocation per add). */
  private readonly scratch: Int32Array;

  constructor(private readonly keys: readonly ((row: T) => string)[]) {
    this.indexes = keys.map((keyOf) => new KeyIndex((r) => keyOf(this.rows[r]!)));
    this.scratch = new Int32Array(keys.length);
  }

  get size(): number {
    return this.rows.length - this.holes;
  }

  /** Makes room for `n` rows in all (a snapshot knows how many it holds). */
  reserve(n: number): void {
    for (const index of this.indexes) index.reserve(n);
  }

  /** The row whose key number `k` is `key`. */
  get(k: number, key: string): T | undefined {
    const r = this.indexes[k].find(key, hashKey(key));
    return r < 0 ? undefined : this.rows[r];
  }

  has(k: number, key: string): boolean {
    return this.indexes[k].find(key, hashKey(key)) >= 0;
  }

  /** Adds a row; returns the number of a key already taken (and adds nothing), or -1. */
  add(row: T): number {
    if (this.holes > 1024 && this.holes > this.rows.length - this.holes) this.squeeze();
    const hashes = this.scratch;
    for (let k = 0; k < this.keys.length; k++) {
      const key = this.keys[k](row);
      const h = hashKey(key);
      if (this.indexes[k].find(key, h) >= 0) return k;
      hashes[k] = h;
    }
    const r = this.rows.length;
    this.rows.push(row);
    for (let k = 0; k < this.keys.length; k++) this.indexes[k].add(hashes[k], r);
    return -1;
  }

  /** Removes the row whose key number `k` is `key`; returns it. */
  delete(k: number, key: string): T | undefined {
    const r = this.indexes[k].find(key, hashKey(key));
    if (r < 0) return undefined;
    const row = this.rows[r]!;
    for (let j = 0; j < this.keys.length; j++) this.indexes[j].remove(j === k ? hashKey(key) : hashKey(this.keys[j](row)), r);
    this.rows[r] = undefined;
    this.holes++;
    return row;
  }

  /** Puts `next` in the place of the row with the same key number 0 (all keys must be the same). */
  replace(next: T): void {
    const key = this.keys[0](next);
    const r = this.indexes[0].find(key, hashKey(key));
    if (r < 0) throw new Error(`invariant broken: no row with key ${key} to replace`);
    this.rows[r] = next;
  }

  /**
   * Changes key number `k` of the row keyed `oldKey` (a rename): `change` sets the new key on the
   * row, which must not be taken. Returns the row.
   */
  rekey(k: number, oldKey: string, change: (row: T) => void): T {
    const h = hashKey(oldKey);
    const r = this.indexes[k].find(oldKey, h);
    if (r < 0) throw new Error(`invariant broken: no row with key ${oldKey} to re-key`);
    const row = this.rows[r]!;
    this.indexes[k].remove(h, r);
    change(row);
    this.indexes[k].add(hashKey(this.keys[k](row)), r);
    return row;
  }

  /** Rows in insertion order. */
  *values(): IterableIterator<T> {
    const rows = this.rows;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (row !== undefined) yield row;
    }
  }

  private squeeze(): void {
    const to = new Int32Array(this.rows.length);
    const kept: T[] = [];
    for (let r = 0; r < this.rows.length; r++) {
      const row = this.rows[r];
      to[r] = row === undefined ? -1 : kept.length;
      if (row !== undefined) kept.push(row);
    }
    this.rows = kept;
    this.holes = 0;
    for (const index of this.indexes) index.renumber(to);
  }
}
