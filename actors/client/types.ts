/** Shared shapes inside the client: what a chunk writer gets and returns, and the context every operation runs in. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { WoodsConfig } from "../../config/index.js";
import type { NamenodeReplies, NamenodeRequest, NamenodeVerb, Subjects, WoodsError } from "../../messages/index.js";
import type { RetryOptions, RetryPolicy } from "./retry.js";

/**
 * Told how many bytes of a put, get or append are done so far (stored and committed for put,
 * stored for append, delivered to the sink for get) and the total when known. Called with a
 * growing `bytesDone`; the last call of a successful transfer has `bytesDone` = its size.
 */
export type ProgressListener = (bytesDone: number, totalBytes?: number) => void;

/** One chunk to store on its allocated replicas. */
export interface ChunkWriteRequest {
  chunkId: string;
  version: number;
  replicas: string[];
  /** The chunk's bytes; never copied, only sliced. */
  data: Uint8Array;
  /** Bulk frame size for this file (from the namenode's create reply). */
  frameSizeBytes: number;
}

export interface ReplicaFailure {
  dn: string;
  error: WoodsError;
}

export interface ChunkWriteResult {
  /** Replicas that stored, verified and durably renamed the chunk, in allocation order. */
  confirmed: string[];
  failed: ReplicaFailure[];
  /** `crc32:<hex>` of the whole chunk. */
  checksum: string;
  sizeBytes: number;
}

/** A write path (direct fan-out or staged through Object Store). */
export type ChunkWriter = (req: ChunkWriteRequest) => Promise<ChunkWriteResult>;

/** A namenode request with the client's timeout and retry policy. `retry: false` makes exactly one attempt. */
export type NamenodeCall = <V extends NamenodeVerb>(
  verb: V,
  body: NamenodeRequest<V>,
  opts?: { retry?: boolean },
) => Promise<NamenodeReplies[V]>;

/** Everything a client operation needs; built once per connection by WoodsClient. */
export interface ClientContext {
  nc: NatsConnection;
  subj: Subjects;
  config: WoodsConfig;
  log: Logger;
  namenode: NamenodeCall;
  retryPolicy: RetryPolicy;
  /** Injected sleep/rng/clock for the retry policy (tests); real ones otherwise. */
  retryOptions: Pick<RetryOptions, "sleep" | "rng" | "nowMs">;
  /** Milliseconds, for durations only. */
  nowMs: () => number;
}
