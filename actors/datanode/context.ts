/** What every datanode handler needs: identity, connection, config, disk engine, writes, appends and reports. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Subjects } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import type { Logger } from "../logger.js";
import type { ChunkStore } from "./store.js";
import type { ActiveWrites } from "./writes.js";
import type { Reporter } from "./reports.js";
import type { ReplicateJobs } from "./handlers/replicate.js";
import type { NamenodeFence } from "./namenode-epoch.js";
import type { AppendStore } from "./append-store.js";
import type { AppendPrimary } from "./append-primary.js";

export interface DatanodeContext {
  id: string;
  nc: NatsConnection;
  subj: Subjects;
  config: WoodsConfig;
  store: ChunkStore;
  writes: ActiveWrites;
  reporter: Reporter;
  /** Repair jobs this node runs as a source. */
  replications: ReplicateJobs;
  /** The highest namenode epoch seen (persisted): orders from older namenodes are refused. */
  fence: NamenodeFence;
  /** In-place appends to the replicas held (appendApply). */
  appends: AppendStore;
  /** Batches of appends to chunks this node is the primary of (append). */
  primary: AppendPrimary;
  log: Logger;
}
