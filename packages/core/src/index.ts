/**
 * @ferry/core — the emulator core: scheduler (virtual and realtime time), guest memory with
 * pluggable dirty tracking (KVM's dirty bitmap or dirty ring), the vCPU run loop with pre-run
 * hooks, the console UART, and machine composition from a board (`composeMachine`). The `virt`
 * board (CLINT, test finisher) is `@ferry/riscv`'s; the simulator (synthetic RAM, the workload
 * backend) lives in `@ferry/sim`.
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
export * from "./node/worker-entry";
