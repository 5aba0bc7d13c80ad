/**
 * The `dirty-limit` convergence controller: QEMU's trigger (`migration_trigger_throttle`) decides
 * when; core's per-machine {@link DirtyLimit} (QEMU's `dirtylimit.c`) limits every vCPU to
 * `vcpu-dirty-limit` MB/s, measured per vCPU from its dirty ring every `x-vcpu-dirty-limit-period`
 * ms, by sleeping on its ring-full exits. The limit is cancelled when the migration ends.
 */
import {
  DIRTY_RING_REQUIRED,
  DIRTYLIMIT_CALC_TIME_MS,
  type DirtyLimit,
  dirtyLimitOf,
  isDirtyLimitMachine,
} from "@ferry/core";
import {
  type ConvergenceController,
  type ConvergenceInstance,
  type MigrationContext,
  MigrationConfigError,
  type StatsContribution,
  type SyncStats,
} from "@ferry/migration";
import { readSettings } from "./params";
import { createTrigger, type DirtyLimitTrigger } from "./trigger";

/** The capability's name. */
export const DIRTY_LIMIT_CAPABILITY = "dirty-limit";
/** The query-migrate section the controller contributes. */
export const DIRTY_LIMIT_STATS_SECTION = "dirty-limit";

/** A per-migration dirty-limit instance. */
export interface DirtyLimitInstance extends ConvergenceInstance {
  /** The machine's dirty limit. */
  readonly limit: DirtyLimit;
  /** The trigger's counters. */
  readonly trigger: DirtyLimitTrigger;
  /** The quota applied to every vCPU since the last trigger (0 before the first). */
  readonly appliedQuota: number;
  /** Apply live parameter changes (`vcpu-dirty-limit` at once; the period from the next one). */
  onParameters(changed: Readonly<Record<string, unknown>>): void;
  stats(): StatsContribution;
}

/**
 * Make the instance for `ctx`. Throws {@link MigrationConfigError} with QEMU's message when the
 * machine has no dirty ring, or when a parameter is out of range.
 */
export function createDirtyLimitInstance(ctx: MigrationContext): DirtyLimitInstance {
  const settings = readSettings(ctx.parameters);
  const machine = ctx.machine;
  if (!isDirtyLimitMachine(machine) || machine.dirtyRings === null) {
    throw new MigrationConfigError(DIRTY_LIMIT_CAPABILITY, DIRTY_RING_REQUIRED);
  }
  const limit = dirtyLimitOf(machine, ctx.scheduler);
  const trigger = createTrigger(settings.triggerThreshold);
  let quota = settings.limit;
  let applied = 0;
  let maxPerRound = 0;
  let ended = false;
  limit.setPeriod(settings.periodMs);
  limit.migrationOwned = true;

  /** QEMU's `migration_dirty_limit_guest`: (re)apply the quota to every vCPU. */
  const limitGuest = (): void => {
    if (limit.inService && applied === quota) return;
    applied = quota;
    limit.set(quota);
  };

  return {
    limit,
    trigger,
    get appliedQuota() {
      return applied;
    },
    onSync(stats: SyncStats) {
      if (ended) return;
      if (trigger.onSync(stats)) limitGuest();
      maxPerRound = Math.max(maxPerRound, limit.throttleTimePerRound());
      if (machine.state === "paused") limit.settle();
    },
    onParameters(changed) {
      if (ended) return;
      const next = readSettings({ ...ctx.parameters, ...changed });
      if (changed["x-vcpu-dirty-limit-period"] !== undefined) limit.setPeriod(next.periodMs);
      if (changed["vcpu-dirty-limit"] !== undefined) {
        quota = next.limit;
        if (limit.inService && applied !== 0) limitGuest();
      }
    },
    onEnd() {
      if (ended) return;
      ended = true;
      maxPerRound = Math.max(maxPerRound, limit.throttleTimePerRound());
      limit.migrationOwned = false;
      if (applied !== 0) limit.cancel();
      limit.setPeriod(DIRTYLIMIT_CALC_TIME_MS);
    },
    stats() {
      const section: Record<string, number> = {
        "vcpu-dirty-limit": quota,
        "limit-in-service": limit.inService ? 1 : 0,
        triggers: trigger.triggers,
        "high-periods": trigger.highPeriods,
        evaluations: trigger.evaluations,
        "rate-periods": limit.periods,
        "max-throttle-time-per-round": Math.max(maxPerRound, limit.throttleTimePerRound()),
        "throttle-sleeps": limit.sleeps,
        "throttled-ms": Math.round(limit.sleptNs() / 1e6),
      };
      for (let i = 0; i < limit.vcpuCount; i++) {
        section[`vcpu${i}-dirty-rate`] = limit.currentRate(i);
        section[`vcpu${i}-throttled-ms`] = Math.round(limit.vcpuSleptNs(i) / 1e6);
      }
      return {
        ...(limit.inService && !ended
          ? {
              "dirty-limit-throttle-time-per-round": limit.throttleTimePerRound(),
              "dirty-limit-ring-full-time": limit.ringFullTime(),
            }
          : {}),
        [DIRTY_LIMIT_STATS_SECTION]: section,
      };
    },
  };
}

/** The `dirty-limit` convergence controller part. */
export const dirtyLimitController: ConvergenceController = {
  name: "dirty-limit",
  capability: DIRTY_LIMIT_CAPABILITY,
  create: (ctx) => createDirtyLimitInstance(ctx),
};
