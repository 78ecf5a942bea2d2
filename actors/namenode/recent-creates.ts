/**
 * Files completed recently, by the clientId of the writer that created them: a create retried after its
 * answer was lost (a namenode restart or takeover between the request and the reply) is answered with the
 * same file instead of EXISTS. Rebuilt by replaying the log (the `create` entry carries the clientId), like
 * HDFS's retry cache; bounded, oldest forgotten first. PURE.
 */
export class RecentlyCompleted {
  private readonly byClient = new Map<string, string>();

  constructor(private readonly max = 65_536) {}

  add(clientId: string, fileId: string): void {
    this.byClient.delete(clientId);
    this.byClient.set(clientId, fileId);
    if (this.byClient.size > this.max) {
      const oldest = this.byClient.keys().next().value;
      if (oldest !== undefined) this.byClient.delete(oldest);
    }
  }

  /** The file `clientId` created and completed, if still remembered. */
  fileOf(clientId: string | undefined): string | undefined {
    return clientId ? this.byClient.get(clientId) : undefined;
  }

  get size(): number {
    return this.byClient.size;
  }
}
