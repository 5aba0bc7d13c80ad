/**
 * Applies a throttle percentage to vCPUs through their pre-run hooks, QEMU-style: a throttled
 * vCPU runs {@link RUN_SLICE_NS} and then sleeps `p / (1 − p)` × 10 ms before entering the guest
 * again. Hooks are installed when throttling starts and removed when it stops; every vCPU is
 * kicked on each change so the new value takes effect at once (a sleep in progress ends and the
 * hook is asked again). The hook allocates nothing.
 */
import type { PreRunHook, PreRunInfo } from "@ferry/core";
import { RUN_SLICE_NS, sleepNsForPct } from "./throttle-math";

/** What the pacer needs of a vCPU (core's `Vcpu` and migration's `MigratableVcpu` fit). */
export interface PacedVcpu {
  /** Add a hook run before every guest entry; returns its remover. */
  addPreRunHook(hook: PreRunHook): () => void;
  /** Leave the guest (or end a hook sleep) so hooks run again at once. */
  kick(): void;
}

/** The throttle applied to one machine's vCPUs. */
export interface Pacer {
  /** The throttle % in force (0 = off, no hooks installed). */
  readonly pct: number;
  /** Throttle at `pct` % from now on (0 = {@link Pacer.stop}); kicks every vCPU on a change. */
  set(pct: number): void;
  /** Remove every hook and kick every vCPU so sleeps in progress end now. Idempotent. */
  stop(): void;
  /** The vCPUs were stopped now (e.g. the machine paused): sleeps in progress count as over. */
  settle(): void;
  /** Virtual ns all vCPUs have slept for the throttle so far. */
  sleptNs(): number;
}

/** Make a pacer over `vcpus`; `now()` is the scheduler's clock. */
export function createPacer(vcpus: readonly PacedVcpu[], now: () => number): Pacer {
  const n = vcpus.length;
  const dueNs = new Float64Array(n);
  const sleepEnd = new Float64Array(n);
  const removers: Array<(() => void) | null> = new Array(n).fill(null);
  let pct = 0;
  let sleepNs = 0;
  let total = 0;

  const hookFor = (i: number): PreRunHook => {
    return (info: PreRunInfo): number => {
      const t = info.nowNs;
      if (sleepNs === 0 || t < dueNs[i]) return 0;
      sleepEnd[i] = t + sleepNs;
      dueNs[i] = t + sleepNs + RUN_SLICE_NS;
      total += sleepNs;
      return sleepNs;
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
    if (pct === 0) return;
    pct = 0;
    sleepNs = 0;
    for (let i = 0; i < n; i++) {
      removers[i]?.();
      removers[i] = null;
    }
    settle();
    for (const v of vcpus) v.kick();
  };

  return {
    get pct() {
      return pct;
    },
    set(next) {
      if (next === 0) {
        stop();
        return;
      }
      const nextSleep = sleepNsForPct(next);
      if (next === pct) return;
      const wasOff = pct === 0;
      settle();
      pct = next;
      sleepNs = nextSleep;
      dueNs.fill(now());
      if (wasOff) for (let i = 0; i < n; i++) removers[i] = vcpus[i].addPreRunHook(hookFor(i));
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
  };
}
