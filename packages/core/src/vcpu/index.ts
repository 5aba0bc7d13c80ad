export * from "./vcpu";
export * from "./throttle";
export * from "./throttle-control";
export * from "./dirty-limit";
