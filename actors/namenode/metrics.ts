/**
 * The namenode's OpenTelemetry metrics, all observed when the SDK collects (no work between
 * exports): namespace size, datanodes, chunk health as the watchdog saw it on its last tick,
 * repairs, and the metadata log. With telemetry off `meter()` is the API's no-op meter and the
 * callback never runs. Names and meanings are listed in docs/observability.md.
 */
import type { BatchObservableCallback, Observable } from "@opentelemetry/api";
import { meter } from "../telemetry.js";
import type { NamenodeState } from "./state.js";

/** What the metrics read; everything is in memory. */
export interface NamenodeMetricsSource {
  state: NamenodeState;
  /** The watchdog's counts (Repairs.stats). */
  watchdog(): { underReplicated: number; overReplicated: number; corrupt: number; missing: number; queued: number; inflight: number };
  /** Last sequence acknowledged by the metadata stream. */
  logSeq(): number;
  /** Entries applied in memory whose log append is not acknowledged yet. */
  logLag(): number;
}

/** Registers the namenode's gauges; `stop()` removes the callback (a stopped namenode reports nothing). */
export function registerNamenodeMetrics(src: NamenodeMetricsSource): { stop(): void } {
  const m = meter();
  const gauge = (name: string, description: string, unit: string) => m.createObservableGauge(name, { description, unit });
  const files = gauge("woods.namenode.files", "Files in the namespace (complete and being written)", "{file}");
  const chunks = gauge("woods.namenode.chunks", "Committed chunks in the namespace", "{chunk}");
  const perNode = gauge("woods.namenode.datanode.chunks", "Chunks each datanode reported holding in its last heartbeat", "{chunk}");
  const datanodes = gauge("woods.namenode.datanodes", "Datanodes known to the namenode, by state (alive, full, dead)", "{datanode}");
  const under = gauge("woods.namenode.chunks.under_replicated", "Chunks of complete files with fewer good copies than their replication (watchdog, last tick)", "{chunk}");
  const over = gauge("woods.namenode.chunks.over_replicated", "Chunks with more good copies than their replication (watchdog, last tick)", "{chunk}");
  const corrupt = gauge("woods.namenode.chunks.corrupt", "Chunks with at least one corrupt copy on a live datanode (watchdog, last tick)", "{chunk}");
  const missing = gauge("woods.namenode.chunks.missing", "Chunks with no good copy on a live datanode (watchdog, last tick)", "{chunk}");
  const queued = gauge("woods.namenode.repairs.queued", "Chunks the watchdog tracks as needing repair or trimming with no repair running", "{chunk}");
  const inflight = gauge("woods.namenode.repairs.inflight", "Repairs running now", "{repair}");
  const logSeq = gauge("woods.namenode.metalog.seq", "Last metadata log sequence acknowledged by JetStream", "{message}");
  const logLag = gauge("woods.namenode.metalog.lag", "Log entries applied in memory, not yet acknowledged by JetStream", "{entry}");
  const safeMode = gauge("woods.namenode.safe_mode", "1 while the namenode is in safe mode, else 0", "1");
  const all: Observable[] = [files, chunks, perNode, datanodes, under, over, corrupt, missing, queued, inflight, logSeq, logLag, safeMode];

  const callback: BatchObservableCallback = (r) => {
    const { state } = src;
    r.observe(files, state.ns.fileCount);
    r.observe(chunks, state.ns.chunkCount);
    const byState = { alive: 0, full: 0, dead: 0 };
    for (const n of state.registry.allNodes()) {
      byState[n.state]++;
      r.observe(perNode, n.chunkCount, { "woods.datanode.id": n.id });
    }
    for (const [s, count] of Object.entries(byState)) r.observe(datanodes, count, { "woods.datanode.state": s });
    const w = src.watchdog();
    r.observe(under, w.underReplicated);
    r.observe(over, w.overReplicated);
    r.observe(corrupt, w.corrupt);
    r.observe(missing, w.missing);
    r.observe(queued, w.queued);
    r.observe(inflight, w.inflight);
    r.observe(logSeq, src.logSeq());
    r.observe(logLag, src.logLag());
    r.observe(safeMode, state.safeMode ? 1 : 0);
  };
  m.addBatchObservableCallback(callback, all);
  return { stop: () => m.removeBatchObservableCallback(callback, all) };
}
