/**
 * `createMachine` options and their zod schema.
 */
import { z } from "zod";
import { InvalidArgumentError } from "../errors";
import { PAGE_SIZE } from "../memory/types";
import type { Scheduler } from "../time/types";
import type { CpuBackend } from "../vcpu/types";

/** Largest vCPU count. */
export const MAX_VCPUS = 64;
/** Smallest RAM size (64 KiB). */
export const MIN_RAM_SIZE = 64 * 1024;
/** Largest RAM size: RAM at 0x8000_0000 must end within the 32-bit address space. */
export const MAX_RAM_SIZE = 0x8000_0000;
/** Most boot arguments. */
export const MAX_BOOT_ARGS = 64;

const isScheduler = (v: unknown): v is Scheduler =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as Scheduler).now === "function" &&
  typeof (v as Scheduler).at === "function" &&
  typeof (v as Scheduler).after === "function" &&
  typeof (v as Scheduler).sleep === "function";

const isCpuBackend = (v: unknown): v is CpuBackend =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as CpuBackend).name === "string" &&
  typeof (v as CpuBackend).createVcpu === "function";

/** The schema of {@link MachineOptions}. */
export const machineOptionsSchema = z
  .object({
    scheduler: z.custom<Scheduler>(isScheduler, {
      message: "expected a Scheduler (an object with now/at/after/sleep)",
    }),
    cpu: z.custom<CpuBackend>(isCpuBackend, {
      message: "expected a CpuBackend (an object with name and createVcpu)",
    }),
    vcpus: z.number().int().min(1).max(MAX_VCPUS),
    memory: z
      .object({
        size: z
          .number()
          .int()
          .min(MIN_RAM_SIZE)
          .max(MAX_RAM_SIZE)
          .refine((v) => v % PAGE_SIZE === 0, { message: `must be a multiple of ${PAGE_SIZE}` }),
        backend: z.enum(["array", "shared"]).default("array"),
      })
      .strict(),
    sliceNs: z.number().positive().finite().optional(),
    bootArgs: z.array(z.number().int().min(0).max(0xffff_ffff)).max(MAX_BOOT_ARGS).optional(),
  })
  .strict();

/** Options of `createMachine` (input form: `memory.backend` defaults to `array`). */
export type MachineOptions = z.input<typeof machineOptionsSchema>;
/** Options after validation and defaults. */
export type ResolvedMachineOptions = z.output<typeof machineOptionsSchema>;

/** Validate options; throws an {@link InvalidArgumentError} naming each bad field. */
export function parseMachineOptions(options: unknown): ResolvedMachineOptions {
  const r = machineOptionsSchema.safeParse(options);
  if (r.success) return r.data;
  const problems = r.error.issues
    .map((i) => {
      let got = options as unknown;
      for (const k of i.path)
        got = (got as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey];
      const shown = typeof got === "object" ? typeof got : JSON.stringify(got);
      return `${i.path.length > 0 ? i.path.join(".") : "(options)"}: ${i.message} (got ${shown})`;
    })
    .join("; ");
  throw new InvalidArgumentError(`invalid machine options: ${problems}`);
}
