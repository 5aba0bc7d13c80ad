/**
 * One vCPU's throttle cadence, asked before every guest entry: how long to sleep now. Pure
 * arithmetic on virtual time, no allocation per call.
 *
 * - `percentage` (QEMU's `cpu_throttle_timer_tick` + `cpu_throttle_thread`): every
 *   `10 ms / (1 − p)` of virtual time a sleep of `p / (1 − p) × 10 ms` is due. Tick times and
 *   sleep lengths are rounded cumulatively (tick k at `base + round(k × period)`, sleep k =
 *   `round((k + 1) × sleep) − round(k × sleep)`), so over time the vCPU sleeps exactly `p` of the
 *   time even when neither is a whole number of ns. A tick seen late (the hook runs at slice
 *   boundaries) is served late but keeps the cadence; when the vCPU was away for longer than its
 *   running share (halted, paused), the cadence restarts at that entry.
 * - `fixed` (the 2013 original): once the vCPU has run `runNs` since its last sleep ended, a sleep
 *   of `sleepNs` is due.
 */
import { THROTTLE_TIMESLICE_NS, type ThrottleTarget } from "./types";

/** The cadence of one vCPU. */
export class ThrottleClock {
  private kind: ThrottleTarget["kind"] = "off";
  private periodNs = 0;
  private sleepNs = 0;
  private runNs = 0;
  private baseNs = 0;
  private k = 0;
  private nextDueNs = Number.POSITIVE_INFINITY;

  /** Virtual time at which the next sleep is due (Infinity when off). */
  get dueNs(): number {
    return this.nextDueNs;
  }

  /**
   * Switch to `target` at `nowNs`. Switching on makes a sleep due at once (QEMU ticks immediately
   * on activation); changing the percentage keeps the pending tick and applies the new value from
   * it on (QEMU re-arms its timer with the new value at the next tick).
   */
  set(target: ThrottleTarget, nowNs: number): void {
    const wasOff = this.kind === "off";
    if (target.kind === "off") {
      this.kind = "off";
      this.nextDueNs = Number.POSITIVE_INFINITY;
      return;
    }
    if (target.kind === "percentage") {
      const p = target.pct;
      if (!(p > 0 && p < 100)) throw new RangeError(`throttle % must be in (0, 100), got ${p}`);
      const first = wasOff || this.kind !== "percentage" ? nowNs : this.nextDueNs;
      this.kind = "percentage";
      this.periodNs = (THROTTLE_TIMESLICE_NS * 100) / (100 - p);
      this.sleepNs = (THROTTLE_TIMESLICE_NS * p) / (100 - p);
      this.baseNs = first;
      this.k = 0;
      this.nextDueNs = first;
      return;
    }
    if (!(target.sleepNs > 0) || !(target.runNs > 0)) {
      throw new RangeError(
        `fixed throttle needs sleepNs > 0 and runNs > 0, got ${target.sleepNs} and ${target.runNs}`,
      );
    }
    const first = wasOff || this.kind !== "fixed" ? nowNs : this.nextDueNs;
    this.kind = "fixed";
    this.sleepNs = target.sleepNs;
    this.runNs = target.runNs;
    this.nextDueNs = first;
  }

  /** The pre-run decision at `nowNs`: ns to sleep before entering the guest (0 = enter now). */
  onEntry(nowNs: number): number {
    if (nowNs < this.nextDueNs) return 0;
    if (this.kind === "fixed") {
      this.nextDueNs = nowNs + this.sleepNs + this.runNs;
      return this.sleepNs;
    }
    if (nowNs - this.nextDueNs > this.periodNs - this.sleepNs) {
      // Away for longer than a whole running share: restart the cadence here.
      this.baseNs = nowNs;
      this.k = 0;
    }
    const k = this.k;
    const sleep = Math.round((k + 1) * this.sleepNs) - Math.round(k * this.sleepNs);
    this.k = k + 1;
    this.nextDueNs = this.baseNs + Math.round(this.k * this.periodNs);
    return sleep;
  }
}
