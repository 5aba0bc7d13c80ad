/**
 * @ferry/core — the emulator core: scheduler (virtual and realtime time), guest memory with a
 * KVM-style dirty log, the vCPU run loop with pre-run hooks, the `virt` machine's devices, and
 * machine composition.
 */
export * from "./memory/types";
export * from "./time/types";
export * from "./vcpu/types";
