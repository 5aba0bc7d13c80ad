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
export { ElfError, loadElf, MAX_ELF_BYTES, parseElf } from "./elf";
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
export { Priv } from "./csr";
export type { PrivLevel } from "./csr";
export { Access, Mmu, TLB_SIZE } from "./mmu";
export type { AccessKind } from "./mmu";
export type { Firmware } from "./firmware";
export {
  createSbi,
  SBI_IMPL_ID,
  SBI_MEDELEG,
  SBI_SPEC_VERSION,
  SbiError,
  SbiExt,
  SbiFirmware,
} from "./sbi";
export type { SbiOptions, SbiPlatform } from "./sbi";
export { empty, encodeFdt, node, str, strs, u32 } from "./virt/fdt";
export type { FdtNode, FdtValue } from "./virt/fdt";
export { Plic, PLIC_BASE, PLIC_SIZE, PLIC_SOURCES } from "./virt/plic";
export type { PlicOptions, PlicState } from "./virt/plic";
export { RISCV_ISA, UART_IRQ, virtDeviceTree, virtDtb } from "./virt/virt-dtb";
export type { VirtDtbOptions } from "./virt/virt-dtb";
export { createLinuxMachine, KernelImageError, parseKernelImage } from "./virt/linux";
export type {
  KernelImageInfo,
  LinuxLayout,
  LinuxMachine,
  LinuxMachineOptions,
} from "./virt/linux";
export * from "./virt/board";
export * from "./virt/clint";
export * from "./virt/finisher";
