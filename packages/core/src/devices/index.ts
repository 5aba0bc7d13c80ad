export * from "./uart";
export * from "./validate";
