/** Every namenode verb and its handler. */
import type { NamenodeVerb } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";
import { create } from "./create.js";
import { allocate } from "./allocate.js";
import { commit } from "./commit.js";
import { complete } from "./complete.js";
import { abandon, rm, removeFile } from "./remove.js";
import { stat, ls } from "./read.js";
import { ping, nodes, fsck } from "./cluster.js";
import { heartbeat, report, announceNodeTransition } from "./datanode.js";
import { rename } from "./rename.js";
import { decommission } from "./decommission.js";
import { appendLocate, appendAllocate, appendChunks, appendLease, appendCommit, appendDropReplica } from "./append.js";

export const handlers: { [V in NamenodeVerb]: VerbHandler<V> } = {
  ping,
  create,
  allocate,
  commit,
  complete,
  abandon,
  stat,
  ls,
  rm,
  nodes,
  fsck,
  heartbeat,
  report,
  appendLocate,
  appendAllocate,
  appendChunks,
  appendLease,
  appendCommit,
  appendDropReplica,
  rename,
  decommission,
};

export { removeFile, announceNodeTransition };
