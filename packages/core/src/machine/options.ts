/**
 * `createMachine` options and their zod schema.
 */
import { type Board, isBoard } from "./board";
import { z } from "zod";
import { InvalidArgumentError } from "../errors";
import type { MmioDevice, RamBackend } from "../memory/types";
import { PAGE_SIZE } from "../memory/types";
import { DEFAULT_DIRTY_RING_SIZE, MAX_DIRTY_RING_SIZE } from "../memory/dirty-ring";
import type { Scheduler } from "../time/types";
import type { CpuBackend } from "../vcpu/types";

/** Largest vCPU count. */
export const MAX_VCPUS = 64;
/** Smallest RAM size (64 KiB). */
export const MIN_RAM_SIZE = 64 * 1024;
/** Largest RAM size of a dense (`array`/`shared`) backend: RAM at 0x8000_0000 must end within the 32-bit address space. */
export const MAX_RAM_SIZE = 0x8000_0000;
/** Largest RAM size of a caller-supplied backend (e.g. synthetic): 1 TiB. */
export const MAX_SPARSE_RAM_SIZE = 2 ** 40;
/** Most boot arguments. */
export const MAX_BOOT_ARGS = 64;

const isScheduler = (v: unknown): v is Scheduler =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as Scheduler).now === "function" &&
  typeof (v as Scheduler).at === "function" &&
  typeof (v as Scheduler).after === "function" &&
  typeof (v as Scheduler).sleep === "function";

const isRamBackend = (v: unknown): v is RamBackend =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as RamBackend).kind === "string" &&
  typeof (v as RamBackend).size === "number" &&
  typeof (v as RamBackend).read === "function" &&
  typeof (v as RamBackend).write === "function" &&
  typeof (v as RamBackend).isZeroPage === "function";

const isMmioDevice = (v: unknown): v is MmioDevice =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as MmioDevice).id === "string" &&
  typeof (v as MmioDevice).read === "function" &&
  typeof (v as MmioDevice).write === "function" &&
  typeof (v as MmioDevice).saveState === "function" &&
  typeof (v as MmioDevice).loadState === "function";

const isCpuBackend = (v: unknown): v is CpuBackend =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as CpuBackend).name === "string" &&
  typeof (v as CpuBackend).createVcpu === "function";

/** The schema of {@link MachineOptions}. */
export const machineOptionsSchema = z
  .object({
    /** The board: its devices, RAM base and timebase (`@ferry/riscv`'s `virtBoard`). */
    board: z.custom<Board>(isBoard, {
      message:
        "expected a Board (name, ramBase, uartBase, timebaseHz, create); @ferry/riscv's createMachine supplies the virt board",
    }),
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
          .max(MAX_SPARSE_RAM_SIZE)
          .refine((v) => v % PAGE_SIZE === 0, { message: `must be a multiple of ${PAGE_SIZE}` }),
        /** `array`/`shared` (dense, ≤ 2 GiB), or a backend instance such as a synthetic one. */
        backend: z
          .union([
            z.enum(["array", "shared"]),
            z.custom<RamBackend>(isRamBackend, {
              message: 'expected "array", "shared" or a RamBackend instance',
            }),
          ])
          .default("array"),
        /**
         * Commit every page of a dense backend at creation (QEMU's `-mem-prealloc`): no page
         * fault per page later, e.g. while a migration destination loads them.
         */
        prealloc: z.boolean().default(false),
      })
      .strict()
      .superRefine((m, ctx) => {
        if (typeof m.backend === "string" && m.size > MAX_RAM_SIZE) {
          ctx.addIssue({
            code: "custom",
            path: ["size"],
            message: `a dense ${m.backend} backend holds at most ${MAX_RAM_SIZE} bytes (2 GiB); use a sparse backend for more`,
          });
        }
        if (typeof m.backend === "object" && m.backend.size !== m.size) {
          ctx.addIssue({
            code: "custom",
            path: ["backend"],
            message: `backend size ${m.backend.size} differs from memory.size ${m.size}`,
          });
        }
      }),
    /** Extra MMIO devices mapped on the bus; their state is saved and migrated with the machine's. */
    devices: z
      .array(
        z
          .object({
            name: z.string().min(1),
            base: z.number().int().min(0),
            size: z.number().int().positive(),
            device: z.custom<MmioDevice>(isMmioDevice, {
              message: "expected an MmioDevice (id, read, write, saveState, loadState)",
            }),
          })
          .strict(),
      )
      .default([]),
    sliceNs: z.number().positive().finite().optional(),
    /**
     * How RAM's dirty pages are tracked: `bitmap` (KVM's dirty log, the default) or `ring`
     * (KVM's per-vCPU dirty ring of `ringSize` entries; a full ring exits the vCPU).
     */
    dirtyTracking: z
      .object({
        kind: z.enum(["bitmap", "ring"]).default("bitmap"),
        ringSize: z
          .number()
          .int()
          .min(1)
          .max(MAX_DIRTY_RING_SIZE)
          .refine((v) => (v & (v - 1)) === 0, { message: "must be a power of two" })
          .default(DEFAULT_DIRTY_RING_SIZE),
      })
      .strict()
      .default({ kind: "bitmap", ringSize: DEFAULT_DIRTY_RING_SIZE }),
    bootArgs: z.array(z.number().int().min(0).max(0xffff_ffff)).max(MAX_BOOT_ARGS).optional(),
  })
  .strict();

/** Options of `composeMachine` (input form: `memory.backend` defaults to `array`). */
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
