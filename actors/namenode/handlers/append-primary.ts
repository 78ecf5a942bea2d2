/**
 * What the primary replica of a leased last chunk asks (docs/append.md, "Tail mode"):
 * `appendLease`, `appendCommit`, `appendDropReplica`. Every one is safe to retry after
 * a lost reply, also across a namenode restart: a retry gets the same answer.
 */
import { WoodsError } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";
import { checkAppendCommit, checkDropReplica, commitRetry, leasedChunk } from "../append-checks.js";
import { appendReplicas, bumpPast, chunkName, holdersBehind, leaseLeftMs } from "./append-common.js";

/**
 * `appendLease {chunkId, epoch, dn}`: the state of a live lease that `dn` holds; NOT_PRIMARY
 * otherwise. Moves the version on first when a holder of it can no longer take part.
 */
export const appendLease: VerbHandler<"appendLease"> = async (ctx, req) => {
  const { state } = ctx;
  const { f, c } = leasedChunk(state.ns, req.chunkId, req.epoch);
  const lease = state.ns.chunkLease(c.id)!;
  if (lease.primary !== req.dn) throw new WoodsError("NOT_PRIMARY", `lease epoch ${req.epoch} on chunk ${c.id} is held by ${lease.primary}, not ${req.dn}`);
  if (!state.appendLeases.live(c.id, ctx.clock())) throw new WoodsError("NOT_PRIMARY", `lease epoch ${req.epoch} on chunk ${c.id} ran out`);
  const replicas = appendReplicas(ctx, c.id, [c.version]);
  if (!replicas.includes(req.dn)) {
    if (state.safeMode) throw new WoodsError("UNAVAILABLE", `${req.dn} has not reported ${chunkName(c)} yet since the namenode started; retry shortly`);
    throw new WoodsError("NOT_PRIMARY", `${req.dn} holds no good copy of ${chunkName(c)} at version ${c.version}`);
  }
  // A holder died (or its copy went corrupt) since the grant: the primary goes on without it, at a new version.
  const behind = holdersBehind(ctx, c);
  const bumped = behind.length > 0 ? bumpPast(ctx, c, replicas, behind) : undefined;
  const now = state.ns.chunk(c.id)!;
  const reply = {
    fileId: f.fileId,
    path: f.path,
    version: now.version,
    epoch: lease.epoch,
    replicas,
    sizeBytes: now.size,
    checksum: now.checksum,
    chunkSizeBytes: ctx.config.chunkSizeBytes,
    expiresInMs: leaseLeftMs(ctx, c.id),
  };
  // The grant (or the bump) may still be on its way to the log.
  await (bumped ?? ctx.sync());
  return reply;
};

/**
 * `appendCommit`: makes bytes [fromBytes, toBytes) of the leased last chunk part of the
 * file, once: a batch whose keys were appended before is answered without logging.
 */
export const appendCommit: VerbHandler<"appendCommit"> = async (ctx, req) => {
  const { state } = ctx;
  const c = state.ns.chunk(req.chunkId);
  if (!c) throw new WoodsError("NOT_PRIMARY", `chunk ${req.chunkId} is not in the namespace (its file was deleted?)`);
  const retry = commitRetry(c, req.fromBytes, req.records, state.ns);
  if (retry) {
    await ctx.sync();
    if (retry.kind === "applied") return { applied: true, offsets: retry.offsets, fileSizeBytes: retry.fileSizeBytes, expiresInMs: leaseLeftMs(ctx, c.id) };
    ctx.log.info(
      { chunkId: c.id, path: c.file.path, duplicates: retry.duplicates.length },
      `a commit to ${chunkName(c)} carried ${retry.duplicates.length} append(s) committed before: nothing logged, the primary rewrites the batch without them`,
    );
    return { applied: false, duplicates: retry.duplicates };
  }
  if (state.repairingChunks.has(c.id)) throw new WoodsError("NOT_PRIMARY", `${chunkName(c)} is being re-replicated: appends go to new chunks until the copy is done`);
  const entry = checkAppendCommit(state.ns, { ...req, atMs: ctx.clock() }, ctx.config.chunkSizeBytes);
  await ctx.logAndApply(entry);
  const last = entry.records[entry.records.length - 1];
  const fileSizeBytes = last.offset + last.sizeBytes;
  const f = c.file;
  ctx.log.debug(
    { chunkId: c.id, path: f.path, records: entry.records.length, fromBytes: req.fromBytes, toBytes: req.toBytes, epoch: req.epoch },
    `${f.path} grew to ${fileSizeBytes} bytes: ${entry.records.length} append(s) committed to ${chunkName(c)} under lease epoch ${req.epoch}`,
  );
  ctx.event("file.appended", {
    path: f.path,
    fileId: f.fileId,
    mode: "tail",
    chunkId: c.id,
    offset: entry.records[0].offset,
    sizeBytes: req.toBytes - req.fromBytes,
    records: entry.records.length,
    fileSizeBytes,
  });
  return { applied: true, offsets: entry.records.map((r) => r.offset), fileSizeBytes, expiresInMs: leaseLeftMs(ctx, c.id) };
};

/**
 * `appendDropReplica`: replicas that failed mid-append are left behind at the old
 * version (stale); the others move to version + 1 (logged as `chunkVersion`).
 */
export const appendDropReplica: VerbHandler<"appendDropReplica"> = async (ctx, req) => {
  const { state } = ctx;
  const c = state.ns.chunk(req.chunkId);
  if (c && state.repairingChunks.has(c.id)) throw new WoodsError("NOT_PRIMARY", `${chunkName(c)} is being re-replicated: appends go to new chunks until the copy is done`);
  const holds = (dn: string, version: number): boolean => state.registry.replicas(req.chunkId).some((r) => r.node.id === dn && r.version === version);
  const r = checkDropReplica(state.ns, { ...req, atMs: ctx.clock() }, holds);
  const chunk = state.ns.chunk(req.chunkId)!;
  if ("retry" in r) {
    // Answered before (the reply was lost): the survivors may not have renamed their copies yet.
    const replicas = appendReplicas(ctx, chunk.id, [req.version, r.retry.version]).filter((dn) => !req.failed.includes(dn));
    state.registry.moveReplicas(chunk.id, replicas, r.retry.version);
    state.renewAppendLease(chunk.id, req.epoch);
    await ctx.sync();
    return { version: r.retry.version, replicas, expiresInMs: leaseLeftMs(ctx, chunk.id) };
  }
  const replicas = appendReplicas(ctx, chunk.id, [chunk.version]).filter((dn) => !req.failed.includes(dn));
  if (replicas.length === 0) {
    // Bumping the version now would leave no copy of the committed bytes at the current version.
    throw new WoodsError("UNAVAILABLE", `no live replica of ${chunkName(chunk)} would remain without ${req.failed.join(", ")}; retry later`);
  }
  // The survivors rename their copies to the new version with the primary's next batch; until
  // then they may report the old one, so the lease (which defers stale deletes) must be live.
  state.registry.moveReplicas(chunk.id, replicas, r.entry.version);
  state.renewAppendLease(chunk.id, req.epoch);
  await ctx.logAndApply(r.entry);
  ctx.log.warn(
    { chunkId: chunk.id, path: chunk.file.path, failed: req.failed, replicas, version: r.entry.version },
    `${chunkName(chunk)} moved to version ${r.entry.version} without ${req.failed.join(", ")} (failed mid-append; their copies are stale), continuing on ${replicas.join(", ")}`,
  );
  ctx.event("chunk.version.bumped", { chunkId: chunk.id, path: chunk.file.path, version: r.entry.version, failed: req.failed, replicas, epoch: req.epoch });
  return { version: r.entry.version, replicas, expiresInMs: leaseLeftMs(ctx, chunk.id) };
};
