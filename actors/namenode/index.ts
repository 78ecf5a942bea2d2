/** The namenode actor: public face. */
export { runNamenode, type NamenodeOptions, type NamenodeHandle } from "./main.js";
export { Namespace, type FileRecord, type ChunkRecord } from "./namespace.js";
export { Registry } from "./registry.js";
export { Placement, readOrder, seededRng } from "./placement.js";
export { chunkMachine, nextChunkState, type ChunkState, type ChunkEvent } from "./chunk-machine.js";
export { watchdogMachine, startWatchdog, type WatchdogActor } from "./watchdog-machine.js";
export { initialContext, planTick, needsAttention, repairPriority, type WatchdogContext, type WatchdogInput } from "./watchdog-plan.js";
export type { ClusterView, ChunkView, NodeView, WatchdogEvent, WatchdogEffect, WatchdogLimits } from "./watchdog-types.js";
export { parseCrashSpec, CrashTrigger, CRASH_POINTS, type CrashSpec, type CrashPoint } from "./crash-points.js";
