/**
 * The auto-converge parameters (QEMU names, ranges and defaults) and the per-migration settings
 * read from them, including the cross-field rule the registry cannot express.
 */
import { MigrationConfigError } from "@ferry/migration";
import { z } from "zod";

/** The selectable throttling policies. */
export const AUTO_CONVERGE_POLICIES = ["qemu", "rfc-2013"] as const;
/** One of {@link AUTO_CONVERGE_POLICIES}. */
export type AutoConvergePolicyName = (typeof AUTO_CONVERGE_POLICIES)[number];

const intIn = (min: number, max: number, def: number) =>
  z
    .number({ error: `expected an integer from ${min} to ${max}` })
    .int({ error: `expected an integer from ${min} to ${max}` })
    .min(min, { error: `expected an integer from ${min} to ${max}` })
    .max(max, { error: `expected an integer from ${min} to ${max}` })
    .default(def);

/** The plugin's parameter schema (every field has a default; the registry validates each field). */
export const autoConvergeParameters = z.object({
  /** % of the bytes sent in a period that the bytes dirtied must exceed to count as "high". */
  "throttle-trigger-threshold": intIn(1, 100, 50),
  /** Throttle % applied on the first throttle action. */
  "cpu-throttle-initial": intIn(1, 99, 20),
  /** Throttle % added by each further action. */
  "cpu-throttle-increment": intIn(1, 99, 10),
  /** Shrink the increment near the tail to the ideal value (QEMU 5.1 `cpu-throttle-tailslow`). */
  "cpu-throttle-tailslow": z.boolean({ error: "expected a boolean" }).default(false),
  /** Highest throttle % (QEMU: from `cpu-throttle-initial` to 99). */
  "max-cpu-throttle": intIn(1, 99, 99),
  /** Which policy decides and applies the throttle: QEMU's current one or the 2013 original. */
  "x-auto-converge-policy": z
    .enum(AUTO_CONVERGE_POLICIES, { error: `expected "qemu" or "rfc-2013"` })
    .default("qemu"),
  /** rfc-2013: sleep before a guest entry once a sleep is due (ms). */
  "x-rfc2013-sleep-ms": intIn(1, 10_000, 50),
  /** rfc-2013: guest running time after a sleep before the next sleep is due (ms). */
  "x-rfc2013-run-ms": intIn(1, 10_000, 25),
});

/** Validated settings of one migration. */
export interface AutoConvergeSettings {
  readonly policy: AutoConvergePolicyName;
  readonly triggerThreshold: number;
  readonly initial: number;
  readonly increment: number;
  readonly tailslow: boolean;
  readonly max: number;
  readonly rfc2013SleepMs: number;
  readonly rfc2013RunMs: number;
}

/** The default settings (QEMU's defaults, `qemu` policy). */
export const DEFAULT_SETTINGS: AutoConvergeSettings = settingsOf(autoConvergeParameters.parse({}));

function settingsOf(p: z.output<typeof autoConvergeParameters>): AutoConvergeSettings {
  return {
    policy: p["x-auto-converge-policy"],
    triggerThreshold: p["throttle-trigger-threshold"],
    initial: p["cpu-throttle-initial"],
    increment: p["cpu-throttle-increment"],
    tailslow: p["cpu-throttle-tailslow"],
    max: p["max-cpu-throttle"],
    rfc2013SleepMs: p["x-rfc2013-sleep-ms"],
    rfc2013RunMs: p["x-rfc2013-run-ms"],
  };
}

/**
 * Read and validate the settings from a migration's effective parameters (missing keys take their
 * defaults). Checks each field's range and QEMU's cross-field rule `max-cpu-throttle ≥
 * cpu-throttle-initial`; throws {@link MigrationConfigError} naming the parameter.
 */
export function readSettings(parameters: Readonly<Record<string, unknown>>): AutoConvergeSettings {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(autoConvergeParameters.shape)) {
    if (parameters[key] !== undefined) picked[key] = parameters[key];
  }
  const r = autoConvergeParameters.safeParse(picked);
  if (!r.success) {
    const issue = r.error.issues[0];
    const key = String(issue.path[0] ?? "");
    throw new MigrationConfigError(key, `${issue.message} (got ${describe(picked[key])})`);
  }
  const s = settingsOf(r.data);
  if (s.max < s.initial) {
    throw new MigrationConfigError(
      "max-cpu-throttle",
      `expected a value from cpu-throttle-initial (${s.initial}) to 99, got ${s.max}`,
    );
  }
  return s;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  return `${typeof value} ${String(value)}`;
}
