/** What every namenode request handler gets: state, config, clock, and the effects it may cause. */
import type { EventKind, LogEntry, NamenodeReplies, NamenodeRequest, NamenodeVerb } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import type { Logger } from "../logger.js";
import type { NamenodeState } from "./state.js";

export interface NamenodeContext {
  readonly config: WoodsConfig;
  readonly log: Logger;
  readonly clock: () => number;
  readonly state: NamenodeState;
  /** This namenode's epoch (written to the log at start). */
  epoch(): number;
  /** Last sequence acknowledged by the metadata stream. */
  logSeq(): number;
  /** A fresh id for files and chunks. */
  newId(): string;
  /**
   * Applies an entry in memory now, then resolves once the log holds it.
   * `beforeAppend` runs between the two (the before-append crash point).
   */
  logAndApply(entry: LogEntry, opts?: { beforeAppend?: () => void }): Promise<number>;
  /** Resolves once everything applied so far is in the log (for answering retried requests). */
  sync(): Promise<void>;
  /** Publishes an event (best effort). */
  event(kind: EventKind, fields: Record<string, unknown>): void;
}

export type VerbHandler<V extends NamenodeVerb> = (
  ctx: NamenodeContext,
  req: NamenodeRequest<V>,
) => Promise<NamenodeReplies[V]> | NamenodeReplies[V];
