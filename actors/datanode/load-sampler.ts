/**
 * CPU load for heartbeats. systeminformation's first currentLoad() takes ~500 ms, so the
 * heartbeat reads a cached value and a refresh runs in the background.
 */
import si from "systeminformation";

export class LoadSampler {
  private value = 0;
  private refreshing = false;

  /** Last measured CPU load in percent (0 until the first sample lands). */
  get current(): number {
    return this.value;
  }

  /** Starts a background refresh unless one is running; never throws. */
  refresh(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    si.currentLoad()
      .then((l) => {
        if (Number.isFinite(l.currentLoad)) this.value = Math.max(0, l.currentLoad);
      })
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = false;
      });
  }
}
