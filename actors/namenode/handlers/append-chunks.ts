/** New-chunk appends (docs/append.md, `chunks` mode): `appendAllocate`, then `appendChunks`. */
import { normalizePath } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";
import { checkAppendChunks, type AppendChunkAllocation } from "../append-checks.js";

/** `appendAllocate {path, exclude?}`: places a chunk for an append to a complete file; remembered until attached. */
export const appendAllocate: VerbHandler<"appendAllocate"> = (ctx, req) => {
  const { state } = ctx;
  const f = state.ns.appendTarget(normalizePath(req.path));
  const replicas = state.placement.choose(state.registry.allNodes(), f.replication, req.exclude ?? []);
  const chunkId = ctx.newId();
  const version = 1;
  state.appendAllocations.add({ chunkId, fileId: f.fileId, version, replicas }, ctx.clock());
  ctx.log.debug({ path: f.path, chunkId, replicas }, `chunk ${chunkId} allocated on ${replicas.join(", ")} for an append to ${f.path}`);
  return { fileId: f.fileId, chunkId, version, replicas };
};

/**
 * `appendChunks {path, key, chunks}`: attaches written chunks to the end of the file in
 * one log entry, once per key (a retried key gets its original result). Seals the old
 * last chunk: its lease ends, so no tail commit can land behind the new chunks.
 */
export const appendChunks: VerbHandler<"appendChunks"> = async (ctx, req) => {
  const { state, config } = ctx;
  const done = state.ns.appendedKey(req.key);
  if (done) {
    await ctx.sync();
    return { offset: done.offset, sizeBytes: done.sizeBytes, fileSizeBytes: done.offset + done.sizeBytes };
  }
  const f = state.ns.appendTarget(normalizePath(req.path));
  const now = ctx.clock();
  // Allocations are not logged. Right after a start, chunks allocated by the previous run may be
  // attached: the registry keeps unknown replicas that long (orphan grace), so they are still there.
  const afterStart = now < state.opts.startedAtMs + config.namenode.orphanGraceMs;
  const allocationOf = (chunkId: string): AppendChunkAllocation | "unknown" | undefined => {
    const a = state.appendAllocations.get(chunkId) ?? state.allocations.get(chunkId);
    if (a) return a;
    return afterStart && !state.deleting.has(chunkId) ? "unknown" : undefined;
  };
  const { entry, confirmed } = checkAppendChunks(state.ns, f, { key: req.key, chunks: req.chunks, atMs: now }, allocationOf, config.chunkSizeBytes);
  const sealed = state.ns.lastChunk(f);
  const sealedLease = sealed ? state.ns.chunkLease(sealed.id) : undefined;
  // The writer saw these replicas store the chunks: readable at once, before their reports arrive.
  req.chunks.forEach((ch, i) => {
    for (const dn of confirmed[i]) state.registry.addConfirmedReplica(dn, ch.chunkId, ch.version);
  });
  await ctx.logAndApply(entry);
  const sizeBytes = entry.chunks.reduce((n, c) => n + c.sizeBytes, 0);
  const fileSizeBytes = entry.offset + sizeBytes;
  ctx.log.info(
    { path: f.path, fileId: f.fileId, key: req.key, offset: entry.offset, sizeBytes, chunks: entry.chunks.length },
    `${f.path} grew by ${sizeBytes} bytes at offset ${entry.offset} in ${entry.chunks.length} new chunk(s) (key ${req.key})`,
  );
  if (sealed && sealedLease) {
    ctx.log.info({ chunkId: sealed.id, path: f.path, epoch: sealedLease.epoch }, `lease epoch ${sealedLease.epoch} on chunk ${sealed.id} of ${f.path} ended: sealed by new chunks`);
    ctx.event("chunk.lease.ended", { chunkId: sealed.id, fileId: f.fileId, path: f.path, epoch: sealedLease.epoch, primary: sealedLease.primary, reason: "sealed" });
  }
  ctx.event("file.appended", {
    path: f.path,
    fileId: f.fileId,
    mode: "chunks",
    offset: entry.offset,
    sizeBytes,
    fileSizeBytes,
    chunks: entry.chunks.map((c) => c.chunkId),
  });
  return { offset: entry.offset, sizeBytes, fileSizeBytes };
};
