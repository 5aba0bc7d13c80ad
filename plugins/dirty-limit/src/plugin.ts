/**
 * The `dirtyLimit()` plugin factory.
 */
import { ConvergenceController, type FerryPlugin } from "@ferry/migration";
import { DIRTY_LIMIT_CAPABILITY, dirtyLimitController } from "./controller";
import { dirtyLimitParameters } from "./params";

/**
 * The dirty-limit plugin: the `dirty-limit` capability (default off; conflicts with
 * `auto-converge`; needs a machine with `dirty-tracking: ring`), its parameters
 * (`vcpu-dirty-limit`, `x-vcpu-dirty-limit-period`) and the controller that limits each vCPU's
 * dirty page rate once the migration does not converge.
 */
export function dirtyLimit(): FerryPlugin {
  return {
    name: "dirty-limit",
    capabilities: [
      {
        name: DIRTY_LIMIT_CAPABILITY,
        description:
          "limit each vCPU's dirty page rate (dirty ring) when the guest dirties memory faster than it is sent",
        default: false,
        conflicts: ["auto-converge"],
      },
    ],
    parameters: dirtyLimitParameters,
    register(container) {
      container.register(ConvergenceController, { useValue: dirtyLimitController });
    },
  };
}
