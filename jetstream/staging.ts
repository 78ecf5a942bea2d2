/**
 * Cleanup of the Object Store staging bucket: objects left by writers or
 * repairs that crashed between staging a chunk and deleting it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { StorageType } from "@nats-io/jetstream";
import type { LogSink } from "./metalog.js";

export interface StagingSweepResult {
  /** False when the bucket does not exist (nothing was ever staged). */
  exists: boolean;
  scanned: number;
  deleted: string[];
}

/** Deletes objects of `bucket` whose last change is older than `maxAgeMs` at `nowMs`. Skips silently if the bucket is missing. */
export async function sweepStaging(nc: NatsConnection, bucket: string, maxAgeMs: number, nowMs: number, log?: LogSink): Promise<StagingSweepResult> {
  const result: StagingSweepResult = { exists: false, scanned: 0, deleted: [] };
  let os;
  try {
    os = await new Objm(nc).open(bucket);
  } catch (e) {
    if (/not found/i.test((e as Error).message ?? "")) return result;
    throw e;
  }
  result.exists = true;
  const infos = await os.list();
  for (const info of infos) {
    if (info.deleted) continue;
    result.scanned++;
    const mtimeMs = Date.parse(info.mtime);
    if (!Number.isFinite(mtimeMs) || nowMs - mtimeMs < maxAgeMs) continue;
    try {
      await os.delete(info.name);
      result.deleted.push(info.name);
      log?.info({ bucket, object: info.name, ageMs: nowMs - mtimeMs }, `deleted staged object ${info.name} from ${bucket}: left for ${nowMs - mtimeMs} ms, more than ${maxAgeMs} ms`);
    } catch (e) {
      // Deleted meanwhile by its writer, or a transient error: the next sweep tries again.
      log?.warn({ bucket, object: info.name, err: e }, `could not delete staged object ${info.name}: ${(e as Error).message}`);
    }
  }
  return result;
}

/**
 * Creates the repair bucket in memory storage: a repair's source keeps its copy until the
 * targets have fsynced theirs, so the hand-off need not be fsynced again by JetStream (with
 * `sync_interval: always` that doubled the cost of every repaired byte). Falls back to file
 * storage when the server has too little memory store configured. Returns the storage used.
 */
export async function ensureRepairBucket(nc: NatsConnection, bucket: string, maxBytes: number, log?: LogSink, replicas = 1): Promise<"memory" | "file"> {
  const objm = new Objm(nc);
  try {
    const os = await objm.open(bucket);
    const st = await os.status();
    return st.storage === StorageType.Memory ? "memory" : "file";
  } catch (e) {
    if (!/not found/i.test((e as Error).message ?? "")) throw e;
  }
  try {
    await objm.create(bucket, { storage: StorageType.Memory, max_bytes: maxBytes, replicas });
    return "memory";
  } catch (e) {
    log?.warn({ bucket, err: e }, `repair bucket ${bucket} falls back to file storage: ${(e as Error).message}`);
    await objm.create(bucket, { storage: StorageType.File, replicas });
    return "file";
  }
}
