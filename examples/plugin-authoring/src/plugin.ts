/**
 * The `rateConverge()` plugin factory: what a third-party ferry plugin looks like.
 */
import { ConvergenceController, type FerryPlugin } from "@ferry/migration";
import { RATE_CONVERGE_CAPABILITY, rateConvergeController } from "./controller";
import { rateConvergeParameters } from "./params";

/** Options of {@link rateConverge}. */
export interface RateConvergeOptions {
  /**
   * Capabilities to declare as conflicting in the registry, so `setCapabilities` refuses turning
   * both on. The registry requires every name listed to be loaded, so the default is none; a
   * migration with `auto-converge` and `rate-converge` both on is refused at `migrate()` anyway.
   * Pass `["auto-converge"]` when `autoConverge()` is loaded beside this plugin.
   */
  readonly conflicts?: readonly string[];
}

/**
 * The rate-converge plugin: capability `rate-converge` (default off), parameters
 * `rate-converge-target-ratio`, `rate-converge-max-throttle`, `rate-converge-window-ms`, and the
 * convergence controller that throttles vCPUs to the rate the measured bandwidth can carry.
 */
export function rateConverge(options: RateConvergeOptions = {}): FerryPlugin {
  const conflicts = options.conflicts ?? [];
  return {
    name: "rate-converge",
    capabilities: [
      {
        name: RATE_CONVERGE_CAPABILITY,
        description:
          "throttle vCPUs to the throttle computed from the measured dirty rate and bandwidth",
        default: false,
        ...(conflicts.length > 0 ? { conflicts: [...conflicts] } : {}),
      },
    ],
    parameters: rateConvergeParameters,
    register(container) {
      container.register(ConvergenceController, { useValue: rateConvergeController });
    },
  };
}
