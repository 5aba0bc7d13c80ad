/**
 * @ferry/riscv — an RV32IMA + Zicsr interpreter (the `riscv` CPU backend of ferry), an ELF32
 * loader, and the riscv-tests `tohost` protocol.
 */
export { riscvBackend, RiscvOptionsError } from "./backend";
export type { RiscvBackend, RiscvBackendOptions } from "./backend";
export { RiscvHart } from "./hart";
export type { CpuEngine, RiscvHartOptions } from "./hart";
export type { BlockEngine } from "./jit/engine";
export type { CompileStats } from "./jit/compile";
export { ElfError, loadElf, parseElf } from "./elf";
export type { ElfImage, ElfSegment } from "./elf";
export {
  counterFromState,
  counterToState,
  RiscvStateError,
  validateRiscvState,
} from "./state";
export type { Counter64, PendingMmioLoad, RiscvCpuState, RiscvCsrState } from "./state";
export { runTohostElf, tohostAddress } from "./tohost";
export type { RunTohostOptions, TohostResult } from "./tohost";
export { Op, decodeInto, DECODED_STRIDE, ZERO_SINK } from "./decode";
export type { OpCode } from "./decode";
export { Cause, Csr, MISA_VALUE } from "./csr";
