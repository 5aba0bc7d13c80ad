export * from "./clint";
export * from "./finisher";
export * from "./uart";
export * from "./validate";
