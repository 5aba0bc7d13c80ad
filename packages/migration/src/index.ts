/**
 * @ferry/migration — live migration of ferry machines: the plugin API and tokens, the capability &
 * parameter registry, the migration thread and state machine, the stream format (writer, push
 * reader, RAM record registry), transports (link, file, tcp/unix), the incoming side, snapshots
 * and query-migrate statistics.
 */
export type { DependencyContainer } from "tsyringe";
export * from "./dirty-rate";
export * from "./errors";
export * from "./incoming";
export * from "./lifecycle";
export * from "./manager";
export * from "./observers";
export * from "./page-sender";
export * from "./plugin";
export * from "./preempt-channel";
export * from "./rate-limiter";
export * from "./registry";
export * from "./return-path/index";
export * from "./snapshot";
export * from "./statistics";
export * from "./stats";
export * from "./stream/constants";
export * from "./stream/reader";
export * from "./stream/records";
export * from "./stream/writer";
export * from "./thread";
export * from "./transport/file";
export * from "./transport/link";
export * from "./transport/socket";
export * from "./transport/types";
