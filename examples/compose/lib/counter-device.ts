/**
 * A custom MMIO device for the composition examples: a counter. Register map (32-bit):
 *
 * | offset | read                                 | write            |
 * |--------|--------------------------------------|------------------|
 * | 0x0    | the value, then value += step        | set the value    |
 * | 0x4    | the step                             | set the step     |
 *
 * Its state (`value`, `step`, `reads`) is plain data and migrates with the machine.
 */
import { type DeviceState, type MmioDevice, StateValidationError } from "@ferry/core";

/** Size of the device's MMIO window. */
export const COUNTER_SIZE = 0x1000;

/** The counter device (an `MmioDevice` with counters for tests). */
export interface CounterDevice extends MmioDevice {
  /** The next value a read returns. */
  readonly value: number;
  /** Reads served (by this instance and, after a migration, its source). */
  readonly reads: number;
}

const isU32 = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;

/** Make a counter device with id `id` (its migration section id). */
export function createCounterDevice(id = "counter0"): CounterDevice {
  let value = 0;
  let step = 1;
  let reads = 0;
  return {
    id,
    get value() {
      return value;
    },
    get reads() {
      return reads;
    },
    read(offset) {
      if (offset === 0) {
        const v = value;
        value = (value + step) >>> 0;
        reads++;
        return v;
      }
      return offset === 4 ? step : 0;
    },
    write(offset, _size, v) {
      if (offset === 0) value = v >>> 0;
      else if (offset === 4) step = v >>> 0;
    },
    saveState(): DeviceState {
      return { value, step, reads };
    },
    loadState(state: DeviceState) {
      for (const key of ["value", "step", "reads"] as const) {
        if (!isU32(state[key])) {
          throw new StateValidationError(
            `invalid ${id} state: ${key}: expected an integer from 0 to 4294967295, found ${JSON.stringify(state[key])}`,
          );
        }
      }
      value = state.value as number;
      step = state.step as number;
      reads = state.reads as number;
    },
  };
}
