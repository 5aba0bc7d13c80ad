/**
 * Make extra (custom) devices' state travel with a machine's. `Machine.saveState()` covers the
 * `virt` devices only, and `Machine.loadState()` refuses unknown keys; migration and snapshots
 * take any `MigratableMachine`, so this wrapper adds one top-level key, `extra-devices`, holding
 * `{ [device.id]: device.saveState() }`, and strips it again on load.
 */
import { InvalidStateError, type Machine, type MachineState, type MmioDevice } from "@ferry/core";
import type { MigratableMachine } from "@ferry/migration";

/** The top-level state key the extra devices' state goes under. */
export const EXTRA_DEVICES_KEY = "extra-devices";

/** A machine plus extra devices, as migration and snapshots see it. */
export type MachineWithDevices = MigratableMachine & { readonly scheduler: Machine["scheduler"] };

/** Wrap `machine` so `devices`' state is saved and restored with it. */
export function withDevices(machine: Machine, devices: readonly MmioDevice[]): MachineWithDevices {
  return {
    get memory() {
      return machine.memory;
    },
    get vcpus() {
      return machine.vcpus;
    },
    get state() {
      return machine.state;
    },
    get scheduler() {
      return machine.scheduler;
    },
    pause: () => machine.pause(),
    resume: () => machine.resume(),
    start: () => machine.start(),
    saveState() {
      const extra: Record<string, unknown> = {};
      for (const d of devices) extra[d.id] = d.saveState();
      return { ...machine.saveState(), [EXTRA_DEVICES_KEY]: extra };
    },
    loadState(state: object) {
      const { [EXTRA_DEVICES_KEY]: extra, ...rest } = state as Record<string, unknown>;
      if (typeof extra !== "object" || extra === null) {
        throw new InvalidStateError(
          `invalid machine state: expected "${EXTRA_DEVICES_KEY}" with the state of ${devices.map((d) => d.id).join(", ")}, found ${JSON.stringify(extra)}`,
        );
      }
      const byId = extra as Record<string, unknown>;
      for (const d of devices) {
        if (typeof byId[d.id] !== "object" || byId[d.id] === null) {
          throw new InvalidStateError(`invalid machine state: no state for device "${d.id}"`);
        }
      }
      machine.loadState(rest as unknown as MachineState);
      for (const d of devices) d.loadState(byId[d.id] as Record<string, unknown>);
    },
  };
}
