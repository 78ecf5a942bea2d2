export { runDatanode, type DatanodeHandle } from "./main.js";
export { ChunkStore, type ChunkWriter, type StoredChunk, type StoreUsage } from "./store.js";
