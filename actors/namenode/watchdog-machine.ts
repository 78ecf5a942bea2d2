/**
 * The replication watchdog as a pure XState v5 machine (no I/O, no clock):
 *
 *   safeMode --TICK [reported fraction + extension, or safeModeMaxMs]--> active
 *
 * In `safeMode` a TICK only notes how many chunks have been reported; in
 * `active` it finds under-replicated chunks (fewest good copies first), orders
 * repairs within the in-flight limits, retries failed ones elsewhere, and
 * trims surplus and corrupt copies. Like etcd raft's Ready, every event leaves
 * the effects to carry out in `context.outbox`; the wiring (repairs.ts) reads
 * them after each `send` and does the I/O. The decisions are in watchdog-plan.ts.
 */
import { assign, setup, createActor, type SnapshotFrom } from "xstate";
import { initialContext, leaveSafeMode, onRepairOutcome, planTick, safeModeDecision, safeModeTick, type WatchdogContext, type WatchdogInput } from "./watchdog-plan.js";
import type { WatchdogEvent } from "./watchdog-types.js";

export const watchdogMachine = setup({
  types: {
    context: {} as WatchdogContext,
    events: {} as WatchdogEvent,
    input: {} as WatchdogInput,
  },
  guards: {
    safeModeOver: ({ context, event }) => event.type === "TICK" && safeModeDecision(context, event.view).leave,
  },
  actions: {
    clearOutbox: assign({ outbox: () => [] }),
    noteSafeMode: assign(({ context, event }) => (event.type === "TICK" ? safeModeTick(context, event.view) : context)),
    leaveSafeMode: assign(({ context, event }) => (event.type === "TICK" ? leaveSafeMode(context, event.view) : context)),
    plan: assign(({ context, event }) => (event.type === "TICK" ? planTick(context, event.view) : context)),
    outcome: assign(({ context, event }) => (event.type === "TICK" || event.type === "LIMITS" ? context : onRepairOutcome(context, event))),
    setLimits: assign(({ context, event }) => (event.type === "LIMITS" ? { ...context, limits: { ...event.limits } } : context)),
  },
}).createMachine({
  id: "watchdog",
  context: ({ input }) => initialContext(input),
  initial: "safeMode",
  on: {
    // Outcomes are recorded in either state (none are expected in safe mode: no repair starts there).
    REPAIR_SUCCEEDED: { actions: ["clearOutbox", "outcome"] },
    REPAIR_FAILED: { actions: ["clearOutbox", "outcome"] },
    REPAIR_TIMED_OUT: { actions: ["clearOutbox", "outcome"] },
    // A config reload; safe mode keeps counting with the new fraction and timers too.
    LIMITS: { actions: ["clearOutbox", "setLimits"] },
  },
  states: {
    safeMode: {
      on: {
        TICK: [
          { guard: "safeModeOver", target: "active", actions: ["clearOutbox", "leaveSafeMode", "plan"] },
          { actions: ["clearOutbox", "noteSafeMode"] },
        ],
      },
    },
    active: {
      on: { TICK: { actions: ["clearOutbox", "plan"] } },
    },
  },
});

export type WatchdogSnapshot = SnapshotFrom<typeof watchdogMachine>;

/** Starts a watchdog actor (in memory; it has no timers of its own). */
export function startWatchdog(input: WatchdogInput) {
  const actor = createActor(watchdogMachine, { input });
  actor.start();
  return actor;
}

export type WatchdogActor = ReturnType<typeof startWatchdog>;
