export * from "./address-space";
export * from "./bitmap";
export * from "./dirty-log";
export * from "./dirty-ring";
export * from "./missing-pages";
export * from "./ram";
