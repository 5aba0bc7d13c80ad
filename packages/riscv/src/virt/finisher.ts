/**
 * SiFive test finisher (QEMU `virt`: 0x10_0000): lets a guest end the run with a status.
 */
import { z } from "zod";
import {
  type ShutdownKind,
  type DeviceState,
  type MmioAccess,
  type MmioDevice,
  parseState,
} from "@ferry/core";

/** Guest-physical base of the test finisher on `virt`. */
export const FINISHER_BASE = 0x10_0000;
/** Size of the finisher's MMIO region. */
export const FINISHER_SIZE = 0x1000;

/** What a finisher write asks for. */
export type FinisherRequest = ShutdownKind;

const FINISHER_FAIL = 0x3333;
const FINISHER_PASS = 0x5555;
const FINISHER_RESET = 0x7777;

/**
 * A 32-bit write at offset 0: `0x5555` → pass (code 0), `(code << 16) | 0x3333` → fail with
 * `code`, `0x7777` → reset; other values and other offsets are ignored. Reads return 0.
 */
export class TestFinisher implements MmioDevice {
  readonly id = "finisher";

  /** `request` is called for every recognised command. */
  constructor(
    private readonly request: (kind: FinisherRequest, code: number, access: MmioAccess) => void,
  ) {}

  read(_offset: number, _size: 1 | 2 | 4, _access: MmioAccess): number {
    return 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number, access: MmioAccess): void {
    if (offset !== 0 || size !== 4) return;
    const status = value & 0xffff;
    const code = (value >>> 16) & 0xffff;
    if (status === FINISHER_PASS) this.request("pass", 0, access);
    else if (status === FINISHER_FAIL) this.request("fail", code, access);
    else if (status === FINISHER_RESET) this.request("reset", 0, access);
  }

  saveState(): DeviceState {
    return {};
  }

  loadState(state: DeviceState): void {
    parseState("finisher", z.object({}).strict(), state);
  }
}
