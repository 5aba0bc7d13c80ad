/**
 * The `rateConverge()` plugin factory: what a third-party ferry plugin looks like.
 */
import { ConvergenceController, DirtyRateEstimatorToken, type FerryPlugin } from "@ferry/migration";
import {
  RATE_CONVERGE_CAPABILITY,
  RATE_CONVERGE_CONFLICTS,
  createRateConvergeController,
} from "./controller";
import { rateConvergeParameters } from "./params";

/**
 * The rate-converge plugin: capability `rate-converge` (default off), parameters
 * `rate-converge-target-ratio`, `rate-converge-max-throttle`, `rate-converge-window-ms`, and the
 * convergence controller that throttles vCPUs to the rate the measured bandwidth can carry.
 */
export function rateConverge(): FerryPlugin {
  return {
    name: "rate-converge",
    capabilities: [
      {
        name: RATE_CONVERGE_CAPABILITY,
        description:
          "throttle vCPUs to the throttle computed from the measured dirty rate and bandwidth",
        default: false,
        // Vacuous when auto-converge is not loaded; refused by setCapabilities when it is.
        conflicts: [...RATE_CONVERGE_CONFLICTS],
      },
    ],
    parameters: rateConvergeParameters,
    register(container) {
      // One controller per migration, measuring on that migration's shared dirty-rate estimator.
      container.register(ConvergenceController, {
        useFactory: (c) => createRateConvergeController(c.resolve(DirtyRateEstimatorToken)),
      });
    },
  };
}
