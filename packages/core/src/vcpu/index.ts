export * from "./vcpu";
export * from "./throttle";
