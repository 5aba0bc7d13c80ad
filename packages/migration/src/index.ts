/**
 * @ferry/migration — live migration of ferry machines: the plugin API and tokens, the capability &
 * parameter registry, the migration thread and state machine, the stream format (writer, push
 * reader, RAM record registry), transports (link, file, tcp/unix), the incoming side, snapshots
 * and query-migrate statistics.
 */
export type { DependencyContainer } from "tsyringe";
export * from "./declared-series";
export * from "./actions";
export * from "./dirty-rate";
export * from "./dirty-tracker";
export * from "./dirty-rate-meter";
export * from "./errors";
export * from "./incoming";
export * from "./lifecycle";
export * from "./logger";
export * from "./manager";
export * from "./observers";
export * from "./operator";
export * from "./page-sender";
export * from "./plugin";
export * from "./preempt-channel";
export * from "./rate-limiter";
export * from "./registry";
export * from "./sections/machine-state";
export * from "./sections/plugin-section";
export * from "./sections/ram";
export { RamLoader, type RamLoaderOptions, type FailAt } from "./sections/ram-loader";
export * from "./sections/types";
export * from "./return-path/index";
export * from "./snapshot";
export * from "./statistics";
export * from "./stats";
export * from "./stats-registry";
export * from "./stream/constants";
export * from "./stream/crc32";
export * from "./stream/fletcher64";
export * from "./stream/integrity";
export * from "./stream/reader";
export * from "./stream/records";
export * from "./stream/writer";
export * from "./thread";
export * from "./transport/file";
export * from "./transport/link";
export * from "./transport/socket";
export * from "./transport/types";
export * from "./multifd/compression";
export * from "./multifd/packet";
export * from "./multifd/receiver";
export * from "./multifd/sender";
export * from "./multifd/work";
export * from "./multifd/worker-pool";
export type * from "./multifd/worker-protocol";
export * from "./transport/socket-channels";
