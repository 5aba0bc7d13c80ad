/**
 * @ferry/qmp — the QEMU Machine Protocol for ferry: a server and a client speaking QEMU's wire
 * protocol (greeting, capabilities negotiation, execute/return/error, events), typed commands
 * from zod schemas, and the monitor commands that drive a machine and its migrations through a
 * small adapter boundary ({@link VmControl}, {@link MigrationControl}).
 */
export * from "./address";
export * from "./args";
export * from "./client";
export * from "./command";
export * from "./control";
export * from "./dirty-limit-commands";
export * from "./dirty-rate";
export * from "./errors";
export * from "./framing";
export * from "./hmp";
export * from "./migration-adapter";
export * from "./migration-uri";
export * from "./monitor";
export * from "./postcopy-commands";
export * from "./protocol";
export * from "./server";
export * from "./specs";
export * from "./throttle";
export * from "./vm";
export * from "./net-channel";
export * from "./net-parameters";
export * from "./tls/authz";
export * from "./tls/creds";
export * from "./tls/monitor-option";
export * from "./tls/object-spec";
export * from "./tls/objects";
export * from "./tls/session";
export * from "./tls/object-commands";
