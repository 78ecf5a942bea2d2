/** Benchmarks connect as the cluster's `admin` user (they create their own baseline streams and subjects). */
import { existsSync } from "node:fs";
import { credsFile } from "../cli/cluster/auth.js";

/** The admin credentials file `cluster up` wrote into `clusterDir`, or "" for a server without users. */
export function adminCreds(clusterDir: string): string {
  const file = credsFile(clusterDir, "admin");
  return existsSync(file) ? file : "";
}
