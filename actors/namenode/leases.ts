/**
 * Write leases: a file being written stays alive while its writer keeps
 * talking to the namenode. PURE: callers pass the current time.
 */

/** How many lease-expired file ids are remembered, so their late writers get LEASE_EXPIRED, not NOT_FOUND. */
export const EXPIRED_REMEMBERED_MAX = 4096;

export class Leases {
  private readonly expiresAt = new Map<string, number>();
  private readonly expired = new Set<string>();

  constructor(private readonly leaseMs: number) {}

  get size(): number {
    return this.expiresAt.size;
  }

  /** Starts or extends the lease of a file being written. */
  renew(fileId: string, nowMs: number): void {
    this.expiresAt.set(fileId, nowMs + this.leaseMs);
  }

  /** Stops tracking a file (completed, abandoned, deleted). */
  remove(fileId: string): void {
    this.expiresAt.delete(fileId);
  }

  /** Files whose lease ran out at `nowMs`; they are removed from tracking and remembered as expired. */
  takeExpired(nowMs: number): string[] {
    const out: string[] = [];
    for (const [fileId, at] of this.expiresAt) {
      if (at > nowMs) continue;
      out.push(fileId);
      this.expiresAt.delete(fileId);
      this.expired.add(fileId);
      if (this.expired.size > EXPIRED_REMEMBERED_MAX) this.expired.delete(this.expired.values().next().value!);
    }
    return out;
  }

  /** True when the file was abandoned because its lease expired (recently). */
  wasExpired(fileId: string): boolean {
    return this.expired.has(fileId);
  }
}
