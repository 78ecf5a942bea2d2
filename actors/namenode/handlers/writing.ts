/** Shared checks for requests about a file being written. */
import { WoodsError } from "../../../messages/index.js";
import type { FileRecord } from "../namespace.js";
import type { NamenodeContext } from "../context.js";

/** The file being written, with its lease renewed; LEASE_EXPIRED when the namenode abandoned it. */
export function writingFileRenewed(ctx: NamenodeContext, fileId: string): FileRecord {
  const { state } = ctx;
  if (!state.ns.fileById(fileId) && state.leases.wasExpired(fileId)) {
    throw new WoodsError("LEASE_EXPIRED", `the lease of file ${fileId} expired and the file was abandoned`);
  }
  const f = state.ns.writingFile(fileId);
  state.leases.renew(fileId, ctx.clock());
  return f;
}
