/**
 * ferry's external vCPU throttle over QMP (QEMU has no such command: the names carry the `x-`
 * prefix). A management layer slows a running guest from outside, migration or not — the 2013
 * auto-converge proposal's first alternative. The throttle is the machine's shared one (core's
 * `throttleControlFor`), source `external`; with auto-converge also throttling, the stronger of the
 * two is in force.
 */
import type { ThrottleControl, ThrottleTarget } from "@ferry/core";
import { throttleTargetPercentage } from "@ferry/core";
import { z } from "zod";
import { commandSpec, defineCommand } from "./command";
import { QmpError } from "./errors";

/** The name of the operator's source in the machine's shared throttle. */
export const EXTERNAL_THROTTLE_SOURCE = "external";

/** Wire contracts of the throttle commands. */
export const throttleSpecs = {
  "x-set-cpu-throttle": commandSpec({
    name: "x-set-cpu-throttle",
    args: z.object({ percentage: z.number().int() }),
    returns: z.object({}),
  }),
  "x-query-cpu-throttle": commandSpec({
    name: "x-query-cpu-throttle",
    args: z.object({}),
    returns: z.object({
      /** The % the operator asked for (0 = none). */
      percentage: z.number(),
      /** The % in force on the vCPUs (the strongest source). */
      "effective-percentage": z.number(),
      /** Every source with the % it asks for. */
      sources: z.array(z.object({ name: z.string(), percentage: z.number() })),
    }),
  }),
} as const;

const pctOf = (t: ThrottleTarget): number => throttleTargetPercentage(t);

/**
 * Set the operator's throttle (0 = off, else 1..99 like QEMU's `cpu-throttle-*` parameters);
 * throws a QmpError in QEMU's `Parameter '…' expects …` form otherwise.
 */
export function setExternalThrottle(control: ThrottleControl, percentage: number): void {
  if (!Number.isInteger(percentage) || percentage < 0 || percentage > 99) {
    throw new QmpError("Parameter 'percentage' expects an integer in the range of 0 to 99");
  }
  control.source(EXTERNAL_THROTTLE_SOURCE).set(percentage);
}

/** The throttle commands over `control` (a machine without one refuses them). */
export function throttleCommands(control: ThrottleControl | undefined) {
  const need = (): ThrottleControl => {
    if (control === undefined) throw new QmpError("this machine has no vCPU throttle");
    return control;
  };
  return [
    defineCommand(throttleSpecs["x-set-cpu-throttle"], (a) => {
      setExternalThrottle(need(), a.percentage);
      return {};
    }),
    defineCommand(throttleSpecs["x-query-cpu-throttle"], () => {
      const c = need();
      const sources = c.sources().map((s) => ({ name: s.name, percentage: pctOf(s.target) }));
      return {
        percentage: sources.find((s) => s.name === EXTERNAL_THROTTLE_SOURCE)?.percentage ?? 0,
        "effective-percentage": c.percentage,
        sources,
      };
    }),
  ];
}
