/** The namenode actor: public face. */
export { runNamenode, type NamenodeOptions, type NamenodeHandle } from "./main.js";
export { Namespace, type FileRecord, type ChunkRecord } from "./namespace.js";
export { Registry } from "./registry.js";
export { Placement, readOrder, seededRng } from "./placement.js";
export { chunkMachine, nextChunkState, type ChunkState, type ChunkEvent } from "./chunk-machine.js";
