/**
 * Applies a {@link ThrottleTarget} to vCPUs through their pre-run hooks: one {@link ThrottleClock}
 * per vCPU, hooks installed while throttling is on, vCPUs kicked when it starts (so the first
 * sleep happens at once) and when it stops (so a sleep in progress ends at once), and the sleep
 * time served accounted.
 */
import type { PreRunHook } from "@ferry/core";
import { ThrottleClock } from "./throttle-clock";
import type { ThrottleTarget } from "./types";

/** What the throttler needs of a vCPU (core's `Vcpu` and migration's `MigratableVcpu` fit). */
export interface ThrottleableVcpu {
  /** Add a hook run before every guest entry; returns its remover. */
  addPreRunHook(hook: PreRunHook): () => void;
  /** Leave the guest (or end a hook sleep) so hooks run again at once. */
  kick(): void;
}

/** The throttle applied to a machine's vCPUs. */
export interface Throttler {
  /** True while hooks are installed. */
  readonly active: boolean;
  /** Apply `target` now (`off` = {@link Throttler.stop}). */
  apply(target: ThrottleTarget): void;
  /** Remove every hook and kick every vCPU; sleeps in progress end now. Idempotent. */
  stop(): void;
  /** The vCPUs were stopped now (e.g. the machine paused): sleeps in progress end now. */
  settle(): void;
  /** Total virtual ns all vCPUs have slept for the throttle so far. */
  sleptNs(): number;
  /** Throttle sleeps started so far (all vCPUs). */
  sleeps(): number;
}

/** Make a throttler over `vcpus`; `now()` is the scheduler's clock. */
export function createThrottler(vcpus: readonly ThrottleableVcpu[], now: () => number): Throttler {
  const n = vcpus.length;
  const clocks = vcpus.map(() => new ThrottleClock());
  const sleepEnd = new Float64Array(n);
  const removers: Array<(() => void) | null> = new Array(n).fill(null);
  let installed = false;
  let total = 0;
  let count = 0;

  const hookFor = (i: number): PreRunHook => {
    const clock = clocks[i];
    return (info) => {
      const s = clock.onEntry(info.nowNs);
      if (s > 0) {
        sleepEnd[i] = info.nowNs + s;
        total += s;
        count++;
      }
      return s;
    };
  };

  const settle = (): void => {
    const t = now();
    for (let i = 0; i < n; i++) {
      if (sleepEnd[i] > t) {
        total -= sleepEnd[i] - t;
        sleepEnd[i] = t;
      }
    }
  };

  const stop = (): void => {
    if (!installed) return;
    installed = false;
    const t = now();
    for (let i = 0; i < n; i++) {
      clocks[i].set({ kind: "off" }, t);
      removers[i]?.();
      removers[i] = null;
    }
    settle();
    for (const v of vcpus) v.kick();
  };

  return {
    get active() {
      return installed;
    },
    apply(target) {
      if (target.kind === "off") {
        stop();
        return;
      }
      const t = now();
      for (const c of clocks) c.set(target, t);
      if (installed) return;
      installed = true;
      for (let i = 0; i < n; i++) removers[i] = vcpus[i].addPreRunHook(hookFor(i));
      for (const v of vcpus) v.kick();
    },
    stop,
    settle,
    sleptNs() {
      const t = now();
      let pending = 0;
      for (let i = 0; i < n; i++) if (sleepEnd[i] > t) pending += sleepEnd[i] - t;
      return total - pending;
    },
    sleeps: () => count,
  };
}
