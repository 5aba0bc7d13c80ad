export * from "./boot-args";
export * from "./machine";
export * from "./options";
export * from "./board";
