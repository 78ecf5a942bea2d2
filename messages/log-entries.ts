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
]);

export type LogEntry = z.infer<typeof logEntrySchema>;

export const logBatchSchema = z.object({ v: z.literal(1), entries: z.array(logEntrySchema).min(1) });
export type LogBatch = z.infer<typeof logBatchSchema>;
