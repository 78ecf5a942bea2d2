/**
 * Request/reply plumbing shared by every actor: decode (msgpack or JSON),
 * validate against the schema, run the handler, answer in kind. A bad
 * request gets an error reply; it never crashes the actor.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { headers as natsHeaders, errors as natsErrors } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  WoodsError,
  toWoodsError,
  decode,
  encode,
  isJsonPayload,
  encodeJson,
  okBody,
  errorBody,
  unwrapReply,
  CONTENT_TYPE_HEADER,
  JSON_CONTENT_TYPE,
} from "../messages/index.js";
import type { Logger } from "./logger.js";
import { serviceOf, type WoodsService } from "./services.js";
import { context, endWithError, extractTrace, injectTrace, meter, SpanKind, trace, tracer } from "./telemetry.js";

// Metrics of every served request and every call; no-ops unless telemetry is started.
const serverDuration = meter().createHistogram("woods.rpc.server.duration", { unit: "ms", description: "time to handle one request, by subject verb and outcome" });
const serverBytes = meter().createCounter("woods.rpc.server.request.bytes", { unit: "By", description: "bytes of requests received" });
const clientDuration = meter().createHistogram("woods.rpc.client.duration", { unit: "ms", description: "time of one request/reply round trip, by verb and outcome" });

/** The last token of a subject: the verb (`woods.namenode.stat` → `stat`). */
function verbOf(subject: string): string {
  return subject.slice(subject.lastIndexOf(".") + 1);
}

export interface RequestContext {
  msg: Msg;
  json: boolean;
}

export type Handler<S extends z.ZodType, R> = (req: z.infer<S>, ctx: RequestContext) => Promise<R> | R;

function replyHeaders(json: boolean): MsgHdrs | undefined {
  if (!json) return undefined;
  const h = natsHeaders();
  h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
  return h;
}

/** Formats the first zod issue as `field: reason`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const field = issue?.path?.length ? issue.path.join(".") : "(message)";
  return `field ${field}: ${issue?.message ?? "invalid"}`;
}

/** Validates an already-decoded value; throws BAD_REQUEST naming the field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new WoodsError("BAD_REQUEST", describeZodError(parsed.error));
  return parsed.data;
}

/** Sends a reply body, in JSON when the request was JSON. */
export function respond(msg: Msg, body: unknown, json: boolean): void {
  if (!msg.reply) return;
  const data = json ? encodeJson(body) : encode(body);
  msg.respond(data, { headers: replyHeaders(json) });
}

/**
 * Serves one subject: every message is handled concurrently and always answered.
 * When a NATS service is registered on `nc` (services.ts) — or passed as
 * `opts.service` — the subject becomes one of its endpoints, so `$SRV.STATS`
 * counts its requests; the decoding, validation and replies are the same.
 */
export function serve<S extends z.ZodType, R extends object>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: Handler<S, R>,
  opts: { log: Logger; queue?: string; verb?: string; service?: WoodsService },
): Subscription {
  const service = opts.service ?? serviceOf(nc);
  // Who serves the subject, for the request spans: read once (pino re-parses its bindings on every call).
  const who = opts.log.bindings?.() ?? {};
  const withWho = { ...opts, who };
  if (service) {
    const name = opts.verb ?? subject.slice(subject.lastIndexOf(".") + 1);
    return service.addEndpoint(name, subject, (msg) => void handleOne(msg, schema, handler, withWho, service), opts.queue);
  }
  return nc.subscribe(subject, {
    queue: opts.queue,
    callback: (err, msg) => {
      if (err) {
        opts.log.error({ err, subject }, `subscription to ${subject} failed`);
        return;
      }
      void handleOne(msg, schema, handler, withWho);
    },
  });
}

async function handleOne<S extends z.ZodType, R extends object>(
  msg: Msg,
  schema: S,
  handler: Handler<S, R>,
  opts: { log: Logger; verb?: string; who: Record<string, unknown> },
  service?: WoodsService,
): Promise<void> {
  const startedMs = performance.now();
  const verb = opts.verb ?? verbOf(msg.subject);
  // A span per request, child of the caller's (trace context in the NATS headers); who serves it is
  // the logger's identity. With telemetry off this is a non-recording span.
  const parent = extractTrace(msg.headers);
  const who = opts.who;
  const span = tracer().startSpan(`woods.${verb}`, {
    kind: SpanKind.SERVER,
    attributes: { "messaging.system": "nats", "messaging.destination.name": msg.subject, "woods.actor": String(who.actor ?? ""), "woods.node.id": String(who.nodeId ?? "") },
  }, parent);
  serverBytes.add(msg.data.length, { verb });
  // Decide the reply encoding before decoding, so malformed JSON is answered in JSON.
  let json = isJsonPayload(msg.data, msg.headers);
  let outcome = "ok";
  try {
    const decoded = decode(msg.data, msg.headers);
    json = decoded.json;
    const req = validate(schema, decoded.value);
    const result = await context.with(trace.setSpan(parent, span), () => handler(req, { msg, json }));
    respond(msg, okBody(result), json);
    service?.recordOutcome(msg.subject, performance.now() - startedMs);
  } catch (e) {
    const err = toWoodsError(e);
    outcome = err.code;
    endWithError(span, err);
    service?.recordOutcome(msg.subject, performance.now() - startedMs, `${err.code}: ${err.message}`);
    if (err.code === "INTERNAL") opts.log.error({ err: e, subject: msg.subject }, `request on ${msg.subject} failed unexpectedly`);
    else opts.log.debug({ code: err.code, subject: msg.subject }, err.message);
    try {
      respond(msg, errorBody(err.toWire()), json);
    } catch (e2) {
      opts.log.warn({ err: e2 }, "could not send error reply");
    }
  } finally {
    span.end();
    serverDuration.record(performance.now() - startedMs, { verb, outcome });
  }
}

/** Maps transport failures to typed, retryable errors. */
export function transportError(e: unknown, subject: string): WoodsError {
  if (e instanceof WoodsError) return e;
  const err = e as Error & { code?: string };
  const text = `${err?.name ?? ""} ${err?.message ?? ""} ${err?.code ?? ""}`.toLowerCase();
  if (e instanceof natsErrors.NoRespondersError || text.includes("no responders") || text.includes("503")) {
    return new WoodsError("UNAVAILABLE", `nobody is serving ${subject}`, { cause: e });
  }
  if (e instanceof natsErrors.TimeoutError || text.includes("timeout")) {
    return new WoodsError("TIMEOUT", `request on ${subject} timed out`, { cause: e });
  }
  if (text.includes("closed") || text.includes("disconnect") || text.includes("connection")) {
    return new WoodsError("UNAVAILABLE", `connection lost during request on ${subject}: ${err.message}`, { cause: e });
  }
  if (text.includes("max_payload") || text.includes("payload")) {
    return new WoodsError("TOO_LARGE", `request on ${subject}: ${err.message}`, { cause: e });
  }
  return new WoodsError("INTERNAL", `request on ${subject} failed: ${err?.message ?? String(e)}`, { cause: e });
}

/** One msgpack request; returns the unwrapped `ok` body or throws the WoodsError the peer sent. */
export async function call<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<T> {
  const verb = verbOf(subject);
  const startedMs = performance.now();
  const span = tracer().startSpan(`woods.call.${verb}`, { kind: SpanKind.CLIENT, attributes: { "messaging.system": "nats", "messaging.destination.name": subject } });
  // Only a recording span is worth headers on the wire.
  let headers: MsgHdrs | undefined;
  if (span.isRecording()) {
    headers = natsHeaders();
    injectTrace(headers, trace.setSpan(context.active(), span));
  }
  let outcome = "ok";
  try {
    let reply: Msg;
    try {
      reply = await nc.request(subject, encode(body), { timeout: timeoutMs, ...(headers ? { headers } : {}) });
    } catch (e) {
      throw transportError(e, subject);
    }
    return unwrapReply<T>(decode(reply.data, reply.headers).value);
  } catch (e) {
    outcome = (e as { code?: string }).code ?? "ERROR";
    endWithError(span, e);
    throw e;
  } finally {
    span.end();
    clientDuration.record(performance.now() - startedMs, { verb, outcome });
  }
}
