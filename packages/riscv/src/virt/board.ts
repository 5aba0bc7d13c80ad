/**
 * The RISC-V `virt` board (QEMU's memory map): RAM at 0x8000_0000, the NS16550A console UART at
 * 0x1000_0000, the SiFive test finisher at 0x10_0000 and the CLINT at 0x200_0000 (`mtime` at
 * 10 MHz, stopped while the machine is paused). `createMachine` composes core's machine with it.
 */
import {
  type Board,
  type BoardInstance,
  composeMachine,
  type Machine,
  type MachineOptions,
  RAM_BASE,
  UART_BASE,
} from "@ferry/core";
import { CLINT_BASE, CLINT_SIZE, Clint, TIMEBASE_HZ } from "./clint";
import { FINISHER_BASE, FINISHER_SIZE, TestFinisher } from "./finisher";

/** The `virt` board's own devices (`machine.devices` adds the console `uart`). */
export type VirtDevices = {
  readonly finisher: TestFinisher;
  readonly clint: Clint;
};

/** A machine on the `virt` board. */
export type VirtMachine = Machine<VirtDevices>;

/** The `virt` board. */
export const virtBoard: Board<VirtDevices> = {
  name: "virt",
  ramBase: RAM_BASE,
  uartBase: UART_BASE,
  timebaseHz: TIMEBASE_HZ,
  create(ctx): BoardInstance<VirtDevices> {
    const finisher = new TestFinisher((kind, code, access) => ctx.shutdown(kind, code, access));
    const clint = new Clint({
      scheduler: ctx.scheduler,
      hartCount: ctx.hartCount,
      setInterrupt: (hart, line, level) => ctx.setInterrupt(hart, line, level),
    });
    return {
      devices: { finisher, clint },
      // mapped, saved and restored in this order (after the UART)
      mmio: [
        { name: "test", base: FINISHER_BASE, size: FINISHER_SIZE, device: finisher },
        { name: "clint", base: CLINT_BASE, size: CLINT_SIZE, device: clint },
      ],
      timebaseAt: (ns) => clint.mtimeAt(ns),
      freeze: (ns) => clint.freeze(ns),
      thaw: (ns) => clint.thaw(ns),
      reset: () => clint.reset(),
    };
  },
};

/** Options of {@link createMachine}: core's machine options, the board defaulting to `virt`. */
export type VirtMachineOptions = Omit<MachineOptions, "board">;

/**
 * Build a machine on the `virt` board (validated options; state `created`; call `reset(entry)`
 * then `start()`).
 */
export function createMachine(options: VirtMachineOptions): VirtMachine {
  return composeMachine({ ...options, board: virtBoard });
}
