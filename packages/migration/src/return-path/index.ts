/** The return path: message codec, stream tally, the source's inbox and acknowledgement check. */
export * from "./ack";
export * from "./inbox";
export * from "./messages";
export * from "./tally";
