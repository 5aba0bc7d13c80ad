export * from "./realtime";
export * from "./virtual";
