/**
 * Types of the replication watchdog: the view of the cluster it is fed, the
 * events it takes and the effects it asks the wiring to carry out. PURE data.
 */

/** Limits and timers of the watchdog (from `namenode.*` config). */
export interface WatchdogLimits {
  /** Repairs running at once, in total. */
  repairInflightMax: number;
  /** Repairs one datanode takes part in at once (as source or target). */
  repairInflightPerNodeMax: number;
  /** A repair running longer than this is failed (and retried elsewhere). */
  repairTimeoutMs: number;
  /** Attempts per chunk before it is parked for `repairTimeoutMs`, then tried afresh. */
  repairAttemptsMax: number;
  /** Safe mode ends once this fraction of committed chunks has a reported good replica... */
  safeModeReportedFraction: number;
  /** ...plus this long... */
  safeModeExtensionMs: number;
  /** ...or after this long since start, whatever the fraction. */
  safeModeMaxMs: number;
}

/** What the watchdog needs to know about one datanode. */
export interface NodeView {
  id: string;
  /** `full` nodes may be sources, never targets; `dead` ones neither. */
  state: "alive" | "dead" | "full";
  availableBytes: number;
  load: number;
  activeWrites: number;
  /** The node's zone ("" or absent: no zone; all such nodes are one zone). */
  zone?: string;
  /** Being decommissioned: may be a source, never a target; its copies are in `retiring`, not `good`. */
  decommissioning?: boolean;
}

/** One committed chunk of a complete file that is not exactly healthy. */
export interface ChunkView {
  chunkId: string;
  version: number;
  sizeBytes: number;
  checksum: string;
  /** The file's replication factor. */
  replication: number;
  /** Non-dead nodes, not being decommissioned, holding a good copy of the current version (they count). */
  good: string[];
  /**
   * Non-dead nodes being decommissioned holding a good copy of the current version: read from and
   * copied from, never counted toward `replication`, never trimmed.
   */
  retiring?: string[];
  /** Non-dead nodes holding a corrupt copy of the current version. */
  corrupt: string[];
  /** Every node known to hold any copy (any version, any state): never a repair target. */
  holders: string[];
}

/** The cluster as the wiring sees it on one tick. */
export interface ClusterView {
  nowMs: number;
  nodes: NodeView[];
  /**
   * Chunks needing attention: fewer or more good copies than the replication
   * factor, or a corrupt copy. Healthy chunks may be included; they are skipped.
   * Files being written and chunks being deleted must not be included.
   */
  chunks: ChunkView[];
  /** Committed chunks in the namespace (all files), and how many have a reported good copy (safe mode). */
  committedChunks: number;
  reportedChunks: number;
}

/** A failed target inside an otherwise answered repair. */
export interface TargetFailure {
  dn: string;
  code: string;
  message: string;
}

export type WatchdogEvent =
  | { type: "TICK"; view: ClusterView }
  /** The source answered: `confirmed` targets now hold the chunk, `failed` did not. */
  | { type: "REPAIR_SUCCEEDED"; repairId: string; confirmed: string[]; failed: TargetFailure[]; nowMs: number }
  /** The source refused or failed (error reply, unreachable). */
  | { type: "REPAIR_FAILED"; repairId: string; code: string; message: string; nowMs: number }
  /** The source did not answer within `repairTimeoutMs`. */
  | { type: "REPAIR_TIMED_OUT"; repairId: string; nowMs: number }
  /** New limits (a config reload): repairs running keep going, the next tick plans within the new ones. */
  | { type: "LIMITS"; limits: WatchdogLimits };

/** A repair the watchdog ordered and is waiting for. */
export interface Repair {
  repairId: string;
  chunkId: string;
  version: number;
  sizeBytes: number;
  source: string;
  targets: string[];
  startedAtMs: number;
  /** 1 for the first attempt on this chunk. */
  attempt: number;
}

export type WatchdogEffect =
  /** Ask `source` to copy the chunk to `targets` (through the staging bucket). */
  | {
      type: "replicate";
      repairId: string;
      chunkId: string;
      version: number;
      sizeBytes: number;
      checksum: string;
      source: string;
      targets: string[];
      attempt: number;
      /** Good copies when it was ordered, and how many are wanted. */
      live: number;
      replication: number;
      /** Why: too few counted copies (default), or every copy in one zone while another zone has room. */
      reason?: "underreplicated" | "misplaced";
    }
  /** Order `dn` to delete its copy (delivered with its next heartbeat). */
  | { type: "delete"; dn: string; chunkId: string; version: number; reason: "surplus" | "corrupt" }
  /** Take back a delete order not delivered yet (its copy is needed after all). */
  | { type: "cancel-delete"; dn: string; chunkId: string; version: number }
  /** A chunk was found with fewer good copies than wanted (once per episode); live 0 = missing. */
  | {
      type: "underreplicated";
      chunkId: string;
      version: number;
      live: number;
      replication: number;
      /** Good copies on nodes being decommissioned (not counted in `live`; live 0 with some is not missing). */
      retiring?: number;
    }
  | { type: "repaired"; repairId: string; chunkId: string; version: number; source: string; targets: string[]; failed: TargetFailure[]; ms: number; bytes: number }
  | {
      type: "repair-failed";
      repairId: string;
      chunkId: string;
      version: number;
      source: string;
      targets: string[];
      attempt: number;
      code: string;
      reason: string;
      /** True when the chunk used up `repairAttemptsMax` and is parked. */
      parked: boolean;
      ms: number;
    }
  | { type: "safemode-left"; reason: string; afterMs: number; reportedChunks: number; committedChunks: number };

/** Counts from the last tick (fsck and logs). */
export interface WatchdogStats {
  underReplicated: number;
  missing: number;
  overReplicated: number;
  corrupt: number;
}
