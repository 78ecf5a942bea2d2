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
  // Right after a (re)start replica locations are still arriving in datanode reports (they are
  // never logged). In safe mode "no replica" means "not reported yet": answer retryably instead of
  // letting the reader conclude the data is gone. After it, an empty list is the truth.
  const warmingUp = ctx.state.safeMode;
  for (const c of f.chunks) {
    if (!c) continue;
    const replicas = readOrder(ctx.state.registry.replicas(c.id), c.version);
    if (replicas.length === 0 && warmingUp && f.state === "complete") {
      throw new WoodsError("UNAVAILABLE", `replicas of chunk ${c.id} are not reported yet since the namenode started; retry shortly`);
    }
    chunks.push({ id: c.id, version: c.version, size: c.size, checksum: c.checksum, replicas });
  }
  return { path, size: f.sizeBytes, replication: f.replication, state: f.state, ctimeMs: f.ctimeMs, mtimeMs: f.mtimeMs, chunks };
};

/** `ls {prefix?}`: children of a directory sorted by name (complete files only). */
export const ls: VerbHandler<"ls"> = (ctx, req) => {
  const prefix = normalizePath(req.prefix ?? "/", { allowRoot: true });
  return { prefix, entries: ctx.state.ns.ls(prefix) };
};
