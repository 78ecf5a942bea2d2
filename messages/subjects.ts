/**
 * The one place where subject, stream and bucket names are built. Every name
 * comes from a validating function here so a bad id can never widen a subject
 * (a `*` or `>` smuggled into a token) or escape into another namespace.
 */

const TOKEN_RE = /^[A-Za-z0-9_-]{1,128}$/;
const PREFIX_RE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/;

/** Namenode request verbs, answered on `<prefix>.namenode.<verb>`. */
export const NAMENODE_VERBS = [
  "ping",
  "create",
  "allocate",
  "commit",
  "complete",
  "abandon",
  "stat",
  "ls",
  "rm",
  "nodes",
  "fsck",
  "heartbeat",
  "report",
  // Appends (docs/append.md).
  "appendLocate",
  "appendAllocate",
  "appendChunks",
  "appendLease",
  "appendCommit",
  "appendDropReplica",
  // Renames (woods mv).
  "rename",
  // Decommissioning a datanode (admin only: the client role may not publish it).
  "decommission",
] as const;
export type NamenodeVerb = (typeof NAMENODE_VERBS)[number];

/**
 * What a datanode tells or asks the namenode on its own behalf: its heartbeats and reports, and
 * as the primary of a leased chunk the append verbs. These travel on per-datanode subjects
 * (`<prefix>.namenode.dn.<id>.<verb>`) so a NATS permission can pin each datanode user to its own
 * id; the namenode checks the body against the id (heartbeat/report `id`, appendLease `dn`, the
 * holder of lease `epoch` for appendCommit/appendDropReplica).
 */
export const DATANODE_SELF_VERBS = ["heartbeat", "report", "appendLease", "appendCommit", "appendDropReplica"] as const;
export type DatanodeSelfVerb = (typeof DATANODE_SELF_VERBS)[number];

/**
 * Read-only namenode verbs a standby namenode also answers, on `<prefix>.shadow.<verb>`, from its
 * copy of the namespace (it tails the log): clients fall back to them while no namenode is active.
 */
export const SHADOW_VERBS = ["ping", "stat", "ls", "nodes"] as const;
export type ShadowVerb = (typeof SHADOW_VERBS)[number];

/** Datanode request verbs, answered on `<prefix>.datanode.<id>.<verb>`. */
export const DATANODE_VERBS = ["ping", "open", "close", "abort", "read", "ingest", "replicate", "append", "appendApply", "fullReport"] as const;
export type DatanodeVerb = (typeof DATANODE_VERBS)[number];

/** Event kinds published on `<prefix>.events.<kind>`. */
export const EVENT_KINDS = [
  "file.created",
  "file.deleted",
  "datanode.joined",
  "datanode.dead",
  "datanode.full",
  "chunk.stored",
  "chunk.committed",
  "chunk.deleted",
  "namenode.started",
  // Fault detection and repair (watchdog, scrubber, dir checks).
  "datanode.alive",
  "datanode.dir.failed",
  "chunk.corrupt",
  "chunk.stale",
  "chunk.underreplicated",
  "chunk.repaired",
  "chunk.repair.failed",
  "chunk.trimmed",
  "namenode.safemode.entered",
  "namenode.safemode.left",
  // Appends.
  "file.appended",
  "chunk.lease.granted",
  "chunk.lease.ended",
  "chunk.version.bumped",
  // Renames.
  "file.renamed",
  // Decommissioning (docs/operations.md): started, finished (every chunk it holds has enough copies
  // elsewhere: it may be stopped), and cancelled (back in service).
  "datanode.decommissioning",
  "datanode.decommissioned",
  "datanode.recommissioned",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Throws when `token` cannot be used as one subject token. */
export function assertToken(token: string, what: string): string {
  if (typeof token !== "string" || !TOKEN_RE.test(token)) {
    throw new TypeError(`${what} ${JSON.stringify(token)} is not a valid subject token ([A-Za-z0-9_-]{1,128})`);
  }
  return token;
}

export interface Subjects {
  readonly prefix: string;
  namenode(verb: NamenodeVerb): string;
  /** Wildcard for every namenode verb (used by the namenode to subscribe). */
  namenodeAll(): string;
  datanode(id: string, verb: DatanodeVerb): string;
  /** Subject on which datanode `id` sends its own heartbeats, reports and primary's append requests to the namenode. */
  fromDatanode(id: string, verb: DatanodeSelfVerb): string;
  /** Wildcard over every datanode's `fromDatanode(·, verb)` (the namenode subscribes it). */
  fromDatanodeAll(verb: DatanodeSelfVerb): string;
  /** The datanode id in a subject matched by `fromDatanodeAll` (the token before the verb). */
  datanodeOfSubject(subject: string): string;
  /** Subject on which the frames of one chunk write are fanned out to its replicas. */
  data(writeId: string): string;
  event(kind: EventKind): string;
  eventsAll(): string;
  /** Subject of the namenode's metadata log entries. */
  metaLog(): string;
  /** JetStream stream holding the metadata log. */
  metaStream(): string;
  /** Object Store bucket used to stage chunks of the `staged` write path. */
  stagingBucket(): string;
  /** Object Store bucket (memory storage) that repair transfers pass through. */
  repairBucket(): string;
  /** Object Store bucket holding the namenode's namespace snapshots (checkpoints). */
  snapshotBucket(): string;
  /** KV bucket holding the active namenode's leader lease (docs/operations.md, high availability). */
  leaderBucket(): string;
  /** Subject on which standby namenodes answer read-only verbs (GFS's shadow masters). */
  shadow(verb: ShadowVerb): string;
}

/** Builds every subject for a deployment prefix (default `woods`). */
export function subjects(prefix = "woods"): Subjects {
  if (!PREFIX_RE.test(prefix)) {
    throw new TypeError(`subject prefix ${JSON.stringify(prefix)} must be 1-4 dot-separated tokens of [A-Za-z0-9_-]`);
  }
  const streamBase = prefix.toUpperCase().replace(/[^A-Z0-9]/g, "_");
  const bucketBase = prefix.toLowerCase().replace(/[^a-z0-9_-]/g, "-");
  return {
    prefix,
    namenode: (verb) => {
      if (!(NAMENODE_VERBS as readonly string[]).includes(verb)) throw new TypeError(`unknown namenode verb ${verb}`);
      return `${prefix}.namenode.${verb}`;
    },
    namenodeAll: () => `${prefix}.namenode.*`,
    datanode: (id, verb) => {
      if (!(DATANODE_VERBS as readonly string[]).includes(verb)) throw new TypeError(`unknown datanode verb ${verb}`);
      return `${prefix}.datanode.${assertToken(id, "datanode id")}.${verb}`;
    },
    fromDatanode: (id, verb) => {
      if (!(DATANODE_SELF_VERBS as readonly string[]).includes(verb)) throw new TypeError(`unknown datanode self verb ${verb}`);
      return `${prefix}.namenode.dn.${assertToken(id, "datanode id")}.${verb}`;
    },
    fromDatanodeAll: (verb) => {
      if (!(DATANODE_SELF_VERBS as readonly string[]).includes(verb)) throw new TypeError(`unknown datanode self verb ${verb}`);
      return `${prefix}.namenode.dn.*.${verb}`;
    },
    datanodeOfSubject: (subject) => {
      const tokens = subject.split(".");
      return tokens[tokens.length - 2] ?? "";
    },
    data: (writeId) => `${prefix}.data.${assertToken(writeId, "write id")}`,
    event: (kind) => {
      if (!(EVENT_KINDS as readonly string[]).includes(kind)) throw new TypeError(`unknown event kind ${kind}`);
      return `${prefix}.events.${kind}`;
    },
    eventsAll: () => `${prefix}.events.>`,
    metaLog: () => `${prefix}.meta.log`,
    metaStream: () => `${streamBase}_META`,
    stagingBucket: () => `${bucketBase}-staging`,
    repairBucket: () => `${bucketBase}-repair`,
    snapshotBucket: () => `${bucketBase}-snapshots`,
    leaderBucket: () => `${bucketBase}-leader`,
    shadow: (verb) => {
      if (!(SHADOW_VERBS as readonly string[]).includes(verb)) throw new TypeError(`unknown shadow verb ${verb}`);
      return `${prefix}.shadow.${verb}`;
    },
  };
}
