/**
 * OpenTelemetry for every actor: traces whose context travels in NATS headers (W3C
 * `traceparent`), so one `woods put` is one trace across client, namenode and datanodes,
 * and metrics. Configured only by the standard `OTEL_*` environment variables (OTLP
 * exporters by default); when none is set nothing is started and the API's no-op tracer
 * costs a few allocations per request (no headers are added to messages).
 */
import {
  context,
  metrics,
  propagation,
  trace,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type Context,
  type Meter,
  type MeterProvider,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/transport-node";

export const TRACER_NAME = "woods";

/** The variables that switch telemetry on (any of them, unless OTEL_SDK_DISABLED=true). */
const SWITCHES = [
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_TRACES_EXPORTER",
  "OTEL_METRICS_EXPORTER",
];

/** Whether the environment asks for telemetry. */
export function telemetryWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return false;
  return SWITCHES.some((k) => {
    const v = env[k];
    return v !== undefined && v !== "" && v !== "none";
  });
}

export interface TelemetryIdentity {
  /** `client`, `namenode`, `datanode`, `dashboard`. */
  actor: string;
  nodeId: string;
}

/**
 * Starts the OpenTelemetry SDK when the environment asks for it (exporters, endpoints,
 * sampling and resource all from `OTEL_*`); returns a shutdown that flushes. The SDK is
 * imported lazily so a CLI command without telemetry never loads it.
 */
export async function startTelemetry(id: TelemetryIdentity, env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  if (!telemetryWanted(env)) return async () => {};
  const { NodeSDK, resources } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? `woods-${id.actor}`,
    resource: resources.resourceFromAttributes({ "woods.actor": id.actor, "woods.node.id": id.nodeId, "service.instance.id": `${id.actor}-${id.nodeId}-${process.pid}` }),
  });
  sdk.start();
  return async () => {
    await sdk.shutdown().catch(() => undefined);
  };
}

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/**
 * The woods meter. Counters, histograms and gauges made from it bind to the global meter
 * provider when they record, not when they are created: the metrics API has no proxy provider,
 * so an instrument created at module load, before the SDK started (rpc.ts is imported before
 * `startTelemetry` runs), would otherwise stay a no-op for the life of the process. Observable
 * instruments and callbacks go to the provider registered when they are added (actors add them
 * at start, after the SDK).
 */
export function meter(): Meter {
  return lazyMeter;
}

/** The meter of the provider registered now (the API's no-op one when none is). */
function currentMeter(): Meter {
  return metrics.getMeter(TRACER_NAME);
}

/** An instrument re-created whenever the global provider changes (once, in practice: at SDK start). */
function lazyInstrument<I>(create: (m: Meter) => I): () => I {
  let provider: MeterProvider | undefined;
  let instrument: I | undefined;
  return () => {
    const now = metrics.getMeterProvider();
    if (now !== provider || instrument === undefined) {
      provider = now;
      instrument = create(now.getMeter(TRACER_NAME));
    }
    return instrument;
  };
}

const lazyMeter: Meter = {
  createCounter(name, options) {
    const get = lazyInstrument((m) => m.createCounter(name, options));
    return { add: (value, attributes, ctx) => get().add(value, attributes, ctx) };
  },
  createUpDownCounter(name, options) {
    const get = lazyInstrument((m) => m.createUpDownCounter(name, options));
    return { add: (value, attributes, ctx) => get().add(value, attributes, ctx) };
  },
  createHistogram(name, options) {
    const get = lazyInstrument((m) => m.createHistogram(name, options));
    return { record: (value, attributes, ctx) => get().record(value, attributes, ctx) };
  },
  createGauge(name, options) {
    const get = lazyInstrument((m) => m.createGauge(name, options));
    return { record: (value, attributes, ctx) => get().record(value, attributes, ctx) };
  },
  createObservableGauge: (name, options) => currentMeter().createObservableGauge(name, options),
  createObservableCounter: (name, options) => currentMeter().createObservableCounter(name, options),
  createObservableUpDownCounter: (name, options) => currentMeter().createObservableUpDownCounter(name, options),
  addBatchObservableCallback: (callback, observables) => currentMeter().addBatchObservableCallback(callback, observables),
  removeBatchObservableCallback: (callback, observables) => currentMeter().removeBatchObservableCallback(callback, observables),
};

const setter: TextMapSetter<MsgHdrs> = {
  set: (h, key, value) => h.set(key, value),
};

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => (h ? h.keys() : []),
  // MsgHdrs.get returns "" for a missing key.
  get: (h, key) => {
    const v = h?.get(key);
    return v === undefined || v === "" ? undefined : v;
  },
};

/** Writes the current trace context (of `ctx`) into NATS headers. */
export function injectTrace(h: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, h, setter);
}

/** The trace context carried by a message's headers (or the root context when none). */
export function extractTrace(h: MsgHdrs | undefined): Context {
  if (!h || !h.has("traceparent")) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, h, getter);
}

/** Runs `fn` in a new span (child of the active one), ending it with the outcome. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, opts: { kind?: SpanKind; parent?: Context } = {}): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    endWithError(span, e);
    throw e;
  } finally {
    if (span.isRecording()) span.end();
  }
}

/** Marks a span failed with the error's code and message (then the caller ends it). */
export function endWithError(span: Span, e: unknown): void {
  if (!span.isRecording()) return;
  const err = e as { code?: string; message?: string };
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${err?.code ?? "ERROR"}: ${err?.message ?? String(e)}` });
  if (err?.code) span.setAttribute("woods.error.code", err.code);
}

export { SpanKind, context, trace };
