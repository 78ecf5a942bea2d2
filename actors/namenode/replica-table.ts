/**
 * Where the copies of each chunk are: for every chunk id, up to `INLINE_REPLICAS` (node, version,
 * corrupt) copies packed into one shared Uint32Array, so a chunk costs an index entry and 32 bytes
 * of slab instead of a Map entry, an array and an object per copy (~350 bytes with three copies).
 * Nodes are small integers (the registry interns them). Copies beyond the inline ones, and versions
 * that do not fit 32 bits, go to a side table. Each copy also carries a "seen" mark that a full
 * report sets, so the copies it did not list can be dropped at its end without a set of the ids it
 * listed (a million-entry Set per reporting node took most of a full report's time). PURE: no I/O.
 */
import { ownString } from "./own-string.js";
import { KeyIndex, hashKey } from "./key-index.js";

/** Copies of one chunk kept in the slab; replication 3 plus one being repaired or trimmed fits. */
export const INLINE_REPLICAS = 4;
/** Two words per copy: (node + 1) * 4 + seen * 2 + corrupt (0 = empty), and the version. */
const SLOT_WORDS = 2 * INLINE_REPLICAS;
const CORRUPT_BIT = 1;
const SEEN_BIT = 2;
const INITIAL_SLOTS = 1024;
const U32_MAX = 0xffff_ffff;

/** `countCopies` adds this for each corrupt copy (good ones count 1). */
export const COUNT_CORRUPT = 1 << 16;

/** One copy of a chunk: the node's index, the version it holds, and whether the node found it corrupt. */
export interface ReplicaEntry {
  node: number;
  version: number;
  corrupt: boolean;
}

/** A copy kept beside the slab. */
interface ExtraCopy extends ReplicaEntry {
  seen: boolean;
}

const nodeOf = (word: number): number => Math.floor(word / 4) - 1;

export class ReplicaTable {
  /** Chunk id of each slot in use (undefined: free); slots are found by id through `slots`. */
  private readonly ids: (string | undefined)[] = [];
  /** chunk id → slot in `words` and `ids` (a hash index, not a Map: see key-index.ts). */
  private readonly slots = new KeyIndex((slot) => this.ids[slot]!);
  private words = new Uint32Array(INITIAL_SLOTS * SLOT_WORDS);
  /** Slots handed out so far (free ones are reused first). */
  private highWater = 0;
  private readonly free: number[] = [];
  /** slot → copies that did not fit inline (rare: more than INLINE_REPLICAS copies, or a huge version). */
  private readonly overflow = new Map<number, ExtraCopy[]>();

  /**
   * `intern` returns the string to key a new chunk by (e.g. the namespace's copy of the id), so a
   * chunk id is held once per process; undefined, or no function, keeps an own flat copy.
   */
  constructor(private readonly intern?: (chunkId: string) => string | undefined) {}

  /** Chunks with at least one copy. */
  get size(): number {
    return this.slots.size;
  }

  has(chunkId: string): boolean {
    return this.slotOf(chunkId) >= 0;
  }

  /** Chunk ids with at least one copy (removing copies while iterating is safe). */
  *chunkIds(): IterableIterator<string> {
    const ids = this.ids;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id !== undefined) yield id;
    }
  }

  /** The copies of a chunk, in the order they were added (a fresh array of fresh entries). */
  list(chunkId: string): ReplicaEntry[] {
    const out: ReplicaEntry[] = [];
    const slot = this.slotOf(chunkId);
    if (slot < 0) return out;
    const w = this.words;
    for (let i = slot * SLOT_WORDS, end = i + SLOT_WORDS; i < end && w[i] !== 0; i += 2) {
      out.push({ node: nodeOf(w[i]), version: w[i + 1], corrupt: (w[i] & CORRUPT_BIT) !== 0 });
    }
    const more = this.overflow.get(slot);
    if (more) for (const e of more) out.push({ node: e.node, version: e.version, corrupt: e.corrupt });
    return out;
  }

  /**
   * Copies of `version` of the chunk, without building a list (hot loops): good ones plus
   * COUNT_CORRUPT times corrupt ones, on nodes `counts` accepts (all when omitted).
   */
  countCopies(chunkId: string, version: number, counts?: (node: number) => boolean): number {
    const slot = this.slotOf(chunkId);
    if (slot < 0) return 0;
    let n = 0;
    const w = this.words;
    for (let i = slot * SLOT_WORDS, end = i + SLOT_WORDS; i < end && w[i] !== 0; i += 2) {
      if (w[i + 1] !== version || (counts && !counts(nodeOf(w[i])))) continue;
      n += (w[i] & CORRUPT_BIT) !== 0 ? COUNT_CORRUPT : 1;
    }
    const more = this.overflow.get(slot);
    if (more) for (const e of more) if (e.version === version && (!counts || counts(e.node))) n += e.corrupt ? COUNT_CORRUPT : 1;
    return n;
  }

  /** True when `node` holds `version` of the chunk (corrupt or not); any version when omitted. */
  holds(chunkId: string, node: number, version?: number): boolean {
    const slot = this.slotOf(chunkId);
    if (slot < 0) return false;
    const i = this.inlineAt(slot, node);
    if (i >= 0) return version === undefined || this.words[i + 1] === version;
    return this.overflow.get(slot)?.some((e) => e.node === node && (version === undefined || e.version === version)) ?? false;
  }

  /**
   * Records that `node` holds `version` of the chunk (replacing what it held before). `seen`: a
   * full report lists the copy (mark it); false: a delta (an existing copy keeps its mark).
   */
  upsert(chunkId: string, node: number, version: number, corrupt: boolean, seen = false): void {
    const h = hashKey(chunkId);
    let slot = this.slots.find(chunkId, h);
    if (slot < 0) {
      slot = this.allocate();
      this.ids[slot] = this.intern?.(chunkId) ?? ownString(chunkId);
      this.slots.add(h, slot);
    }
    const fits = version <= U32_MAX;
    const at = this.inlineAt(slot, node);
    if (at >= 0) {
      const wasSeen = (this.words[at] & SEEN_BIT) !== 0;
      if (fits) {
        this.words[at] = tagOf(node, seen || wasSeen, corrupt);
        this.words[at + 1] = version;
        return;
      }
      seen ||= wasSeen;
      this.removeInline(slot, at);
    } else {
      const e = this.overflow.get(slot)?.find((x) => x.node === node);
      if (e) {
        e.version = version;
        e.corrupt = corrupt;
        e.seen ||= seen;
        return;
      }
    }
    if (fits) {
      const empty = this.inlineAt(slot, -1);
      if (empty >= 0) {
        this.words[empty] = tagOf(node, seen, corrupt);
        this.words[empty + 1] = version;
        return;
      }
    }
    let more = this.overflow.get(slot);
    if (!more) this.overflow.set(slot, (more = []));
    more.push({ node, version, corrupt, seen });
  }

  /** Forgets `node`'s copy of the chunk (only if it is `version`, when given). True when there was one. */
  remove(chunkId: string, node: number, version?: number): boolean {
    const slot = this.slotOf(chunkId);
    if (slot < 0) return false;
    const at = this.inlineAt(slot, node);
    if (at >= 0) {
      if (version !== undefined && this.words[at + 1] !== version) return false;
      this.removeInline(slot, at);
    } else {
      const more = this.overflow.get(slot);
      const i = more ? more.findIndex((e) => e.node === node && (version === undefined || e.version === version)) : -1;
      if (i < 0) return false;
      more!.splice(i, 1);
      if (more!.length === 0) this.overflow.delete(slot);
    }
    this.releaseIfEmpty(slot);
    return true;
  }

  /** Clears `node`'s seen marks (a full report of it begins). O(slots). */
  clearSeen(node: number): void {
    this.sweep(node, false);
  }

  /** Drops `node`'s copies its full report did not list (not marked seen), and clears its marks. O(slots). */
  dropUnseen(node: number): void {
    this.sweep(node, true);
  }

  private sweep(node: number, drop: boolean): void {
    const w = this.words;
    for (let slot = 0; slot < this.highWater; slot++) {
      if (this.ids[slot] === undefined) continue;
      const at = this.inlineAt(slot, node);
      if (at >= 0) {
        if (drop && (w[at] & SEEN_BIT) === 0) {
          this.removeInline(slot, at);
          this.releaseIfEmpty(slot);
        } else w[at] &= ~SEEN_BIT;
      }
      const more = this.overflow.get(slot);
      if (!more) continue;
      const i = more.findIndex((e) => e.node === node);
      if (i < 0) continue;
      if (drop && !more[i].seen) {
        more.splice(i, 1);
        if (more.length === 0) this.overflow.delete(slot);
        this.releaseIfEmpty(slot);
      } else more[i].seen = false;
    }
  }

  private slotOf(chunkId: string): number {
    return this.slots.find(chunkId, hashKey(chunkId));
  }

  private releaseIfEmpty(slot: number): void {
    if (this.words[slot * SLOT_WORDS] !== 0 || this.overflow.has(slot)) return;
    this.slots.remove(hashKey(this.ids[slot]!), slot);
    this.ids[slot] = undefined;
    this.free.push(slot);
  }

  /** Word index of `node`'s inline copy in `slot` (node -1: the first empty place), or -1. */
  private inlineAt(slot: number, node: number): number {
    const w = this.words;
    for (let i = slot * SLOT_WORDS, end = i + SLOT_WORDS; i < end; i += 2) {
      const word = w[i];
      // Inline copies are packed to the front: past the first empty place there are none.
      if (word === 0) return node === -1 ? i : -1;
      if (nodeOf(word) === node) return i;
    }
    return -1;
  }

  /** Removes the inline copy at word `at`, moving the later ones up (keeps the order they were added in). */
  private removeInline(slot: number, at: number): void {
    const end = (slot + 1) * SLOT_WORDS;
    this.words.copyWithin(at, at + 2, end);
    this.words[end - 2] = 0;
    this.words[end - 1] = 0;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if ((this.highWater + 1) * SLOT_WORDS > this.words.length) {
      // Grow by half: less slack than doubling at a million chunks, still amortised O(1).
      const bigger = new Uint32Array(Math.ceil((this.words.length / SLOT_WORDS) * 1.5) * SLOT_WORDS);
      bigger.set(this.words);
      this.words = bigger;
    }
    return this.highWater++;
  }
}

function tagOf(node: number, seen: boolean, corrupt: boolean): number {
  return (node + 1) * 4 + (seen ? SEEN_BIT : 0) + (corrupt ? CORRUPT_BIT : 0);
}
