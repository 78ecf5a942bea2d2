/** The dashboard actor: public face. */
export { runDashboard, DEFAULT_DASHBOARD_PORT, MIN_POLL_INTERVAL_MS, type DashboardOptions, type DashboardHandle } from "./main.js";
export {
  createState,
  applyEvent,
  applyNodes,
  applyFsck,
  applyFiles,
  applyFilesError,
  applyPollError,
  viewOf,
  eventsAfter,
  summarize,
  toJsonSafe,
  DEFAULT_LIMITS,
  type DashboardState,
  type DashboardView,
  type DashboardLimits,
  type EventView,
  type NodeView,
} from "./state.js";
export { walkFiles } from "./poller.js";
export { dashboardPage } from "./page.js";
