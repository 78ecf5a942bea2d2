/** Append verbs (docs/append.md): the client's (locate, allocate, attach) and the primary's (lease, commit, drop). */
export { appendLocate } from "./append-locate.js";
export { appendAllocate, appendChunks } from "./append-chunks.js";
export { appendLease, appendCommit, appendDropReplica } from "./append-primary.js";
