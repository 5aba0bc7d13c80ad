/**
 * One throttle per machine, shared by everyone who wants the vCPUs slowed: auto-converge (during a
 * migration) and an operator's external `cpu-throttle` (the 2013 proposal's first alternative: a
 * management layer throttles the guest from outside, migration or not). Each requester is a named
 * **source** with its own target; the vCPUs get the strongest one — the target with the highest
 * throttle % ({@link throttleTargetPercentage}; on a tie the earliest source wins) — through a
 * single {@link createCpuThrottle}, so two requesters never add their sleeps up.
 *
 * The control of a vCPU set is found with {@link throttleControlFor} (one per `vcpus` array), so
 * plugins and the machine's owner share it without knowing each other.
 */
import {
  type CpuThrottle,
  createCpuThrottle,
  type ThrottleableVcpu,
  type ThrottleTarget,
  type ThrottleTimeSource,
  throttleTargetPercentage,
} from "./throttle";

/** One requester's handle: the {@link CpuThrottle} interface over its own target. */
export interface ThrottleSource extends CpuThrottle {
  /** The source's name (`auto-converge`, `external`, …). */
  readonly name: string;
  /** The target this source asks for (the vCPUs may follow a stronger one). */
  readonly requested: ThrottleTarget;
}

/** The shared throttle of a set of vCPUs. */
export interface ThrottleControl {
  /**
   * A handle on the source named `name` (its target persists across handles; this handle's sleep
   * counters start now).
   */
  source(name: string): ThrottleSource;
  /** The target in force (the strongest source's). */
  readonly target: ThrottleTarget;
  /** The throttle % in force. */
  readonly percentage: number;
  /** Every source with the target it asks for (for `query` commands and reports). */
  sources(): ReadonlyArray<{ readonly name: string; readonly target: ThrottleTarget }>;
}

const OFF: ThrottleTarget = { kind: "off" };

/** Make a control over `vcpus`. Prefer {@link throttleControlFor} to share it. */
export function createThrottleControl(
  vcpus: readonly ThrottleableVcpu[],
  time: ThrottleTimeSource,
): ThrottleControl {
  const throttle = createCpuThrottle(vcpus, time);
  const wanted = new Map<string, ThrottleTarget>();

  const strongest = (): ThrottleTarget => {
    let best: ThrottleTarget = OFF;
    let bestPct = 0;
    for (const t of wanted.values()) {
      const pct = throttleTargetPercentage(t);
      if (t.kind !== "off" && (best.kind === "off" || pct > bestPct)) {
        best = t;
        bestPct = pct;
      }
    }
    return best;
  };
  const update = (): void => {
    const next = strongest();
    if (next.kind === "off") throttle.stop();
    else throttle.apply(next);
  };

  const makeSource = (name: string): ThrottleSource => {
    const slept0 = throttle.sleptNs();
    const sleeps0 = throttle.sleeps;
    if (!wanted.has(name)) wanted.set(name, OFF);
    const apply = (t: ThrottleTarget): void => {
      const previous = wanted.get(name) ?? OFF;
      wanted.set(name, t);
      try {
        update();
      } catch (e) {
        // an invalid target (the real throttle's checks) changes nothing
        wanted.set(name, previous);
        update();
        throw e;
      }
    };
    const src: ThrottleSource = {
      name,
      get requested() {
        return wanted.get(name) ?? OFF;
      },
      get active() {
        return throttle.active;
      },
      get percentage() {
        return throttle.percentage;
      },
      get target() {
        return throttle.target;
      },
      get sleeps() {
        return throttle.sleeps - sleeps0;
      },
      set(pct) {
        apply(pct === 0 ? OFF : { kind: "percentage", pct });
      },
      setFixed(sleepNs, runNs) {
        apply({ kind: "fixed", sleepNs, runNs });
      },
      apply,
      stop() {
        apply(OFF);
      },
      settle: () => throttle.settle(),
      sleptNs: () => throttle.sleptNs() - slept0,
    };
    return src;
  };

  return {
    source: makeSource,
    get target() {
      return throttle.target;
    },
    get percentage() {
      return throttle.percentage;
    },
    sources: () => [...wanted].map(([name, target]) => ({ name, target })),
  };
}

const controls = new WeakMap<readonly ThrottleableVcpu[], ThrottleControl>();

/**
 * The shared control of `vcpus` (a machine's `vcpus` array), made on first use with `time` as its
 * clock. Everyone who throttles the same machine gets the same control.
 */
export function throttleControlFor(
  vcpus: readonly ThrottleableVcpu[],
  time: ThrottleTimeSource,
): ThrottleControl {
  let c = controls.get(vcpus);
  if (c === undefined) {
    c = createThrottleControl(vcpus, time);
    controls.set(vcpus, c);
  }
  return c;
}
