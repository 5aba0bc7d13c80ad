/**
 * The `autoConverge()` plugin factory.
 */
import { ConvergenceController, DirtyRateEstimatorToken, type FerryPlugin } from "@ferry/migration";
import { AUTO_CONVERGE_CAPABILITY, createAutoConvergeController } from "./controller";
import { autoConvergeParameters } from "./params";

/**
 * The auto-converge plugin: the `auto-converge` capability (default off), its parameters
 * (`throttle-trigger-threshold`, `cpu-throttle-*`, `max-cpu-throttle`, `x-auto-converge-policy`,
 * `x-rfc2013-*`) and the convergence controller that throttles vCPUs.
 */
export function autoConverge(): FerryPlugin {
  return {
    name: "auto-converge",
    capabilities: [
      {
        name: AUTO_CONVERGE_CAPABILITY,
        description: "throttle vCPUs when the guest dirties memory faster than it is sent",
        default: false,
      },
    ],
    parameters: autoConvergeParameters,
    register(container) {
      // One controller per migration, given that migration's shared dirty-rate estimator.
      container.register(ConvergenceController, {
        useFactory: (c) => createAutoConvergeController(c.resolve(DirtyRateEstimatorToken)),
      });
    },
  };
}
