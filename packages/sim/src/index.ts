/**
 * @ferry/sim — the simulator: sparse `synthetic` RAM (pages as versions of a pure content
 * function), the synthetic `workload` CPU backend (a per-vCPU page dirtier), and the workload
 * machine that puts them on `@ferry/riscv`'s `virt` board. `@ferry/core` holds no simulator code.
 */
export * from "./synthetic/index";
export * from "./workload/index";
export * from "./workload-machine";
