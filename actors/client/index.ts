/** The client library: what the CLI, benchmarks and tests may use. */
export { WoodsClient, type ClientOptions, type EventSubscription } from "./client.js";
export type { PutOptions, PutResult } from "./put.js";
export type { GetOptions, GetResult } from "./get.js";
export type { AppendOptions, AppendResult } from "./append.js";
export { withRetry, retryDelayMs, isRetryable, type RetryPolicy, type RetryOptions } from "./retry.js";
export { chunkStream, type ByteSource } from "./chunker.js";
export { fileSource } from "./file-source.js";
export type { ChunkWriteRequest, ChunkWriteResult, ChunkWriter, ReplicaFailure, ProgressListener } from "./types.js";
