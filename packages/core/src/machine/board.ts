/**
 * A board: the machine-specific devices a {@link Machine} is assembled with (its interrupt
 * controller and timer, its power/test device, their addresses and the guest timebase). Core
 * composes a machine from a board and knows none: the RISC-V `virt` board (CLINT, SiFive test
 * finisher) is `@ferry/riscv`'s `virtBoard`.
 */
import type { MmioAccess, MmioDevice } from "../memory/types";
import type { Scheduler } from "../time/types";

/** What a guest asked the machine to do through a board device. */
export type ShutdownKind = "pass" | "fail" | "reset";

/** What a board's devices get from the machine they are part of. */
export interface BoardContext {
  readonly scheduler: Scheduler;
  /** Number of harts (vCPUs). */
  readonly hartCount: number;
  /** Raise or lower interrupt `line` of hart `hart`. */
  setInterrupt(hart: number, line: number, level: boolean): void;
  /** A device asks to end the run (`pass`, `fail` with `code`) or to reset the machine. */
  shutdown(kind: ShutdownKind, code: number, access: MmioAccess): void;
}

/** One device of a board and where it is mapped. */
export interface BoardMmio {
  /** Region name in the address space (e.g. `clint`). */
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

/** The devices of one machine, as its board made them. */
export interface BoardInstance<D extends object = object> {
  /** The devices by role (merged into `machine.devices`). */
  readonly devices: D;
  /**
   * Mapped in this order, and saved/restored under their ids in this order after the console
   * UART (the machine state's `devices`).
   */
  readonly mmio: readonly BoardMmio[];
  /** The guest timebase (the `time` CSR) at virtual time `ns`. */
  timebaseAt(ns: number): number;
  /** The machine stopped at `ns`: the guest clock stops with it. */
  freeze(ns: number): void;
  /** The machine runs again at `ns`: the guest clock resumes from where it stopped. */
  thaw(ns: number): void;
  /** A guest reset: the board's devices return to their power-on state. */
  reset(): void;
}

/** A board a machine is composed with. */
export interface Board<D extends object = object> {
  /** Name, e.g. `virt`. */
  readonly name: string;
  /** Guest-physical base of RAM (where every hart starts). */
  readonly ramBase: number;
  /** Guest-physical base of the console NS16550A UART. */
  readonly uartBase: number;
  /** Frequency of the guest timebase (Hz). */
  readonly timebaseHz: number;
  /** Make the devices of one machine. */
  create(ctx: BoardContext): BoardInstance<D>;
}

/** True when `v` looks like a {@link Board}. */
export function isBoard(v: unknown): v is Board {
  if (typeof v !== "object" || v === null) return false;
  const b = v as Record<string, unknown>;
  return (
    typeof b.name === "string" &&
    typeof b.ramBase === "number" &&
    typeof b.uartBase === "number" &&
    typeof b.timebaseHz === "number" &&
    typeof b.create === "function"
  );
}
