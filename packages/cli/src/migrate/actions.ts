/**
 * `migration.actions` of a config → the migration framework's operator timeline: parameter values
 * with units converted like `migration.parameters`, each `set` validated by the migration registry
 * before anything runs (a bad one is a one-line error naming the action and the parameter).
 */
import type { MigrationRegistry, OperatorAction } from "@ferry/migration";
import { UsageError } from "../command";
import type { ActionConfig } from "../config";
import { resolveParameters } from "./settings";

/** Convert and validate the timeline. @throws UsageError naming `migration.actions[i]…`. */
export function operatorActionsOf(
  actions: readonly ActionConfig[],
  registry: Pick<MigrationRegistry, "parseParameters">,
): OperatorAction[] {
  return actions.map((a, i): OperatorAction => {
    const trigger = a.when;
    const w = a.what;
    if ("set" in w) {
      const where = `migration.actions[${i}].set`;
      let parameters: Record<string, unknown>;
      try {
        parameters = registry.parseParameters(resolveParameters(w.set, {}));
      } catch (e) {
        throw new UsageError(`${where}: ${(e as Error).message}`);
      }
      return { trigger, command: { kind: "set", parameters } };
    }
    if ("throttle" in w) return { trigger, command: { kind: "throttle", percentage: w.throttle } };
    return { trigger, command: { kind: w.do } };
  });
}
