/** Append verbs (docs/append.md). Placeholders until the namenode side lands. */
import { WoodsError } from "../../../messages/index.js";
import type { VerbHandler } from "../context.js";

const notYet = (): never => {
  throw new WoodsError("UNSUPPORTED", "append is not supported by this namenode yet");
};

export const appendLocate: VerbHandler<"appendLocate"> = notYet;
export const appendAllocate: VerbHandler<"appendAllocate"> = notYet;
export const appendChunks: VerbHandler<"appendChunks"> = notYet;
export const appendLease: VerbHandler<"appendLease"> = notYet;
export const appendCommit: VerbHandler<"appendCommit"> = notYet;
export const appendDropReplica: VerbHandler<"appendDropReplica"> = notYet;
