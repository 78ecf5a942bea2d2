/**
 * Entries of the namenode's metadata log (a JetStream stream). One stream
 * message carries a batch (group commit); entries are applied in order.
 * Replica locations are never logged: they come from datanode reports.
 */
import { z } from "zod";

const id = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);
const n = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const logEntrySchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("epoch"), epoch: n, namenodeId: z.string(), atMs: n }),
  z.object({ op: z.literal("create"), fileId: id, path: z.string(), replication: n, atMs: n, clientId: z.string().optional() }),
  z.object({
    op: z.literal("chunk"),
    fileId: id,
    index: n,
    chunkId: id,
    version: n,
    sizeBytes: n,
    checksum: z.string(),
    atMs: n,
  }),
  z.object({ op: z.literal("complete"), fileId: id, sizeBytes: n, atMs: n }),
  z.object({ op: z.literal("delete"), fileId: id, path: z.string(), atMs: n, reason: z.string().optional() }),
  // ---- appends (docs/append.md) ----
  /** A lease on the last chunk of a file granted to `primary`; `epoch` is namespace-wide and increasing. */
  z.object({ op: z.literal("lease"), fileId: id, chunkId: id, epoch: n, primary: id, atMs: n }),
  /** A batch of in-place appends to the file's last chunk: the chunk is now `sizeBytes` long. */
  z.object({
    op: z.literal("append"),
    fileId: id,
    chunkId: id,
    epoch: n,
    version: n,
    sizeBytes: n,
    checksum: z.string(),
    records: z.array(z.object({ key: id, offset: n, sizeBytes: n })).min(1),
    atMs: n,
  }),
  /** New chunks attached to the end of a complete file by one append (`key`). */
  z.object({
    op: z.literal("appendChunks"),
    fileId: id,
    key: id,
    offset: n,
    chunks: z.array(z.object({ chunkId: id, version: n, sizeBytes: n, checksum: z.string() })).min(1),
    atMs: n,
  }),
  /** The chunk's version was bumped (a replica dropped mid-append): copies at older versions are stale. */
  z.object({ op: z.literal("chunkVersion"), chunkId: id, version: n, atMs: n }),
  // ---- renames (woods mv) ----
  /** The complete file `fileId` moved from `src` to `dst` (both canonical); its chunks, leases and append keys stay. */
  z.object({ op: z.literal("rename"), fileId: id, src: z.string(), dst: z.string(), atMs: n }),
  // ---- decommissioning (docs/operations.md) ----
  /**
   * Datanode `node` is being decommissioned (no new chunks; its copies no longer count toward
   * replication and are copied elsewhere), or with `cancel` is back in service.
   */
  z.object({ op: z.literal("decommission"), node: id, cancel: z.boolean().optional(), atMs: n }),
]);

export type LogEntry = z.infer<typeof logEntrySchema>;

export const logBatchSchema = z.object({ v: z.literal(1), entries: z.array(logEntrySchema).min(1) });
export type LogBatch = z.infer<typeof logBatchSchema>;
