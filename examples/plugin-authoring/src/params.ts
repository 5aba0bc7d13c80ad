/**
 * The rate-converge parameters (zod, with defaults and ranges) and the per-migration settings
 * read from a migration's effective parameters.
 */
import { MigrationConfigError } from "@ferry/migration";
import { z } from "zod";

const ratio = z
  .number({ error: "expected a number greater than 0 and at most 1" })
  .gt(0, { error: "expected a number greater than 0 and at most 1" })
  .max(1, { error: "expected a number greater than 0 and at most 1" });

const intIn = (min: number, max: number) =>
  z
    .number({ error: `expected an integer from ${min} to ${max}` })
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min, { error: `expected an integer from ${min} to ${max}` })
    .max(max, { error: `expected an integer from ${min} to ${max}` });

/** The plugin's parameter schema (kebab-case names; every field has a default). */
export const rateConvergeParameters = z.object({
  /**
   * Share of the measured bandwidth the throttled guest may dirty: the throttle is chosen so that
   * `dirty rate × (1 − throttle) ≤ ratio × bandwidth`. Lower converges faster, throttles harder.
   */
  "rate-converge-target-ratio": ratio.default(0.5),
  /** Highest throttle percentage the controller applies. */
  "rate-converge-max-throttle": intIn(1, 99).default(99),
  /** Shortest measurement window (ms): syncs are aggregated until a window is this long. */
  "rate-converge-window-ms": intIn(50, 60_000).default(1000),
});

/** Validated settings of one migration. */
export interface RateConvergeSettings {
  readonly targetRatio: number;
  readonly maxThrottlePct: number;
  readonly windowNs: number;
}

/** Settings with every default. */
export const DEFAULT_RATE_CONVERGE_SETTINGS: RateConvergeSettings = settingsOf(
  rateConvergeParameters.parse({}),
);

function settingsOf(p: z.output<typeof rateConvergeParameters>): RateConvergeSettings {
  return {
    targetRatio: p["rate-converge-target-ratio"],
    maxThrottlePct: p["rate-converge-max-throttle"],
    windowNs: p["rate-converge-window-ms"] * 1_000_000,
  };
}

/**
 * Read the settings from a migration's effective parameters (missing keys take their defaults;
 * other plugins' keys are ignored). Throws {@link MigrationConfigError} naming the parameter.
 */
export function readRateConvergeSettings(
  parameters: Readonly<Record<string, unknown>>,
): RateConvergeSettings {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(rateConvergeParameters.shape)) {
    if (parameters[key] !== undefined) picked[key] = parameters[key];
  }
  const r = rateConvergeParameters.safeParse(picked);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = String(issue.path[0] ?? "");
    throw new MigrationConfigError(key, `${issue.message} (got ${JSON.stringify(picked[key])})`);
  }
  return settingsOf(r.data);
}
