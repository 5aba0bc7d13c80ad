export * from "./vcpu";
