/**
 * A datanode's OpenTelemetry metrics: byte counters fed by the store (chunk writes, appends,
 * served reads) and the scrubber, and gauges observed when the SDK collects (chunks held, disk
 * space, writes in progress). Every point carries `woods.datanode.id`, so several datanodes in
 * one process (tests) or behind one collector stay apart. With telemetry off `meter()` is the
 * API's no-op meter. Names and meanings are listed in docs/observability.md.
 */
import type { BatchObservableCallback, Observable } from "@opentelemetry/api";
import { meter } from "../telemetry.js";
import type { ByteIo, StoreUsage } from "./store.js";

export interface DatanodeMetricsSource {
  id: string;
  chunkCount(): number;
  usage(): Promise<StoreUsage>;
  activeWrites(): number;
}

export interface DatanodeMetrics {
  /** Counts bytes moved by the store (StoreOptions.onBytes). */
  bytes(io: ByteIo, n: number): void;
  /** Counts bytes the scrubber verified. */
  scrubbed(n: number): void;
  stop(): void;
}

/**
 * Creates the counters at once (the store counts from its first write) and the gauges; the
 * gauges need `source`, given once the node is assembled. `stop()` removes their callback.
 */
export function datanodeMetrics(id: string): DatanodeMetrics & { observe(source: DatanodeMetricsSource): void } {
  const m = meter();
  const node = { "woods.datanode.id": id };
  const written = m.createCounter("woods.datanode.bytes.written", { description: "Bytes written to chunk files: chunk data (frames, ingest, repairs) and in-place appends", unit: "By" });
  const read = m.createCounter("woods.datanode.bytes.read", { description: "Bytes of chunk data served to readers (verified reads)", unit: "By" });
  const scrubbed = m.createCounter("woods.datanode.scrub.bytes", { description: "Bytes the background scrubber verified", unit: "By" });
  const chunks = m.createObservableGauge("woods.datanode.chunks", { description: "Chunk replicas held and served", unit: "{chunk}" });
  const used = m.createObservableGauge("woods.datanode.disk.used", { description: "Bytes of chunk files in the data dirs", unit: "By" });
  const available = m.createObservableGauge("woods.datanode.disk.available", { description: "Free bytes for new chunks in the data dirs (less datanode.reserveBytes)", unit: "By" });
  const capacity = m.createObservableGauge("woods.datanode.disk.capacity", { description: "Size of the file systems holding the data dirs", unit: "By" });
  const writes = m.createObservableGauge("woods.datanode.writes.active", { description: "Chunk writes in progress", unit: "{write}" });
  const gauges: Observable[] = [chunks, used, available, capacity, writes];
  let callback: BatchObservableCallback | undefined;
  const writeAttrs = { chunk: { ...node, "woods.write.kind": "chunk" }, append: { ...node, "woods.write.kind": "append" } };

  return {
    bytes(io, n) {
      if (io === "read") read.add(n, node);
      else written.add(n, io === "append" ? writeAttrs.append : writeAttrs.chunk);
    },
    scrubbed(n) {
      scrubbed.add(n, node);
    },
    observe(source) {
      callback = async (r) => {
        r.observe(chunks, source.chunkCount(), node);
        r.observe(writes, source.activeWrites(), node);
        // statfs of each data dir: a few ms, once per export.
        const u = await source.usage().catch(() => undefined);
        if (!u) return;
        r.observe(used, u.usedBytes, node);
        r.observe(available, u.availableBytes, node);
        r.observe(capacity, u.capacityBytes, node);
      };
      m.addBatchObservableCallback(callback, gauges);
    },
    stop() {
      if (callback) m.removeBatchObservableCallback(callback, gauges);
      callback = undefined;
    },
  };
}
