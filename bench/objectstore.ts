/** Baseline: the NATS Object Store's own put/get of the same file on the same server. */
import { createReadStream, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Objm, setSha256Backend } from "@nats-io/obj";
import { StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** Runs `fn`, e.g. under a CPU meter. */
export type Around = <T>(key: string, fn: () => Promise<T>) => Promise<T>;
const bare: Around = (_key, fn) => fn();

export async function objectStorePutGet(nc: NatsConnection, file: string, outFile: string, sizeBytes: number, around: Around = bare) {
  setSha256Backend("native");
  const objm = new Objm(nc);
  const bucket = `bench-${Date.now()}`;
  const os = await objm.create(bucket, { storage: StorageType.File });
  const t0 = performance.now();
  await around("os_put", () =>
    os.put({ name: "file", options: { max_chunk_size: 1024 * 1024 } }, Readable.toWeb(createReadStream(file, { highWaterMark: 1024 * 1024 })) as ReadableStream<Uint8Array>),
  );
  const putMs = performance.now() - t0;
  const t1 = performance.now();
  await around("os_get", async () => {
    const r = await os.get("file");
    if (!r) throw new Error("object store lost the object");
    await pipeline(Readable.fromWeb(r.data as import("node:stream/web").ReadableStream<Uint8Array>), createWriteStream(outFile));
    if (!(await r.error) === false) throw new Error("object store get failed");
  });
  const getMs = performance.now() - t1;
  await os.destroy();
  const mib = sizeBytes / 1024 / 1024;
  return { putMiBs: mib / (putMs / 1000), getMiBs: mib / (getMs / 1000) };
}
