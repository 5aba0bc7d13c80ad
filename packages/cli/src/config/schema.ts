/**
 * The guest-config schema (zod v4). Input keys are kebab-case as written in YAML; the parsed
 * {@link FerryConfig} uses camelCase keys and base units (bytes, nanoseconds, bytes per second).
 */
import { MAX_BOOT_ARGS, MAX_VCPUS } from "@ferry/core";
import { z } from "zod";
import {
  BANDWIDTH_PATTERN,
  BANDWIDTH_SYNTAX,
  DURATION_PATTERN,
  DURATION_SYNTAX,
  parseBandwidth,
  parseDuration,
  parseSize,
  SIZE_PATTERN,
  SIZE_SYNTAX,
  UnitError,
} from "./units";

/** Largest number of guest arguments (the machine's boot-argument block limit). */
export const MAX_GUEST_ARGS = MAX_BOOT_ARGS;

function quantity(syntax: string, pattern: string, parse: (v: number | string) => number) {
  return z
    .union([z.number(), z.string().regex(new RegExp(pattern), { error: `expected ${syntax}` })], {
      error: `expected ${syntax}`,
    })
    .transform((value, ctx) => {
      try {
        return parse(value);
      } catch (err) {
        if (!(err instanceof UnitError)) throw err;
        ctx.issues.push({ code: "custom", message: err.message, input: value });
        return z.NEVER;
      }
    })
    .meta({ description: syntax[0].toUpperCase() + syntax.slice(1) });
}

/** A size in bytes: a number, or a string with a unit (`64KiB`, `16MiB`, `1GiB`). */
export const sizeSchema = quantity(SIZE_SYNTAX, SIZE_PATTERN, parseSize);
/** A duration in ns: seconds as a number, or a string with a unit (`300ms`, `2s`, `1.5min`). */
export const durationSchema = quantity(DURATION_SYNTAX, DURATION_PATTERN, parseDuration);
/** A bandwidth in bytes/s: a number, or a string (`1Gbit/s`, `128MiB/s`). */
export const bandwidthSchema = quantity(BANDWIDTH_SYNTAX, BANDWIDTH_PATTERN, parseBandwidth);

const U32_SYNTAX = "an unsigned 32-bit integer: a number, or a size like 64KiB or 1MiB";

const u32Arg = quantity(U32_SYNTAX, SIZE_PATTERN, (value) => {
  const n = parseSize(value);
  if (n > 0xffff_ffff) throw new UnitError(`expected ${U32_SYNTAX}, found ${value} (above 2^32-1)`);
  return n;
});

const machineSchema = z
  .strictObject({
    vcpus: z
      .number()
      .int()
      .min(1)
      .max(MAX_VCPUS)
      .default(1)
      .meta({ description: "Number of harts." }),
    memory: sizeSchema
      .pipe(
        z
          .number()
          .min(65536, { error: "expected at least 64KiB of RAM" })
          .multipleOf(4096, { error: "expected a whole number of 4KiB pages" }),
      )
      .prefault("16MiB")
      .meta({ description: "Guest RAM size (RAM starts at 0x8000_0000)." }),
    mips: z
      .number()
      .positive()
      .max(1e6)
      .default(100)
      .meta({ description: "Virtual speed of each hart in millions of instructions per second." }),
    "ram-backend": z
      .enum(["array", "shared", "synthetic"])
      .default("array")
      .meta({ description: "Where guest RAM lives." }),
  })
  .meta({ description: "The virtual machine (QEMU riscv virt memory map)." });

const guestSchema = z
  .strictObject({
    elf: z
      .string()
      .min(1)
      .meta({ description: "Path of the guest ELF, relative to the config file." }),
    args: z
      .array(u32Arg)
      .max(MAX_GUEST_ARGS)
      .default([])
      .meta({ description: "Guest parameters, written to the boot-argument block in order." }),
  })
  .meta({ description: "The guest program." });

const runSchema = z
  .strictObject({
    "time-limit": durationSchema
      .pipe(z.number().positive({ error: "expected a duration above 0" }))
      .prefault("30s")
      .meta({ description: "Virtual-time limit of the run (exit code 3 when reached)." }),
    seed: z.number().int().min(0).default(1).meta({ description: "Seed for anything random." }),
  })
  .meta({ description: "How to run." });

const linkSchema = z.strictObject({
  bandwidth: bandwidthSchema.prefault("1Gbit/s").meta({ description: "Link bandwidth." }),
  latency: durationSchema.prefault(0).meta({ description: "One-way link latency." }),
});

const parameterValue = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, a number or a boolean",
});

const migrationSchema = z
  .strictObject({
    "start-after": durationSchema
      .prefault(0)
      .meta({ description: "Virtual time the guest runs before the migration starts." }),
    link: linkSchema.prefault({}),
    capabilities: z
      .record(z.string(), z.boolean())
      .default({})
      .meta({ description: "Migration capabilities by QEMU name (validated by the registry)." }),
    parameters: z.record(z.string(), parameterValue).default({}).meta({
      description:
        "Migration parameters by QEMU name; values may carry units (validated by the registry).",
    }),
  })
  .meta({ description: "Used by `ferry migrate`." });

/** The config file schema as written (kebab-case input). */
export const configInputSchema = z
  .strictObject({
    name: z.string().min(1).meta({ description: "Short name of the scenario." }),
    description: z.string().optional().meta({ description: "What the scenario shows." }),
    machine: machineSchema.prefault({}),
    guest: guestSchema,
    run: runSchema.prefault({}),
    migration: migrationSchema.prefault({}),
  })
  .meta({ title: "ferry guest config", description: "A guest and how to run and migrate it." });

/** A migration parameter value as written (units are interpreted by the migration registry). */
export type ParameterValue = z.infer<typeof parameterValue>;

/** A validated config with base units. */
export interface FerryConfig {
  readonly name: string;
  readonly description: string | undefined;
  readonly machine: {
    readonly vcpus: number;
    readonly memoryBytes: number;
    readonly mips: number;
    readonly ramBackend: "array" | "shared" | "synthetic";
  };
  readonly guest: {
    /** Absolute path after loading (as written when parsed without a base directory). */
    readonly elf: string;
    readonly args: readonly number[];
  };
  readonly run: { readonly timeLimitNs: number; readonly seed: number };
  readonly migration: {
    readonly startAfterNs: number;
    readonly link: { readonly bandwidthBytesPerSec: number; readonly latencyNs: number };
    readonly capabilities: Readonly<Record<string, boolean>>;
    readonly parameters: Readonly<Record<string, ParameterValue>>;
  };
}

/** Validates kebab-case input and produces a {@link FerryConfig}. */
export const configSchema = configInputSchema.transform(
  (c): FerryConfig => ({
    name: c.name,
    description: c.description,
    machine: {
      vcpus: c.machine.vcpus,
      memoryBytes: c.machine.memory,
      mips: c.machine.mips,
      ramBackend: c.machine["ram-backend"],
    },
    guest: { elf: c.guest.elf, args: c.guest.args },
    run: { timeLimitNs: c.run["time-limit"], seed: c.run.seed },
    migration: {
      startAfterNs: c.migration["start-after"],
      link: {
        bandwidthBytesPerSec: c.migration.link.bandwidth,
        latencyNs: c.migration.link.latency,
      },
      capabilities: c.migration.capabilities,
      parameters: c.migration.parameters,
    },
  }),
);

/** JSON Schema (draft 2020-12) of the config file as written. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configInputSchema, { io: "input" }) as Record<string, unknown>;
}
