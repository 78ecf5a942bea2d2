/**
 * JetStream acked publishes without a request object per message: every publish carries a reply
 * subject under one inbox this publisher subscribes to once, and the stream's acknowledgement
 * (`{stream, seq, duplicate}` or `{error: {code, err_code, description}}`) settles it. The
 * metadata log publishes a batch per group commit, thousands a second under load; nats.js's
 * `js.publish` builds a request with two error objects (for their stack traces) and a timer per
 * call, about a twentieth of the namenode's time at 10,000 creates/s.
 */
import { createInbox, headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

const textDecoder = new TextDecoder();

/** Error codes of a JetStream API error reply that callers act on. */
export const PUB_ACK_ERR = {
  /** `Nats-Expected-Last-Sequence` did not match the stream's last sequence. */
  wrongLastSequence: 10071,
} as const;

/** The stream refused the message (`err_code` from the reply), or nothing answered in time / at all. */
export class PubAckError extends Error {
  constructor(
    message: string,
    /** JetStream's `err_code` (e.g. 10071), or 0 for a timeout or no responders. */
    readonly errCode: number,
    /** `timeout`, `no-responders`, `api` (the stream answered with an error) or `closed`. */
    readonly kind: "timeout" | "no-responders" | "api" | "closed",
  ) {
    super(message);
    this.name = "PubAckError";
  }
}

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface PublishOptions {
  /** `Nats-Msg-Id`: the stream drops a second message with the same id (within its duplicate window). */
  msgId?: string;
  /** `Nats-Expected-Last-Sequence`. */
  expectLastSequence?: number;
  timeoutMs: number;
}

export class PubAckPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private readonly sub: Subscription;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.settle(msg)) });
  }

  publish(subject: string, data: Uint8Array, o: PublishOptions): Promise<PubAck> {
    const token = (this.next++).toString(36);
    const h = natsHeaders();
    if (o.msgId !== undefined) h.set("Nats-Msg-Id", o.msgId);
    if (o.expectLastSequence !== undefined) h.set("Nats-Expected-Last-Sequence", String(o.expectLastSequence));
    return new Promise<PubAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new PubAckError(`no acknowledgement from the stream on ${subject} within ${o.timeoutMs} ms`, 0, "timeout"));
      }, o.timeoutMs);
      this.pending.set(token, { resolve, reject, timer });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(token);
        reject(e as Error);
      }
    });
  }

  /** Rejects what is pending and stops listening. */
  close(): void {
    this.failAll(new PubAckError("publisher closed", 0, "closed"));
    this.sub.unsubscribe();
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(token);
    if (!p) return; // timed out already
    this.pending.delete(token);
    clearTimeout(p.timer);
    if (msg.headers && msg.headers.code === 503) {
      p.reject(new PubAckError("no responders: the stream has no leader or JetStream is not reachable", 0, "no-responders"));
      return;
    }
    let body: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: unknown; err_code?: unknown; description?: unknown } };
    try {
      body = JSON.parse(textDecoder.decode(msg.data)) as typeof body;
    } catch (e) {
      p.reject(new PubAckError(`unreadable acknowledgement: ${(e as Error).message}`, 0, "api"));
      return;
    }
    if (body.error) {
      const errCode = typeof body.error.err_code === "number" ? body.error.err_code : 0;
      p.reject(new PubAckError(String(body.error.description ?? "JetStream error"), errCode, "api"));
      return;
    }
    if (typeof body.seq !== "number" || typeof body.stream !== "string") {
      p.reject(new PubAckError("acknowledgement without a stream sequence", 0, "api"));
      return;
    }
    p.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true });
  }

  private failAll(err: Error): void {
    for (const [token, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(token);
      p.reject(err);
    }
  }
}
