/**
 * The vCPU throttle (QEMU's `migration/cpu-throttle.c`: `cpu_throttle_set/stop/active/
 * get_percentage`): makes vCPUs sleep before guest entries through their pre-run hooks, so the
 * guest gets only a share of virtual time. Any policy (auto-converge, rate-converge, …) decides
 * the target; this module only applies it, kicks the vCPUs where that changes something, removes
 * its hooks when stopped, and accounts the sleep time actually served.
 *
 * Two cadences, both per vCPU and pure arithmetic on virtual time (no allocation in the hook):
 *
 * - **percentage** (QEMU's `cpu_throttle_timer_tick` + `cpu_throttle_thread`): every
 *   `10 ms / (1 − p)` of virtual time a sleep of `p / (1 − p) × 10 ms` is due, i.e. the vCPU runs
 *   {@link CPU_THROTTLE_TIMESLICE_NS} and then sleeps. Tick times and sleep lengths are rounded
 *   cumulatively (tick k at `base + round(k × period)`, sleep k = `round((k + 1) × sleep) −
 *   round(k × sleep)`), so over time the vCPU sleeps exactly `p` of the time even when neither is
 *   a whole number of ns. The next tick is armed as the vCPU loop's preemption timer
 *   (`PreRunInfo.preemptAtNs`), so the sleep begins when QEMU's timer would kick the vCPU, in the
 *   middle of a slice, not at the next slice boundary. A tick seen late (a vCPU without
 *   preemption, or out of the guest) is served late but keeps the cadence; a vCPU away for longer
 *   than its running share (halted, paused) takes one sleep and restarts its cadence there.
 * - **fixed** (the 2013 original auto-converge): once the vCPU has run `runNs` since its last
 *   sleep ended, a sleep of `sleepNs` is due.
 */
import { InvalidArgumentError } from "../errors";
import type { Scheduler } from "../time/types";
import type { PreRunHook, PreRunInfo } from "./types";

/** QEMU's `CPU_THROTTLE_TIMESLICE_NS`: a vCPU throttled at a % runs this long between sleeps. */
export const CPU_THROTTLE_TIMESLICE_NS = 10_000_000;

/** What a {@link CpuThrottle} makes the vCPUs do. */
export type ThrottleTarget =
  /** Not throttled. */
  | { readonly kind: "off" }
  /** QEMU's percentage throttle: run 10 ms, sleep `pct / (100 − pct)` × 10 ms (0 < pct < 100). */
  | { readonly kind: "percentage"; readonly pct: number }
  /** A fixed sleep of `sleepNs` each time the vCPU has run `runNs` since its last sleep. */
  | { readonly kind: "fixed"; readonly sleepNs: number; readonly runNs: number };

/**
 * The throttle % a target amounts to: 0 when off, `pct` for a percentage target, the sleep share
 * `100 × sleep / (sleep + run)` rounded to a whole % for a fixed one.
 */
export function throttleTargetPercentage(t: ThrottleTarget): number {
  if (t.kind === "off") return 0;
  if (t.kind === "percentage") return t.pct;
  return Math.round((100 * t.sleepNs) / (t.sleepNs + t.runNs));
}

/** True when `a` and `b` ask for the same throttle. */
export function sameThrottleTarget(a: ThrottleTarget, b: ThrottleTarget): boolean {
  if (a.kind === "off" || b.kind === "off") return a.kind === b.kind;
  if (a.kind === "percentage") return b.kind === "percentage" && a.pct === b.pct;
  return b.kind === "fixed" && a.sleepNs === b.sleepNs && a.runNs === b.runNs;
}

/**
 * The (unrounded) sleep, in ns, that follows each {@link CPU_THROTTLE_TIMESLICE_NS} of running at
 * `pct` %: `pct / (100 − pct) × 10 ms`. Throws {@link InvalidArgumentError} outside (0, 100).
 */
export function throttleSleepNs(pct: number): number {
  checkPct(pct);
  return (CPU_THROTTLE_TIMESLICE_NS * pct) / (100 - pct);
}

function checkPct(pct: number): void {
  if (!(pct > 0 && pct < 100)) {
    throw new InvalidArgumentError(`throttle percentage must be in (0, 100), got ${pct}`);
  }
}

function checkTarget(t: ThrottleTarget): void {
  if (t.kind === "percentage") checkPct(t.pct);
  else if (t.kind === "fixed") {
    if (
      !(t.sleepNs > 0 && Number.isFinite(t.sleepNs)) ||
      !(t.runNs > 0 && Number.isFinite(t.runNs))
    ) {
      throw new InvalidArgumentError(
        `fixed throttle needs finite sleepNs > 0 and runNs > 0, got ${t.sleepNs} and ${t.runNs}`,
      );
    }
  } else if (t.kind !== "off") {
    const kind = String((t as { kind: unknown }).kind);
    throw new InvalidArgumentError(
      `throttle target kind must be "off", "percentage" or "fixed", got ${kind}`,
    );
  }
}

/** One vCPU's throttle cadence, asked before every guest entry: how long to sleep now. */
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
   * Switch to `target` at `nowNs`. Switching on (or to the other kind) makes a sleep due at once
   * (QEMU ticks immediately on activation). Changing the value of the same kind keeps the pending
   * tick and applies the new value from it on (QEMU re-arms its timer with the new value at the
   * next tick), unless `restart` is true: then a sleep with the new value is due at once.
   * Throws {@link InvalidArgumentError} for a target out of range.
   */
  set(target: ThrottleTarget, nowNs: number, restart = false): void {
    checkTarget(target);
    if (target.kind === "off") {
      this.kind = "off";
      this.nextDueNs = Number.POSITIVE_INFINITY;
      return;
    }
    const first = restart || this.kind !== target.kind ? nowNs : this.nextDueNs;
    this.kind = target.kind;
    this.nextDueNs = first;
    if (target.kind === "percentage") {
      const p = target.pct;
      this.periodNs = (CPU_THROTTLE_TIMESLICE_NS * 100) / (100 - p);
      this.sleepNs = (CPU_THROTTLE_TIMESLICE_NS * p) / (100 - p);
      this.baseNs = first;
      this.k = 0;
      return;
    }
    this.sleepNs = target.sleepNs;
    this.runNs = target.runNs;
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

/** What the throttle needs of a vCPU (core's `Vcpu` and migration's `MigratableVcpu` fit). */
export interface ThrottleableVcpu {
  /** Add a hook run before every guest entry; returns its remover. */
  addPreRunHook(hook: PreRunHook): () => void;
  /** Leave the guest (or end a hook sleep) so hooks run again at once. */
  kick(): void;
}

/**
 * When a new value takes effect while the throttle is already on:
 * - `"next-tick"` (QEMU's `cpu_throttle_set`): the pending tick is kept and the new value applies
 *   from it on; no kick.
 * - `"restart"`: sleeps in progress end now, every vCPU is kicked and a sleep with the new value
 *   is due at once (for a controller that decides the whole throttle in one step).
 */
export type ThrottleChangeMode = "next-tick" | "restart";

/** Options of {@link createCpuThrottle}. */
export interface CpuThrottleOptions {
  /** When a changed value takes effect (default `"next-tick"`, like QEMU). */
  readonly onChange?: ThrottleChangeMode;
}

/** The throttle applied to a machine's vCPUs. */
export interface CpuThrottle {
  /** True while throttling is on (hooks installed): `cpu_throttle_active`. */
  readonly active: boolean;
  /** The throttle % in force (0 when off; the rounded sleep share for a fixed target). */
  readonly percentage: number;
  /** The target in force. */
  readonly target: ThrottleTarget;
  /** Throttle sleeps started so far (all vCPUs). */
  readonly sleeps: number;
  /**
   * Throttle at `pct` % (0 < pct < 100; 0 = {@link CpuThrottle.stop}): `cpu_throttle_set`.
   * Throws {@link InvalidArgumentError} for any other value.
   */
  set(pct: number): void;
  /** Sleep `sleepNs` each time a vCPU has run `runNs` since its last sleep (both > 0). */
  setFixed(sleepNs: number, runNs: number): void;
  /** Apply any target (`off` = {@link CpuThrottle.stop}). */
  apply(target: ThrottleTarget): void;
  /** Remove every hook and kick every vCPU; sleeps in progress end now. Idempotent. */
  stop(): void;
  /** The vCPUs were stopped now (e.g. the machine paused): sleeps in progress count as over. */
  settle(): void;
  /** Virtual ns all vCPUs have slept for the throttle so far (one in progress: up to now). */
  sleptNs(): number;
}

/** Where the throttle reads virtual time: a scheduler or its `now` function. */
export type ThrottleTimeSource = Pick<Scheduler, "now"> | (() => number);

const OFF: ThrottleTarget = { kind: "off" };

/**
 * Make a throttle over `vcpus` (anything with `addPreRunHook` and `kick`). Hooks are installed
 * when throttling starts (none before: an unthrottled guest pays nothing) and every vCPU is
 * kicked so the first sleep starts at once; on stop the hooks are removed and every vCPU is
 * kicked so a sleep in progress ends at once.
 */
export function createCpuThrottle(
  vcpus: readonly ThrottleableVcpu[],
  time: ThrottleTimeSource,
  options: CpuThrottleOptions = {},
): CpuThrottle {
  const onChange = options.onChange ?? "next-tick";
  if (onChange !== "next-tick" && onChange !== "restart") {
    throw new InvalidArgumentError(
      `throttle onChange must be "next-tick" or "restart", got ${String(onChange)}`,
    );
  }
  const now: () => number = typeof time === "function" ? time : () => time.now();
  const n = vcpus.length;
  const clocks = vcpus.map(() => new ThrottleClock());
  const sleepEnd = new Float64Array(n);
  const removers: Array<(() => void) | null> = new Array(n).fill(null);
  let target: ThrottleTarget = OFF;
  let total = 0;
  let count = 0;

  const hookFor = (i: number): PreRunHook => {
    const clock = clocks[i];
    return (info: PreRunInfo): number => {
      const s = clock.onEntry(info.nowNs);
      if (s > 0) {
        sleepEnd[i] = info.nowNs + s;
        total += s;
        count++;
      }
      // The throttle timer: the next sleep preempts the guest when it is due.
      const due = clock.dueNs;
      const timer = info.preemptAtNs;
      if (timer !== undefined && due < timer) info.preemptAtNs = due;
      return s;
    };
  };
  const hooks = clocks.map((_, i) => hookFor(i));

  const settle = (): void => {
    const t = now();
    for (let i = 0; i < n; i++) {
      if (sleepEnd[i] > t) {
        total -= sleepEnd[i] - t;
        sleepEnd[i] = t;
      }
    }
  };

  const kickAll = (): void => {
    for (const v of vcpus) v.kick();
  };

  const stop = (): void => {
    if (target.kind === "off") return;
    target = OFF;
    const t = now();
    for (let i = 0; i < n; i++) {
      clocks[i].set(OFF, t);
      removers[i]?.();
      removers[i] = null;
    }
    settle();
    kickAll();
  };

  const apply = (next: ThrottleTarget): void => {
    checkTarget(next);
    if (next.kind === "off") {
      stop();
      return;
    }
    const wasOff = target.kind === "off";
    const restart = !wasOff && onChange === "restart";
    if (restart && sameThrottleTarget(target, next)) return;
    if (restart) settle();
    target = next;
    const t = now();
    for (const c of clocks) c.set(next, t, restart);
    if (wasOff) for (let i = 0; i < n; i++) removers[i] = vcpus[i].addPreRunHook(hooks[i]);
    if (wasOff || restart) kickAll();
  };

  return {
    get active() {
      return target.kind !== "off";
    },
    get percentage() {
      return throttleTargetPercentage(target);
    },
    get target() {
      return target;
    },
    get sleeps() {
      return count;
    },
    set(pct) {
      if (pct === 0) stop();
      else apply({ kind: "percentage", pct });
    },
    setFixed(sleepNs, runNs) {
      apply({ kind: "fixed", sleepNs, runNs });
    },
    apply,
    stop,
    settle,
    sleptNs() {
      const t = now();
      let pending = 0;
      for (let i = 0; i < n; i++) if (sleepEnd[i] > t) pending += sleepEnd[i] - t;
      return total - pending;
    },
  };
}
