/** What every datanode handler needs: identity, connection, config, disk engine, writes and reports. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Subjects } from "../../messages/index.js";
import type { WoodsConfig } from "../../config/index.js";
import type { Logger } from "../logger.js";
import type { ChunkStore } from "./store.js";
import type { ActiveWrites } from "./writes.js";
import type { Reporter } from "./reports.js";
import type { ReplicateJobs } from "./handlers/replicate.js";

export interface DatanodeContext {
  id: string;
  nc: NatsConnection;
  subj: Subjects;
  config: WoodsConfig;
  store: ChunkStore;
  writes: ActiveWrites;
  reporter: Reporter;
  /** Repair jobs this node runs as a source, and the highest namenode epoch seen. */
  replications: ReplicateJobs;
  log: Logger;
}
