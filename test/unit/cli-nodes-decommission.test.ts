/** `woods nodes` lines with zones and decommissioning, and the sentences `woods decommission` prints. */
import test from "ava";
import { formatNode } from "../../cli/output.js";
import { describe } from "../../cli/decommission.js";
import type { NodeInfo } from "../../messages/index.js";

const info = (over: Partial<NodeInfo> = {}): NodeInfo => ({
  id: "dn1",
  state: "alive",
  capacityBytes: 4 * 1024 ** 3,
  usedBytes: 1024 ** 3,
  availableBytes: 3 * 1024 ** 3,
  chunks: 42,
  load: 0.5,
  activeWrites: 0,
  lastHeartbeatMsAgo: 100,
  ...over,
});

test("a node without zone nor decommissioning prints as before", (t) => {
  t.is(formatNode(info()), "dn1      alive  used 1.0 GiB of 4.0 GiB  42 chunks  load 0.50");
  t.is(formatNode(info({ zone: "", adminState: "in-service" })), "dn1      alive  used 1.0 GiB of 4.0 GiB  42 chunks  load 0.50");
});

test("the zone and the decommissioning state are shown", (t) => {
  t.is(formatNode(info({ zone: "rack2" })), "dn1      alive  zone rack2  used 1.0 GiB of 4.0 GiB  42 chunks  load 0.50");
  t.regex(formatNode(info({ adminState: "decommissioning", decommissionChunksLeft: 7 })), /load 0\.50  decommissioning \(7 chunks left\)$/);
  t.regex(formatNode(info({ adminState: "decommissioning" })), /load 0\.50  decommissioning$/);
  t.regex(formatNode(info({ state: "dead", adminState: "decommissioned" })), /^dn1 +dead .* decommissioned$/);
});

test("decommission replies read as sentences", (t) => {
  const base = { id: "dn3", state: "alive" as const, chunks: 12, chunksLeft: 0 };
  t.is(describe({ ...base, adminState: "in-service" }), "dn3 is in service");
  t.is(describe({ ...base, adminState: "decommissioning", chunksLeft: 5 }), "dn3 is decommissioning: 5 of 12 chunk(s) left to copy");
  t.is(
    describe({ ...base, adminState: "decommissioning", waitingFor: "dn3 has not sent its full report to this namenode yet" }),
    "dn3 is decommissioning: 0 of 12 chunk(s) left to copy (waiting: dn3 has not sent its full report to this namenode yet)",
  );
  t.is(describe({ ...base, state: "dead", adminState: "decommissioned" }), "dn3 (dead) is decommissioned: each of its 12 chunk(s) has enough copies elsewhere; it can be stopped");
});
