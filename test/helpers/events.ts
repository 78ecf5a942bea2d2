/** Records the cluster's events (`<prefix>.events.>`) for fault tests to assert on. */
import { connect } from "@nats-io/transport-node";
import { decode, type WoodsEvent } from "../../messages/index.js";
import { waitFor, authFor } from "./cluster.js";

export interface RecordedEvent extends WoodsEvent {
  subject: string;
}

export interface EventRecorder {
  events: RecordedEvent[];
  /** Events whose subject ends with `.<kind>` and that pass `match`. */
  of(kind: string, match?: (e: RecordedEvent) => boolean): RecordedEvent[];
  /** Waits for the first such event (throws after `timeoutMs`). */
  waitFor(kind: string, timeoutMs: number, match?: (e: RecordedEvent) => boolean): Promise<RecordedEvent>;
  stop(): Promise<void>;
}

/** Subscribes to every event of the cluster at `url` from now on. */
export async function recordEvents(url: string, prefix = "woods"): Promise<EventRecorder> {
  const nc = await connect({ servers: url, name: "woods-test-events", ...authFor(url, "monitor") });
  const events: RecordedEvent[] = [];
  nc.subscribe(`${prefix}.events.>`, {
    callback: (err, msg) => {
      if (err) return;
      try {
        events.push({ ...(decode(msg.data, msg.headers).value as WoodsEvent), subject: msg.subject });
      } catch {
        /* not ours */
      }
    },
  });
  await nc.flush();
  const of = (kind: string, match: (e: RecordedEvent) => boolean = () => true) => events.filter((e) => e.subject === `${prefix}.events.${kind}` && match(e));
  return {
    events,
    of,
    waitFor: (kind, timeoutMs, match) => waitFor(() => of(kind, match)[0], timeoutMs, `event ${kind}`),
    async stop() {
      await nc.close();
    },
  };
}
