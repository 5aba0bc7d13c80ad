/**
 * The wire contracts of every command ferry's monitor offers (QEMU's qapi/*.json names and
 * members). A client typed by {@link qmpSpecs} gets typed arguments and results.
 */
import { z } from "zod";
import { commandSpec } from "./command";
import { dirtyLimitSpecs } from "./dirty-limit-commands";
import { migrationChannelSchema } from "./migration-uri";
import { queryCommandsSpec } from "./server";
import { throttleSpecs } from "./throttle";

const empty = z.object({});
const runStates = z.enum([
  "prelaunch",
  "running",
  "paused",
  "inmigrate",
  "finish-migrate",
  "postmigrate",
  "shutdown",
  "internal-error",
]);
const migrationStatus = z.enum([
  "none",
  "setup",
  "cancelling",
  "cancelled",
  "active",
  "postcopy-active",
  "postcopy-paused",
  "postcopy-recover-setup",
  "postcopy-recover",
  "completed",
  "failed",
  "colo",
  "pre-switchover",
  "device",
  "wait-unplug",
]);
const timeUnit = z.enum(["second", "millisecond"]);

/** Every command spec, keyed by name. */
export const qmpSpecs = {
  "query-commands": queryCommandsSpec,
  ...dirtyLimitSpecs,
  "query-version": commandSpec({
    name: "query-version",
    args: empty,
    returns: z.object({
      qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
      package: z.string(),
    }),
  }),
  "query-status": commandSpec({
    name: "query-status",
    args: empty,
    returns: z.object({ running: z.boolean(), status: runStates }),
  }),
  stop: commandSpec({ name: "stop", args: empty, returns: empty }),
  cont: commandSpec({ name: "cont", args: empty, returns: empty }),
  quit: commandSpec({ name: "quit", args: empty, returns: empty }),
  system_powerdown: commandSpec({ name: "system_powerdown", args: empty, returns: empty }),
  system_reset: commandSpec({ name: "system_reset", args: empty, returns: empty }),
  "query-migrate": commandSpec({
    name: "query-migrate",
    args: empty,
    returns: z.looseObject({
      status: migrationStatus.optional(),
      "error-desc": z.string().optional(),
    }),
  }),
  "query-migrate-capabilities": commandSpec({
    name: "query-migrate-capabilities",
    args: empty,
    returns: z.array(z.object({ capability: z.string(), state: z.boolean() })),
  }),
  "migrate-set-capabilities": commandSpec({
    name: "migrate-set-capabilities",
    args: z.object({
      capabilities: z.array(z.object({ capability: z.string(), state: z.boolean() })),
    }),
    returns: empty,
  }),
  "query-migrate-parameters": commandSpec({
    name: "query-migrate-parameters",
    args: empty,
    returns: z.record(z.string(), z.unknown()),
  }),
  "migrate-set-parameters": commandSpec({
    name: "migrate-set-parameters",
    args: z.object({}).catchall(z.unknown()),
    returns: empty,
  }),
  migrate: commandSpec({
    name: "migrate",
    args: z.object({
      uri: z.string().optional(),
      channels: z.array(migrationChannelSchema).optional(),
      detach: z.boolean().optional(),
      resume: z.boolean().optional(),
    }),
    returns: empty,
  }),
  "migrate-incoming": commandSpec({
    name: "migrate-incoming",
    args: z.object({
      uri: z.string().optional(),
      channels: z.array(migrationChannelSchema).optional(),
      "exit-on-error": z.boolean().optional(),
    }),
    returns: empty,
  }),
  migrate_cancel: commandSpec({ name: "migrate_cancel", args: empty, returns: empty }),
  "migrate-start-postcopy": commandSpec({
    name: "migrate-start-postcopy",
    args: empty,
    returns: empty,
  }),
  "migrate-recover": commandSpec({
    name: "migrate-recover",
    args: z.object({ uri: z.string() }),
    returns: empty,
  }),
  "migrate-pause": commandSpec({ name: "migrate-pause", args: empty, returns: empty }),
  "migrate-continue": commandSpec({
    name: "migrate-continue",
    args: z.object({ state: migrationStatus }),
    returns: empty,
  }),
  "calc-dirty-rate": commandSpec({
    name: "calc-dirty-rate",
    args: z.object({
      "calc-time": z.number().int(),
      "calc-time-unit": timeUnit.optional(),
      "sample-pages": z.number().int().optional(),
      mode: z.enum(["page-sampling", "dirty-ring", "dirty-bitmap"]).optional(),
    }),
    returns: empty,
  }),
  "query-dirty-rate": commandSpec({
    name: "query-dirty-rate",
    args: z.object({ "calc-time-unit": timeUnit.optional() }),
    returns: z.object({
      "dirty-rate": z.number().optional(),
      status: z.enum(["unstarted", "measuring", "measured"]),
      "start-time": z.number(),
      "calc-time": z.number(),
      "calc-time-unit": timeUnit,
      "sample-pages": z.number(),
      mode: z.enum(["page-sampling", "dirty-ring", "dirty-bitmap"]),
      "vcpu-dirty-rate": z.array(z.object({ id: z.number(), "dirty-rate": z.number() })).optional(),
    }),
  }),
  "human-monitor-command": commandSpec({
    name: "human-monitor-command",
    args: z.object({ "command-line": z.string(), "cpu-index": z.number().int().optional() }),
    returns: z.string(),
  }),
  ...throttleSpecs,
} as const;

/** The spec table's type (parameter of a typed client). */
export type QmpSpecs = typeof qmpSpecs;

/** Events ferry's monitor sends. */
export const qmpEventNames = [
  "STOP",
  "RESUME",
  "SHUTDOWN",
  "RESET",
  "POWERDOWN",
  "MIGRATION",
  "MIGRATION_PASS",
  "DIRTY_RATE_COMPLETED",
] as const;
