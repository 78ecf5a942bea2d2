/**
 * Invariants every fault test checks: each acknowledged write reads back byte-exact
 * (SHA-256 taken at ack time), replication comes back, and no temp files are left.
 */
import type { ExecutionContext } from "ava";
import { sha256, seededBytes, waitFor, partFiles, replicationRestored, type TestCluster } from "./cluster.js";

/** Files whose put was acknowledged (exit 0), with the SHA-256 of what was sent. */
export class AckedFiles {
  readonly hashes = new Map<string, string>();
  /** Puts that exited non-zero, with their stderr. */
  readonly failed = new Map<string, string>();

  /** Puts `data` at `path`; records it only when the put is acknowledged. */
  async put(cluster: TestCluster, path: string, data: Buffer, env?: NodeJS.ProcessEnv): Promise<boolean> {
    const r = await cluster.put(path, data, { env });
    if (r.code === 0) this.hashes.set(path, sha256(data));
    else this.failed.set(path, r.stderr.trim());
    return r.code === 0;
  }

  paths(): string[] {
    return [...this.hashes.keys()];
  }
}

/** A writer that puts seeded files of varying sizes one after another until stopped. */
export function writeStream(cluster: TestCluster, acked: AckedFiles, opts: { prefix: string; seed: number; minBytes: number; maxBytes: number; max?: number }) {
  let stopped = false;
  let attempts = 0;
  const done = (async () => {
    for (let i = 0; !stopped && i < (opts.max ?? 1000); i++) {
      const size = opts.minBytes + ((i * 7919 + opts.seed) % Math.max(1, opts.maxBytes - opts.minBytes));
      attempts++;
      await acked.put(cluster, `${opts.prefix}/f${i}`, seededBytes(size, opts.seed * 1000 + i));
    }
  })();
  return {
    async stop(): Promise<number> {
      stopped = true;
      await done;
      return attempts;
    },
  };
}

/** Reads every acknowledged file back and checks its SHA-256; returns how long it took. */
export async function assertAllReadBack(t: ExecutionContext, cluster: TestCluster, acked: AckedFiles, timeoutMs = 60_000): Promise<number> {
  const started = Date.now();
  for (const [path, hash] of acked.hashes) {
    const r = await cluster.woods(["get", path, "-"], { timeoutMs });
    t.is(r.code, 0, `${path} was acknowledged but cannot be read: ${r.stderr}`);
    if (r.code === 0) t.is(sha256(r.stdout), hash, `${path} read back different bytes`);
  }
  return Date.now() - started;
}

/** Waits until every acknowledged file has its full replication on live nodes and fsck is healthy. */
export async function assertReplicationRestored(t: ExecutionContext, cluster: TestCluster, paths: Iterable<string>, timeoutMs: number, exact = false): Promise<number> {
  const started = Date.now();
  await waitFor(() => replicationRestored(cluster, paths, { exact }), timeoutMs, `replication restored${exact ? " (exactly)" : ""}`, 500);
  const ms = Date.now() - started;
  t.log(`replication ${exact ? "exactly " : ""}restored ${ms} ms after the check began`);
  t.pass(`replication restored within ${timeoutMs} ms`);
  return ms;
}

/** Waits until no datanode of the cluster holds a temp `.part` file (no unfinished write left behind). */
export async function assertNoPartFiles(t: ExecutionContext, cluster: TestCluster, timeoutMs = 10_000): Promise<void> {
  const status = await cluster.status();
  await waitFor(() => status.datanodes.every((d) => partFiles(d.dir).length === 0) || `not yet: ${status.datanodes.flatMap((d) => partFiles(d.dir)).join(", ")}`, timeoutMs, "no .part files left");
  t.pass();
}

/** Bytes in MiB, for sizes in tests. */
export const MiB = 1024 * 1024;

/** Names of objects still in the staging bucket (empty if the bucket does not exist). */
export async function stagedObjects(url: string, prefix = "woods"): Promise<string[]> {
  const { connect } = await import("@nats-io/transport-node");
  const { Objm } = await import("@nats-io/obj");
  const { subjects } = await import("../../messages/index.js");
  const { authFor } = await import("./cluster.js");
  const nc = await connect({ servers: url, name: "woods-test-staging", ...authFor(url, "admin") });
  try {
    const objm = new Objm(nc);
    let os;
    try {
      os = await objm.open(subjects(prefix).stagingBucket());
    } catch {
      return [];
    }
    const list = await os.list();
    return list.filter((e) => !e.deleted).map((e) => e.name);
  } finally {
    await nc.close();
  }
}

/** Waits until the staging bucket holds no object (staged repairs and writes were cleaned up). */
export async function assertNothingStaged(t: ExecutionContext, cluster: TestCluster, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => {
    const left = await stagedObjects(cluster.url);
    return left.length === 0 || `not yet: ${left.join(", ")}`;
  }, timeoutMs, "an empty staging bucket");
  t.pass();
}

/**
 * Reads a whole replica straight from one datanode (`read` verb, in slices). Resolves with the
 * bytes, or rejects with the datanode's error: the way to check a bad replica is never served.
 */
export async function readReplica(url: string, dn: string, chunk: { id: string; version: number; size: number }, prefix = "woods"): Promise<Buffer> {
  const { connect } = await import("@nats-io/transport-node");
  const { call } = await import("../../actors/rpc.js");
  const { subjects } = await import("../../messages/index.js");
  const { authFor } = await import("./cluster.js");
  const nc = await connect({ servers: url, name: "woods-test-replica-read", ...authFor(url, "client") });
  try {
    const out = Buffer.alloc(chunk.size);
    const slice = 1024 * 1024;
    for (let offset = 0; offset < chunk.size; offset += slice) {
      const length = Math.min(slice, chunk.size - offset);
      const r = await call<{ data: Uint8Array }>(nc, subjects(prefix).datanode(dn, "read"), { chunkId: chunk.id, version: chunk.version, offset, length }, 5000);
      if (r.data.length !== length) throw new Error(`${dn} returned ${r.data.length} bytes for ${length} at ${offset}`);
      out.set(r.data, offset);
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** `crc32:<hex>` of `data`, as the namenode records chunk checksums. */
export async function chunkChecksumOf(data: Uint8Array): Promise<string> {
  const { crc32 } = await import("node:zlib");
  const { chunkChecksum } = await import("../../messages/index.js");
  return chunkChecksum(crc32(data));
}
