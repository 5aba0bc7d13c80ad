/**
 * @ferry/plugin-auto-converge — throttle vCPUs until pre-copy converges: QEMU's percentage
 * throttle (trigger threshold, initial/increment/max, tailslow) or the original 2013 fixed-sleep
 * policy, applied through the vCPU pre-run hook.
 */
export * from "./controller";
export * from "./params";
export * from "./period";
export * from "./plugin";
export * from "./qemu-policy";
export * from "./rfc2013-policy";
export * from "./throttle-clock";
export * from "./throttler";
export * from "./types";
