/**
 * The per-vCPU dirty page rate limit (QEMU's `system/dirtylimit.c`, KVM dirty ring only): a
 * "dirtyrate-stat" task measures every vCPU's dirty rate from its dirty ring once per period and
 * adjusts that vCPU's `throttle_us_per_full`; each time a limited vCPU leaves the guest because its
 * ring is full (`KVM_EXIT_DIRTY_RING_FULL`), only its own ring is reaped and it sleeps that long
 * (`dirtylimit_vcpu_execute`). A vCPU that dirties no memory never fills its ring, so it never
 * sleeps — the difference from the CPU throttle, which slows every vCPU alike.
 *
 * Units follow QEMU: rates and quotas in MB/s (QEMU's "MB" is MiB: pages → MiB, truncated, then
 * `× 1000 / period_ms`), sleeps in µs. The adjustment (`dirtylimit_set_throttle`):
 * - nothing when `|quota − current| ≤ 25` ({@link DIRTYLIMIT_TOLERANCE_RANGE});
 * - `current = 0`: no sleep;
 * - when `|quota − current| × 100 / max(quota, current) > 50` (linear): `sleep_pct = (current −
 *   quota) × 100 / current` and the sleep grows by `ring_full_us × sleep_pct / (100 − sleep_pct)`
 *   (under quota: shrinks, with `(quota − current) × 100 / quota`);
 * - otherwise ± `ring_full_us / 10`;
 * - clamped to `[0, ring_full_us × 99]`, where `ring_full_us = ring_MiB × 1e6 / max_rate` and
 *   `max_rate` is the highest rate seen so far (per machine here; QEMU keeps it per process).
 *
 * Everything runs on the machine's scheduler (virtual time: deterministic). One instance per
 * machine ({@link dirtyLimitOf}), shared by the standalone commands (`set-vcpu-dirty-limit`, …)
 * and the `dirty-limit` migration capability, as QEMU's global state is.
 */
import { InvalidArgumentError, InvalidStateError } from "../errors";
import type { DirtyRings } from "../memory/dirty-ring";
import { PAGE_SIZE, type DirtyLog } from "../memory/types";
import type { Scheduler, Timer } from "../time/types";
import type { PreRunHook, PreRunInfo } from "./types";

/** QEMU's `DIRTYLIMIT_TOLERANCE_RANGE` (MB/s): no adjustment within this distance of the quota. */
export const DIRTYLIMIT_TOLERANCE_RANGE = 25;
/** QEMU's `DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT`: above this relative error, adjust linearly. */
export const DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT = 50;
/** QEMU's `DIRTYLIMIT_THROTTLE_PCT_MAX`: the sleep is at most 99 ring-full times. */
export const DIRTYLIMIT_THROTTLE_PCT_MAX = 99;
/** QEMU's `DIRTYLIMIT_CALC_TIME_MS`: the measuring period outside a dirty-limit migration. */
export const DIRTYLIMIT_CALC_TIME_MS = 1000;

const NS_PER_US = 1000;
const NS_PER_MS = 1_000_000;
const PAGES_PER_MIB = (1024 * 1024) / PAGE_SIZE;

/** What the dirty limit needs of a vCPU (core's `Vcpu` and migration's `MigratableVcpu` fit). */
export interface DirtyLimitVcpu {
  /** Add a hook run before every guest entry; returns its remover. */
  addPreRunHook(hook: PreRunHook): () => void;
  /** Leave the guest so the hooks run again at once. */
  kick(): void;
}

/** What the dirty limit needs of a machine (core's `Machine` fits). */
export interface DirtyLimitMachine {
  readonly vcpus: readonly DirtyLimitVcpu[];
  /** The per-vCPU dirty rings (null: the machine tracks dirty pages with a bitmap). */
  readonly dirtyRings: DirtyRings | null;
  /** RAM regions whose dirty log the measurement needs on (`memory.ramRegions`). */
  readonly memory: { readonly ramRegions: readonly { readonly dirty: DirtyLog }[] };
  /** Replace what a `DirtyRingFull` exit does. */
  setDirtyRingFullHandler(handler: (vcpu: number, rings: DirtyRings, atNs: number) => void): void;
}

/** True when `m` has what {@link dirtyLimitOf} needs (a dirty-ring machine or not). */
export function isDirtyLimitMachine(m: unknown): m is DirtyLimitMachine {
  const o = m as Partial<DirtyLimitMachine> | null;
  return (
    typeof o === "object" &&
    o !== null &&
    Array.isArray(o.vcpus) &&
    "dirtyRings" in o &&
    typeof o.setDirtyRingFullHandler === "function"
  );
}

/** One limited vCPU, as `query-vcpu-dirty-limit` reports it (QEMU's `DirtyLimitInfo`). */
export interface DirtyLimitInfo {
  readonly "cpu-index": number;
  /** Quota (MB/s). */
  readonly "limit-rate": number;
  /** Dirty rate measured in the last period (MB/s). */
  readonly "current-rate": number;
}

/** The per-machine dirty-limit state (QEMU's `dirtylimit_state` + `vcpu_dirty_rate_stat`). */
export interface DirtyLimit {
  /** True while at least one vCPU is limited (`dirtylimit_in_service`). */
  readonly inService: boolean;
  /** The measuring period (ms), 1..1000. */
  readonly periodMs: number;
  /** The dirty ring size (entries per vCPU). */
  readonly ringSize: number;
  /** Number of vCPUs. */
  readonly vcpuCount: number;
  /**
   * Limit vCPU `cpuIndex` (all when undefined) to `quotaMBps` MB/s; 0 cancels
   * (`qmp_set_vcpu_dirty_limit` without its migration check). Starts the measuring task.
   */
  set(quotaMBps: number, cpuIndex?: number): void;
  /** Remove the limit of `cpuIndex` (all when undefined); the last one stops the service. */
  cancel(cpuIndex?: number): void;
  /** Set the measuring period (ms, 1..1000); applies from the next period. */
  setPeriod(ms: number): void;
  /** Limited vCPUs in index order (`query-vcpu-dirty-limit`); empty when not in service. */
  query(): DirtyLimitInfo[];
  /** True when vCPU `i` is limited. */
  isLimited(i: number): boolean;
  /** Quota of vCPU `i` (MB/s; 0 when not limited). */
  quota(i: number): number;
  /** Dirty rate of vCPU `i` in the last period (MB/s). */
  currentRate(i: number): number;
  /** vCPU `i`'s sleep per ring-full exit (µs; `cpu->throttle_us_per_full`). */
  throttleUsPerFull(i: number): number;
  /** The largest per-vCPU sleep per ring-full (µs): `dirty-limit-throttle-time-per-round`. */
  throttleTimePerRound(): number;
  /** Estimated time to fill a ring at the mean vCPU rate (µs): `dirty-limit-ring-full-time`. */
  ringFullTime(): number;
  /** Periods measured so far. */
  readonly periods: number;
  /** Dirty-limit sleeps started so far (all vCPUs). */
  readonly sleeps: number;
  /** Virtual ns slept for the limit so far (all vCPUs; a sleep in progress up to now). */
  sleptNs(): number;
  /** Virtual ns vCPU `i` slept for the limit so far. */
  vcpuSleptNs(i: number): number;
  /** The vCPUs were stopped now (machine paused): sleeps in progress are over. */
  settle(): void;
  /**
   * True while a migration with the `dirty-limit` capability drives the limit: the standalone
   * commands are then refused (QEMU's `dirtylimit_is_allowed`).
   */
  migrationOwned: boolean;
}

/** The dirty-rate unit of QEMU's `do_calculate_dirtyrate`: ⌊pages → MiB⌋ × 1000 / period. */
export function dirtyRateMBps(pages: number, periodMs: number): number {
  return Math.floor((Math.floor(pages / PAGES_PER_MIB) * 1000) / periodMs);
}

/**
 * The new `throttle_us_per_full` after one adjustment of a vCPU at `current` MB/s against
 * `quota` (see the module comment); `ringFullUs` is `ring_MiB × 1e6 / max_rate`. Pure.
 */
export function adjustThrottleUs(
  throttleUs: number,
  quota: number,
  current: number,
  ringFullUs: number,
): number {
  const lo = Math.min(quota, current);
  const hi = Math.max(quota, current);
  if (hi - lo <= DIRTYLIMIT_TOLERANCE_RANGE) return throttleUs;
  if (current === 0) return 0;
  let t = throttleUs;
  if (Math.floor(((hi - lo) * 100) / hi) > DIRTYLIMIT_LINEAR_ADJUSTMENT_PCT) {
    if (quota < current) {
      const pct = Math.floor(((current - quota) * 100) / current);
      t += Math.floor((ringFullUs * pct) / (100 - pct));
    } else {
      const pct = Math.floor(((quota - current) * 100) / quota);
      t -= Math.floor((ringFullUs * pct) / (100 - pct));
    }
  } else if (quota < current) {
    t += Math.floor(ringFullUs / 10);
  } else {
    t -= Math.floor(ringFullUs / 10);
  }
  t = Math.min(t, ringFullUs * DIRTYLIMIT_THROTTLE_PCT_MAX);
  return Math.max(t, 0);
}

function checkPeriod(ms: number): void {
  if (!Number.isInteger(ms) || ms < 1 || ms > 1000) {
    throw new InvalidArgumentError(
      `x-vcpu-dirty-limit-period must be an integer from 1 to 1000 ms, got ${ms}`,
    );
  }
}

/** QEMU's refusal when the machine has no dirty ring (same text). */
export const DIRTY_RING_REQUIRED =
  "dirty page limit feature requires KVM with accelerator property 'dirty-ring-size' set'";

const instances = new WeakMap<object, DirtyLimit>();

/**
 * The dirty limit of `machine` (made on first use; one per machine). Throws
 * {@link InvalidStateError} with QEMU's message when the machine has no dirty ring.
 */
export function dirtyLimitOf(
  machine: DirtyLimitMachine,
  scheduler: Pick<Scheduler, "now" | "at">,
): DirtyLimit {
  const existing = instances.get(machine);
  if (existing !== undefined) return existing;
  const rings = machine.dirtyRings;
  if (rings === null) throw new InvalidStateError(DIRTY_RING_REQUIRED);
  const d = createDirtyLimit(machine, rings, scheduler);
  instances.set(machine, d);
  return d;
}

function createDirtyLimit(
  machine: DirtyLimitMachine,
  rings: DirtyRings,
  scheduler: Pick<Scheduler, "now" | "at">,
): DirtyLimit {
  const vcpus = machine.vcpus;
  const n = vcpus.length;
  const enabled = new Uint8Array(n);
  const quotas = new Float64Array(n);
  const rates = new Float64Array(n);
  const throttleUs = new Float64Array(n);
  const lastPushed = new Float64Array(n);
  const pending = new Float64Array(n);
  const sleepEnd = new Float64Array(n);
  const slept = new Float64Array(n);
  const removers: Array<(() => void) | null> = new Array(n).fill(null);
  const ringMiB = (rings.size * PAGE_SIZE) / (1024 * 1024);
  let limited = 0;
  let periodMs = DIRTYLIMIT_CALC_TIME_MS;
  let timer: Timer | null = null;
  let periodStart = 0;
  let maxRate = 0;
  let periods = 0;
  let sleeps = 0;

  const ringFullUs = (rate: number): number => {
    if (maxRate < rate) maxRate = rate;
    return maxRate === 0 ? 0 : Math.floor((ringMiB * 1e6) / maxRate);
  };

  const hookFor = (i: number): PreRunHook => {
    return (info: PreRunInfo): number => {
      const s = pending[i];
      if (s === 0) return 0;
      pending[i] = 0;
      sleepEnd[i] = info.nowNs + s;
      slept[i] += s;
      sleeps++;
      return s;
    };
  };
  const hooks = vcpus.map((_, i) => hookFor(i));

  /** `KVM_EXIT_DIRTY_RING_FULL` while in service: reap only this ring, then sleep. */
  const onRingFull = (vcpu: number, r: DirtyRings): void => {
    r.harvest(vcpu);
    r.reset();
    const us = throttleUs[vcpu];
    if (us > 0 && enabled[vcpu] === 1) {
      pending[vcpu] = us * NS_PER_US;
      vcpus[vcpu].kick();
    }
  };
  const defaultRingFull = (_vcpu: number, r: DirtyRings): void => {
    r.reap();
  };

  /** Hold the dirty log on (QEMU's GLOBAL_DIRTY_LIMIT): the rings count only while it is. */
  const ensureLogging = (): void => {
    for (const region of machine.memory.ramRegions) region.dirty.start("dirty-limit");
  };

  const tick = (): void => {
    timer = null;
    if (limited === 0) return;
    const now = scheduler.now();
    const ms = Math.max(1, Math.round((now - periodStart) / NS_PER_MS));
    for (let i = 0; i < n; i++) {
      const p = rings.pushed(i);
      rates[i] = dirtyRateMBps(p - lastPushed[i], ms);
      lastPushed[i] = p;
    }
    periods++;
    for (let i = 0; i < n; i++) {
      if (enabled[i] === 0) continue;
      const current = rates[i];
      const full = current === 0 ? 0 : ringFullUs(current);
      throttleUs[i] = adjustThrottleUs(throttleUs[i], quotas[i], current, full);
    }
    ensureLogging();
    arm();
  };

  const arm = (): void => {
    periodStart = scheduler.now();
    for (let i = 0; i < n; i++) lastPushed[i] = rings.pushed(i);
    timer = scheduler.at(periodStart + periodMs * NS_PER_MS, tick);
  };

  const start = (): void => {
    ensureLogging();
    machine.setDirtyRingFullHandler(onRingFull);
    for (let i = 0; i < n; i++) removers[i] = vcpus[i].addPreRunHook(hooks[i]);
    arm();
  };

  const settle = (): void => {
    const t = scheduler.now();
    for (let i = 0; i < n; i++) {
      if (sleepEnd[i] > t) {
        slept[i] -= sleepEnd[i] - t;
        sleepEnd[i] = t;
      }
    }
  };

  const cleanup = (): void => {
    timer?.cancel();
    timer = null;
    machine.setDirtyRingFullHandler(defaultRingFull);
    for (let i = 0; i < n; i++) {
      removers[i]?.();
      removers[i] = null;
      pending[i] = 0;
      throttleUs[i] = 0;
      rates[i] = 0;
    }
    settle();
    for (const v of vcpus) v.kick();
    // Let go of the dirty log: it turns off unless a migration or a dirty-rate measurement still
    // holds it.
    for (const region of machine.memory.ramRegions) region.dirty.stop("dirty-limit");
  };

  const checkIndex = (i: number | undefined): void => {
    if (i !== undefined && !(Number.isInteger(i) && i >= 0 && i < n)) {
      throw new InvalidArgumentError("incorrect cpu index specified");
    }
  };

  const setOne = (i: number, quota: number, on: boolean): void => {
    if (on) {
      quotas[i] = quota;
      if (enabled[i] === 0) limited++;
      enabled[i] = 1;
    } else {
      quotas[i] = 0;
      if (enabled[i] === 1) limited--;
      enabled[i] = 0;
      throttleUs[i] = 0;
      pending[i] = 0;
    }
  };

  const cancel = (cpuIndex?: number): void => {
    checkIndex(cpuIndex);
    if (limited === 0) return;
    if (cpuIndex !== undefined) setOne(cpuIndex, 0, false);
    else for (let i = 0; i < n; i++) setOne(i, 0, false);
    if (limited === 0) cleanup();
  };

  const vcpuSlept = (i: number): number => {
    const t = scheduler.now();
    return slept[i] - (sleepEnd[i] > t ? sleepEnd[i] - t : 0);
  };

  return {
    get inService() {
      return limited > 0;
    },
    get periodMs() {
      return periodMs;
    },
    ringSize: rings.size,
    vcpuCount: n,
    get periods() {
      return periods;
    },
    get sleeps() {
      return sleeps;
    },
    set(quotaMBps, cpuIndex) {
      checkIndex(cpuIndex);
      if (!(Number.isInteger(quotaMBps) && quotaMBps >= 0)) {
        throw new InvalidArgumentError(
          `dirty-rate must be a whole number of MB/s >= 0, got ${quotaMBps}`,
        );
      }
      if (quotaMBps === 0) {
        cancel(cpuIndex);
        return;
      }
      const wasIdle = limited === 0;
      if (cpuIndex !== undefined) setOne(cpuIndex, quotaMBps, true);
      else for (let i = 0; i < n; i++) setOne(i, quotaMBps, true);
      if (wasIdle) start();
    },
    cancel,
    setPeriod(ms) {
      checkPeriod(ms);
      periodMs = ms;
    },
    query() {
      const out: DirtyLimitInfo[] = [];
      for (let i = 0; i < n; i++) {
        if (enabled[i] === 1) {
          out.push({ "cpu-index": i, "limit-rate": quotas[i], "current-rate": rates[i] });
        }
      }
      return out;
    },
    isLimited: (i) => enabled[i] === 1,
    quota: (i) => quotas[i],
    currentRate: (i) => rates[i],
    throttleUsPerFull: (i) => throttleUs[i],
    throttleTimePerRound() {
      let max = 0;
      for (let i = 0; i < n; i++) if (throttleUs[i] > max) max = throttleUs[i];
      return max;
    },
    ringFullTime() {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += rates[i];
      if (sum === 0 || n === 0) return 0;
      return ringFullUs(Math.floor(sum / n));
    },
    sleptNs() {
      let s = 0;
      for (let i = 0; i < n; i++) s += vcpuSlept(i);
      return s;
    },
    vcpuSleptNs: vcpuSlept,
    settle,
    migrationOwned: false,
  };
}
