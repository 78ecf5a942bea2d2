/**
 * The client's OpenTelemetry metrics: bytes stored, read and appended by successful operations,
 * counted when each finishes. With telemetry off `meter()` is the API's no-op meter. Names and
 * meanings are listed in docs/observability.md.
 */
import type { Counter } from "@opentelemetry/api";
import { meter } from "../telemetry.js";

export interface ClientMetrics {
  put: Counter;
  get: Counter;
  append: Counter;
}

/** The client's counters, from the meter provider registered when the client is created. */
export function clientMetrics(): ClientMetrics {
  const m = meter();
  return {
    put: m.createCounter("woods.client.put.bytes", { description: "Bytes of files stored by completed puts", unit: "By" }),
    get: m.createCounter("woods.client.get.bytes", { description: "Bytes of files read by completed gets", unit: "By" }),
    append: m.createCounter("woods.client.append.bytes", { description: "Bytes added by completed appends", unit: "By" }),
  };
}
