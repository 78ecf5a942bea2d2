/**
 * The active namenode's leader lease, one key in a JetStream KV bucket (`<prefix>-leader`).
 *
 * Every change is revision-checked (`create` when absent, `update` with the revision last seen), so
 * two namenodes can never both win the same lease. The bucket's TTL (= the lease) makes the server
 * forget a lease nobody renewed; a candidate also times the revision it sees with its own clock, so a
 * takeover needs no agreement between machines' clocks. The log itself fences a deposed writer
 * (expected-last-sequence, jetstream/metalog.ts): the lease decides who should write, the log makes
 * sure only one can.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { StorageType } from "@nats-io/jetstream";
import type { Subjects } from "../messages/index.js";

const KEY = "active";

/** What the lease key holds (JSON, readable with `nats kv get <prefix>-leader active`). */
export interface LeaderRecord {
  /** Namenode id of the holder. */
  id: string;
  /** Its epoch once it has written it to the log (0 while taking over). */
  epoch: number;
  /** When it took the lease, by its own clock (informational). */
  sinceMs: number;
}

export interface LeaderView extends LeaderRecord {
  revision: number;
}

/**
 * The server forgets a lease nobody renewed for this many leases. Longer than one lease: while the
 * bucket's own stream changes leader (seconds on a NATS cluster) nobody can renew, and the lease must
 * not lapse by age alone then. Candidates judge an unrenewed lease by their own clock anyway.
 */
const TTL_LEASES = 3;

/** Opens the leader bucket, creating it when missing (history 1, a TTL of a few leases, file storage). */
export async function openLeaderBucket(nc: NatsConnection, subj: Subjects, opts: { replicas: number; leaseMs: number }): Promise<KV> {
  const kvm = new Kvm(nc);
  // Reads go to the stream leader (no direct get): a lease must never be judged on a stale copy.
  return kvm.create(subj.leaderBucket(), { history: 1, replicas: opts.replicas, ttl: opts.leaseMs * TTL_LEASES, storage: StorageType.File, allow_direct: false });
}

function parse(e: KvEntry | null): LeaderView | undefined {
  if (!e || e.operation !== "PUT" || e.length === 0) return undefined;
  try {
    const r = JSON.parse(e.string()) as Partial<LeaderRecord>;
    if (typeof r.id !== "string") return undefined;
    return { id: r.id, epoch: typeof r.epoch === "number" ? r.epoch : 0, sinceMs: typeof r.sinceMs === "number" ? r.sinceMs : 0, revision: e.revision };
  } catch {
    return undefined;
  }
}

/** Who holds the lease now (undefined: nobody, or the bucket does not exist yet). For status and tools. */
export async function readLeader(nc: NatsConnection, subj: Subjects): Promise<LeaderView | undefined> {
  let kv: KV;
  try {
    kv = await new Kvm(nc).open(subj.leaderBucket(), { bindOnly: true, allow_direct: false });
  } catch {
    return undefined;
  }
  try {
    return parse(await kv.get(KEY));
  } catch {
    return undefined;
  }
}

/**
 * One namenode's side of the lease. `tryAcquire` is called by a candidate every renew interval;
 * `renew` by the holder. Neither throws on a lost race: they answer true/false.
 */
export class LeaderLease {
  private revision = 0;
  private record: LeaderRecord;
  /** The other holder's revision this candidate last saw and when (own clock). */
  private seen: { revision: number; atMs: number } | undefined;
  private lastRenewedMs = 0;

  constructor(
    private readonly kv: KV,
    private readonly id: string,
    private readonly leaseMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.record = { id, epoch: 0, sinceMs: 0 };
  }

  /** Who holds it, as this namenode last saw (undefined before the first look or when free). */
  async holder(): Promise<LeaderView | undefined> {
    return parse(await this.kv.get(KEY));
  }

  /**
   * Takes the lease when it is free, expired, unrenewed for `leaseMs` by this candidate's clock, or held
   * by an earlier process with this namenode's own id (a restart needs no wait). True when won.
   */
  async tryAcquire(): Promise<boolean> {
    const now = this.clock();
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(KEY);
    } catch (e) {
      // The bucket cannot be read (its stream is changing leader): nobody can renew meanwhile, so the
      // holder's silence counts only from the next successful read.
      this.seen = undefined;
      throw e;
    }
    const cur = parse(entry);
    this.record = { id: this.id, epoch: 0, sinceMs: now };
    const value = JSON.stringify(this.record);
    try {
      if (!cur) {
        // Absent, deleted or expired (a delete marker is updated at its revision): fails if anyone else got there first.
        this.revision = entry ? await this.kv.update(KEY, value, entry.revision) : await this.kv.create(KEY, value);
      } else if (cur.id === this.id) {
        this.revision = await this.kv.update(KEY, value, cur.revision);
      } else {
        if (!this.seen || this.seen.revision !== cur.revision) {
          this.seen = { revision: cur.revision, atMs: now };
          return false;
        }
        if (now - this.seen.atMs < this.leaseMs) return false;
        this.revision = await this.kv.update(KEY, value, cur.revision);
      }
    } catch {
      return false; // someone else changed it first
    }
    this.seen = undefined;
    this.lastRenewedMs = now;
    return true;
  }

  /**
   * Renews the lease (optionally recording the epoch). False only when it is lost for sure: another
   * revision is there now (a standby took it, or the server forgot it). Any other failure (the bucket's
   * stream changing leader, a cut connection) answers true and is retried at the next call: while
   * nobody can write the bucket nobody can take the lease either, and should one do so meanwhile, the
   * log fences this namenode's next append (expected last sequence).
   */
  async renew(epoch?: number): Promise<boolean> {
    if (epoch !== undefined) this.record = { ...this.record, epoch };
    const now = this.clock();
    try {
      this.revision = await this.kv.update(KEY, JSON.stringify(this.record), this.revision);
      this.lastRenewedMs = now;
      return true;
    } catch (e) {
      return !isWrongRevision(e);
    }
  }

  /** When the lease was last known held, by this namenode's clock. */
  get renewedAtMs(): number {
    return this.lastRenewedMs;
  }

  /** Gives the lease up on a clean stop so a standby takes over at once (only if still ours). */
  async release(): Promise<void> {
    try {
      await this.kv.delete(KEY, { previousSeq: this.revision });
    } catch {
      /* already lost, or NATS gone: the TTL frees it */
    }
  }
}

function isWrongRevision(e: unknown): boolean {
  const msg = (e as Error)?.message ?? "";
  return /wrong last sequence|key exists/i.test(msg) || (e as { code?: number }).code === 10071;
}
