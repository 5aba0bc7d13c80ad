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

/** A device-state section as received. */
export interface ReceivedDeviceState {
  readonly idstr: string;
  readonly instance: number;
  /** The parsed JSON object. */
  readonly state: Record<string, unknown>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The destination half of one machine-state section: parse its body (UTF-8 JSON of an object).
 * Throws an `Error` with a clear message (the reader adds the stream position).
 */
export function loadMachineStateSection(
  idstr: string,
  instance: number,
  body: Uint8Array,
): ReceivedDeviceState {
  let state: unknown;
  try {
    state = JSON.parse(utf8.decode(body));
  } catch (e) {
    throw new Error(`device "${idstr}" state is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw new Error(`device "${idstr}" state must be a JSON object`);
  }
  return { idstr, instance, state: state as Record<string, unknown> };
}
