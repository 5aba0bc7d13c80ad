/**
 * @ferry/plugin-precopy — the default migration strategy: iterative pre-copy with zero-page
 * detection, QEMU's convergence test and switchover.
 */
export * from "./strategy";
export * from "./zero-page";
export * from "./plugin";
