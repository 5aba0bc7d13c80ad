/**
 * @ferry/core — the emulator core: scheduler (virtual and realtime time), guest memory with a
 * KVM-style dirty log, the vCPU run loop with pre-run hooks, the `virt` machine's devices, and
 * machine composition.
 */
export * from "./errors";
export * from "./memory/types";
export * from "./memory/index";
export * from "./time/types";
export * from "./time/index";
export * from "./vcpu/types";
export * from "./vcpu/index";
export * from "./devices/index";
export * from "./machine/index";
export * from "./synthetic/index";
export * from "./workload/index";
