/** `stat` and `ls`: answered from memory. */
import { normalizePath, WoodsError, type ChunkInfo } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";
import { readOrder } from "../placement.js";

/** `stat {path}`: the file with its committed chunks and their live replicas, least loaded first. */
export const stat: VerbHandler<"stat"> = (ctx, req) => {
  const path = normalizePath(req.path, { allowRoot: true });
  if (path === "/") throw new WoodsError("IS_DIRECTORY", "/ is a directory");
  const f = ctx.state.ns.stat(path);
  const chunks: ChunkInfo[] = [];
  for (const c of f.chunks) {
    if (!c) continue;
    chunks.push({ id: c.id, version: c.version, size: c.size, checksum: c.checksum, replicas: readOrder(ctx.state.registry.replicas(c.id), c.version) });
  }
  return { path, size: f.sizeBytes, replication: f.replication, state: f.state, ctimeMs: f.ctimeMs, mtimeMs: f.mtimeMs, chunks };
};

/** `ls {prefix?}`: children of a directory sorted by name (complete files only). */
export const ls: VerbHandler<"ls"> = (ctx, req) => {
  const prefix = normalizePath(req.prefix ?? "/", { allowRoot: true });
  return { prefix, entries: ctx.state.ns.ls(prefix) };
};
