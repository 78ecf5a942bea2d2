/** `appendLocate`: where an append goes (docs/append.md, "Two modes"). */
import { normalizePath, WoodsError, type AppendLocateReply } from "../../../messages/index.js";
import type { NamenodeContext, VerbHandler } from "../context.js";
import type { ChunkLease, ChunkRecord, FileRecord } from "../namespace.js";
import { checkLease } from "../append-checks.js";
import { appendReplicas, bumpPast, chunkName, holdersBehind } from "./append-common.js";

/**
 * `done` for a key appended before; `tail` when the record fits in the rest of the
 * last chunk and is small enough (a lease is granted if none is live); `chunks` otherwise.
 */
export const appendLocate: VerbHandler<"appendLocate"> = async (ctx, req) => {
  const { state, config } = ctx;
  const done = state.ns.appendedKey(req.key);
  if (done) {
    // The key may be applied in memory only: answer once it is durable.
    await ctx.sync();
    return { mode: "done", offset: done.offset, sizeBytes: done.sizeBytes };
  }
  const f = state.ns.appendTarget(normalizePath(req.path));
  const newChunks: AppendLocateReply = {
    mode: "chunks",
    fileId: f.fileId,
    replication: f.replication,
    chunkSizeBytes: config.chunkSizeBytes,
    frameSizeBytes: config.frameSizeBytes,
  };
  const c = state.ns.lastChunk(f);
  if (!c) return newChunks;
  if (req.sizeBytes > config.client.appendTailMaxBytes || c.size + req.sizeBytes > config.chunkSizeBytes || req.full === c.id) return newChunks;
  if (state.repairingChunks.has(c.id)) {
    ctx.log.debug({ chunkId: c.id, path: f.path }, `${chunkName(c)} is being re-replicated: an append to ${f.path} goes to new chunks`);
    return newChunks;
  }
  const leased = await liveOrNewLease(ctx, f, c);
  if (!leased) return newChunks;
  return { mode: "tail", fileId: f.fileId, chunkId: c.id, version: leased.version, epoch: leased.lease.epoch, primary: leased.lease.primary, replicas: leased.replicas };
};

/**
 * The live lease on the last chunk, or a new one (logged) for the least-loaded
 * live replica of its current version; when holders of that version are dead or
 * corrupt, the version moves on with the grant (they would miss the appends).
 * A live lease whose primary is no longer a live replica is superseded (a higher
 * epoch fences it out). Undefined when no
 * live replica holds the current version, or fewer than the replication factor
 * do while a full set could be placed elsewhere (the append goes to new chunks);
 * UNAVAILABLE while replicas may simply not be reported yet (safe mode).
 */
async function liveOrNewLease(
  ctx: NamenodeContext,
  f: FileRecord,
  c: ChunkRecord,
): Promise<{ lease: ChunkLease; replicas: string[]; version: number } | undefined> {
  const { state } = ctx;
  const now = ctx.clock();
  const replicas = appendReplicas(ctx, c.id, [c.version]);
  const current = state.ns.chunkLease(c.id);
  const live = current && state.appendLeases.live(c.id, now)?.epoch === current.epoch ? current : undefined;
  if (live && replicas.includes(live.primary)) {
    // The grant may still be on its way to the log.
    await ctx.sync();
    return { lease: live, replicas, version: c.version };
  }
  if (replicas.length === 0) {
    if (state.safeMode) throw new WoodsError("UNAVAILABLE", `replicas of ${chunkName(c)} are not reported yet since the namenode started; retry shortly`);
    ctx.log.warn({ chunkId: c.id, path: f.path, version: c.version }, `${chunkName(c)} has no live replica at version ${c.version}: appends to ${f.path} go to new chunks`);
    return undefined;
  }
  if (!state.safeMode && replicas.length < f.replication) {
    // Appending in place would grow a chunk the watchdog cannot repair while it is leased. When a
    // full replica set can be placed, new chunks get the bytes instead and this one, sealed, is repaired.
    const placeable = state.registry.allNodes().filter((n) => n.state === "alive").length;
    if (placeable >= f.replication) {
      ctx.log.info(
        { chunkId: c.id, path: f.path, live: replicas.length, replication: f.replication },
        `${chunkName(c)} has ${replicas.length} of ${f.replication} live replicas: appends to ${f.path} go to new chunks until it is repaired`,
      );
      return undefined;
    }
  }
  const entry = checkLease(state.ns, { fileId: f.fileId, chunkId: c.id, primary: replicas[0], atMs: now });
  // The lease this grant ends, if the tick has not ended it yet (run out or not).
  const ending = current && state.appendLeases.has(c.id) ? current : undefined;
  const behind = holdersBehind(ctx, c);
  // Lease first: a version bump right after it is judged with the chunk leased.
  const logged = [ctx.logAndApply(entry)];
  if (behind.length > 0) logged.push(bumpPast(ctx, c, replicas, behind));
  const lease = state.ns.chunkLease(c.id)!;
  const version = state.ns.chunk(c.id)!.version;
  await Promise.all(logged);
  if (live) {
    ctx.log.warn(
      { chunkId: c.id, path: f.path, epoch: live.epoch, primary: live.primary, newEpoch: entry.epoch },
      `lease epoch ${live.epoch} of ${live.primary} on ${chunkName(c)} was superseded: ${live.primary} is no longer a live replica of version ${c.version}`,
    );
    ctx.event("chunk.lease.ended", { chunkId: c.id, fileId: f.fileId, path: f.path, epoch: live.epoch, primary: live.primary, reason: "superseded" });
  } else if (ending) {
    ctx.log.info({ chunkId: c.id, path: f.path, epoch: ending.epoch, primary: ending.primary }, `lease epoch ${ending.epoch} of ${ending.primary} on ${chunkName(c)} ran out`);
    ctx.event("chunk.lease.ended", { chunkId: c.id, fileId: f.fileId, path: f.path, epoch: ending.epoch, primary: ending.primary, reason: "expired" });
  }
  ctx.log.info(
    { chunkId: c.id, path: f.path, epoch: entry.epoch, primary: entry.primary, version, replicas },
    `${entry.primary} got lease epoch ${entry.epoch} on ${chunkName(c)} at version ${version} for ${ctx.config.namenode.appendLeaseMs} ms`,
  );
  ctx.event("chunk.lease.granted", { chunkId: c.id, fileId: f.fileId, path: f.path, epoch: entry.epoch, primary: entry.primary, version, replicas });
  return { lease, replicas, version };
}
