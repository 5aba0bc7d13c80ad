/**
 * The dirty-limit parameters (QEMU's names, defaults and ranges) and the trigger's threshold,
 * validated with zod.
 */
import { MigrationConfigError } from "@ferry/migration";
import { z } from "zod";

const intIn = (min: number, max: number, dflt: number, unit: string) =>
  z
    .number({ error: `expected an integer from ${min} to ${max}${unit}` })
    .int({ error: `expected an integer from ${min} to ${max}${unit}` })
    .min(min, { error: `expected an integer from ${min} to ${max}${unit}` })
    .max(max, { error: `expected an integer from ${min} to ${max}${unit}` })
    .default(dflt);

/** QEMU's default `vcpu-dirty-limit` (MB/s). */
export const DEFAULT_VCPU_DIRTY_LIMIT = 1;
/** QEMU's default `x-vcpu-dirty-limit-period` (ms). */
export const DEFAULT_VCPU_DIRTY_LIMIT_PERIOD = 1000;

/**
 * The plugin's parameters. `throttle-trigger-threshold` is QEMU's too (auto-converge declares the
 * same key); dirty-limit reads it from the migration's parameters with QEMU's default 50 when no
 * loaded plugin declares it.
 */
export const dirtyLimitParameters = z.object({
  /** Dirty page rate each vCPU is held to during a dirty-limit migration (MB/s, ≥ 1). */
  "vcpu-dirty-limit": intIn(1, 2 ** 53 - 1, DEFAULT_VCPU_DIRTY_LIMIT, " MB/s"),
  /** Period of the per-vCPU dirty-rate measurement during a dirty-limit migration (ms). */
  "x-vcpu-dirty-limit-period": intIn(1, 1000, DEFAULT_VCPU_DIRTY_LIMIT_PERIOD, " ms"),
});

/** Validated settings of one migration. */
export interface DirtyLimitSettings {
  /** `vcpu-dirty-limit` (MB/s). */
  readonly limit: number;
  /** `x-vcpu-dirty-limit-period` (ms). */
  readonly periodMs: number;
  /** `throttle-trigger-threshold` (%), QEMU's default 50. */
  readonly triggerThreshold: number;
}

/**
 * Read the settings from a migration's effective parameters (missing keys take their defaults);
 * throws {@link MigrationConfigError} naming the bad parameter.
 */
export function readSettings(parameters: Readonly<Record<string, unknown>>): DirtyLimitSettings {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(dirtyLimitParameters.shape)) {
    if (parameters[key] !== undefined) picked[key] = parameters[key];
  }
  const r = dirtyLimitParameters.safeParse(picked);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = String(issue.path[0] ?? "");
    throw new MigrationConfigError(key, `${issue.message} (got ${String(picked[key])})`);
  }
  const t = parameters["throttle-trigger-threshold"];
  const threshold = t === undefined ? 50 : t;
  if (
    typeof threshold !== "number" ||
    !Number.isInteger(threshold) ||
    threshold < 1 ||
    threshold > 100
  ) {
    throw new MigrationConfigError(
      "throttle-trigger-threshold",
      `expected an integer from 1 to 100, got ${String(threshold)}`,
    );
  }
  return {
    limit: r.data["vcpu-dirty-limit"],
    periodMs: r.data["x-vcpu-dirty-limit-period"],
    triggerThreshold: threshold,
  };
}
