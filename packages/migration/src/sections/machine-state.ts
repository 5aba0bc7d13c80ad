/**
 * The machine-state sections: at switchover, `machine.saveState()` (every vCPU's and device's
 * state) goes as one FULL section per top-level key (`version`, `vcpus`, `devices`), each body
 * `be32 len` + UTF-8 JSON `{ [key]: value }`, version {@link DEVICE_SECTION_VERSION}. The
 * destination half is {@link assembleMachineState} (in `incoming.ts`) over the reader's device
 * sections.
 */
import { MigrationError } from "../errors";
import type { MigratableMachine } from "../plugin";
import type { SaveHandler } from "./types";

/** The idstr the machine-state group is known by (its sections are named by their keys). */
export const MACHINE_STATE_IDSTR = "machine-state";

/**
 * The machine-state save handler. `reserved` are the other sections' idstrs: a machine-state
 * key equal to one of them is refused (two sections of one name).
 */
export function machineStateHandler(
  machine: MigratableMachine,
  reserved: () => readonly string[],
): SaveHandler {
  return {
    idstr: MACHINE_STATE_IDSTR,
    complete(w) {
      const state = machine.saveState() as Record<string, unknown>;
      for (const idstr of reserved()) {
        if (Object.hasOwn(state, idstr)) {
          throw new MigrationError(`section "${idstr}" has the name of a machine-state section`);
        }
      }
      for (const [key, value] of Object.entries(state)) w.deviceSection(key, 0, { [key]: value });
    },
  };
}
