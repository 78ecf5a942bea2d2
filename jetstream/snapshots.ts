/**
 * The Object Store bucket holding the namenode's namespace snapshots. This
 * layer moves opaque bytes: the format (and its own checksum) belongs to the
 * namenode. Object names carry the log sequence a snapshot covers, so the
 * newest is found from a listing without reading any object.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, setSha256Backend, type ObjectStore } from "@nats-io/obj";
import { StorageType } from "@nats-io/jetstream";
import { WoodsError } from "../messages/index.js";
import type { LogSink } from "./metalog.js";

const NAME_PREFIX = "snapshot-";
/** Digits of the sequence in an object name: zero-padded so names sort like sequences. */
const SEQ_DIGITS = 16;
const NAME_RE = /^snapshot-(\d{16})$/;
/**
 * A read that receives no data for this long is abandoned: an object whose
 * chunks are missing (torn) would otherwise wait forever for them.
 */
export const SNAPSHOT_READ_IDLE_TIMEOUT_MS = 10_000;

/** One snapshot object as listed (not yet read or verified). */
export interface SnapshotObject {
  name: string;
  /** Log sequence the snapshot covers (from its name). */
  logSeq: number;
  sizeBytes: number;
}

/** Object name of the snapshot covering `logSeq`. */
export function snapshotName(logSeq: number): string {
  if (!Number.isSafeInteger(logSeq) || logSeq < 0) throw new TypeError(`snapshot sequence ${logSeq} is not a non-negative integer`);
  return NAME_PREFIX + String(logSeq).padStart(SEQ_DIGITS, "0");
}

/** Snapshots in one Object Store bucket: list, read (digest-verified by the store), write, delete. */
export class SnapshotStore {
  private constructor(
    private readonly os: ObjectStore,
    readonly bucket: string,
  ) {}

  /** Opens the bucket, creating it (file storage, `replicas`) if missing. */
  static async open(nc: NatsConnection, bucket: string, replicas: number, log?: LogSink): Promise<SnapshotStore> {
    // The store checks every object's SHA-256: node's native hash is ~5x the default JS one, which
    // took a third of a snapshot load (~0.25 s per 100k files).
    setSha256Backend("native");
    const objm = new Objm(nc);
    try {
      return new SnapshotStore(await objm.open(bucket), bucket);
    } catch (e) {
      if (!/not found/i.test((e as Error).message ?? "")) throw e;
    }
    const os = await objm.create(bucket, { storage: StorageType.File, replicas });
    log?.info({ bucket, replicas }, `created snapshot bucket ${bucket} with ${replicas} replica(s)`);
    return new SnapshotStore(os, bucket);
  }

  /** Snapshots present, newest (highest sequence) first. Objects with other names are ignored. */
  async list(): Promise<SnapshotObject[]> {
    const out: SnapshotObject[] = [];
    for (const info of await this.os.list()) {
      if (info.deleted) continue;
      const m = NAME_RE.exec(info.name);
      if (!m) continue;
      out.push({ name: info.name, logSeq: Number(m[1]), sizeBytes: info.size });
    }
    return out.sort((a, b) => b.logSeq - a.logSeq);
  }

  /**
   * Reads a whole object. The store checks its SHA-256 digest; a missing
   * object, a digest mismatch, a size mismatch or a stalled read throws.
   */
  async read(name: string, idleTimeoutMs = SNAPSHOT_READ_IDLE_TIMEOUT_MS): Promise<Uint8Array> {
    const r = await this.os.get(name);
    if (!r) throw new WoodsError("NOT_FOUND", `snapshot ${name} is not in ${this.bucket}`);
    const parts: Uint8Array[] = [];
    let total = 0;
    const reader = r.data.getReader();
    let timer: NodeJS.Timeout | undefined;
    const idle = (): Promise<never> =>
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new WoodsError("TIMEOUT", `reading snapshot ${name} received nothing for ${idleTimeoutMs} ms (torn object?)`)), idleTimeoutMs);
      });
    try {
      for (;;) {
        const { done, value } = await Promise.race([reader.read(), idle()]);
        clearTimeout(timer);
        if (done) break;
        parts.push(value);
        total += value.length;
      }
      const err = await r.error;
      if (err) throw err;
    } catch (e) {
      void reader.cancel().catch(() => undefined);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (total !== r.info.size) throw new WoodsError("INTERNAL", `snapshot ${name} has ${total} bytes, its metadata says ${r.info.size}`);
    return Buffer.concat(parts, total);
  }

  /** Writes an object from parts (streamed, never concatenated); returns its size. */
  async write(name: string, parts: readonly Uint8Array[]): Promise<number> {
    let i = 0;
    const rs = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < parts.length) controller.enqueue(parts[i++]);
        else controller.close();
      },
    });
    const info = await this.os.put({ name }, rs);
    return info.size;
  }

  /** Writes raw bytes under a name (tests: a corrupt or torn snapshot). */
  async writeRaw(name: string, data: Uint8Array): Promise<void> {
    await this.os.putBlob({ name }, data);
  }

  async remove(name: string): Promise<void> {
    await this.os.delete(name);
  }
}
