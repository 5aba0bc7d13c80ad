/**
 * @ferry/plugin-auto-converge — throttle vCPUs until pre-copy converges: QEMU's percentage
 * throttle (trigger threshold, initial/increment/max, tailslow) or the original 2013 fixed-sleep
 * policy, applied through core's `createCpuThrottle` (vCPU pre-run hooks).
 */
export * from "./controller";
export * from "./gated-policy";
export * from "./params";
export * from "./period";
export * from "./plugin";
export * from "./qemu-policy";
export * from "./rfc2013-policy";
export * from "./types";
