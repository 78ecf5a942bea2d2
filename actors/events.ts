import type { NatsConnection } from "@nats-io/transport-node";
import { encode, type EventKind, type Subjects } from "../messages/index.js";

/** Publishes an event on `<prefix>.events.<kind>`; events are best effort (core NATS). */
export function publishEvent(nc: NatsConnection, subj: Subjects, kind: EventKind, source: string, fields: Record<string, unknown>): void {
  try {
    nc.publish(subj.event(kind), encode({ kind, atMs: Date.now(), source, ...fields }));
  } catch {
    // A closed connection during shutdown must not crash the actor over an event.
  }
}
