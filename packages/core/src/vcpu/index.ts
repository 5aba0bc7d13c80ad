export * from "./vcpu";
export * from "./throttle";
export * from "./dirty-limit";
