/**
 * @ferry/plugin-postcopy — post-copy live migration (capability `postcopy-ram`): pre-copy first,
 * then the destination runs the guest while the source serves its page faults and pushes the
 * rest; QEMU's commands, statistics, `postcopy-paused` and recovery. See docs/postcopy.md.
 */
export * from "./commands";
export * from "./destination";
export * from "./latency";
export * from "./params";
export * from "./plugin";
export * from "./state";
export * from "./strategy";
