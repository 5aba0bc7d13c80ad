/**
 * The guest-config schema (zod v4). Input keys are kebab-case as written in YAML; the parsed
 * {@link FerryConfig} uses camelCase keys and base units (bytes, nanoseconds, bytes per second).
 */
import { MAX_BOOT_ARGS, MAX_RAM_SIZE, MAX_VCPUS } from "@ferry/core";
import { MAX_SYNTHETIC_RAM_SIZE } from "@ferry/sim";
import type { WorkloadDistribution } from "@ferry/sim";
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

/** The message for a config with neither `guest:` nor `workload:`. */
export const MISSING_PROGRAM =
  "expected a guest (an ELF program) or a workload (a synthetic dirtier), found neither";

/** Smallest `machine.slice` (ns): shorter slices schedule more events than any run can afford. */
export const MIN_SLICE_NS = 1000;

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
          .max(MAX_SYNTHETIC_RAM_SIZE, { error: "expected at most 1TiB of RAM" })
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
    "cpu-engine": z.enum(["jit", "interpreter"]).default("jit").meta({
      description:
        "RISC-V execution: jit (block compiler) or interpreter (the reference); identical results in virtual time.",
    }),
    "ram-backend": z.enum(["array", "shared", "synthetic"]).default("array").meta({
      description:
        "Where guest RAM lives; synthetic (versions per page) only with a workload, required above 2GiB.",
    }),
    "mem-prealloc": z.boolean().default(false).meta({
      description:
        "Commit every page of guest RAM at start (QEMU's -mem-prealloc): a migration destination then loads pages without a page fault each.",
    }),
    slice: durationSchema
      .pipe(
        z.number().min(MIN_SLICE_NS, {
          error: `expected a slice of at least 1us (${MIN_SLICE_NS} ns)`,
        }),
      )
      .optional()
      .meta({
        description:
          "Virtual time a vCPU runs per scheduler event (default 100us; 10ms for workloads).",
      }),
    "dirty-tracking": z.enum(["bitmap", "ring"]).default("bitmap").meta({
      description:
        "How RAM's dirty pages are tracked: bitmap (KVM's dirty log) or ring (KVM's per-vCPU dirty ring; a full ring exits the vCPU until it is reaped).",
    }),
    "dirty-ring-size": z
      .number()
      .int()
      .min(1)
      .max(65536)
      .refine((v) => (v & (v - 1)) === 0, { error: "expected a power of two" })
      .default(4096)
      .meta({
        description:
          "Entries per vCPU dirty ring (a power of two, 1..65536) with dirty-tracking: ring.",
      }),
  })
  .meta({ description: "The virtual machine (QEMU riscv virt memory map)." });

/** Kernel command line of a Linux guest when `guest.bootargs` is absent. */
export const DEFAULT_BOOTARGS = "console=ttyS0 earlycon=sbi";

const guestSchema = z
  .strictObject({
    elf: z.string().min(1).optional().meta({
      description: "Path of the guest ELF, relative to the config file (or give kernel).",
    }),
    kernel: z.string().min(1).optional().meta({
      description:
        "Path of a RISC-V Linux kernel Image, booted in S-mode on ferry's SBI firmware (instead of elf).",
    }),
    initrd: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "Path of the initramfs (cpio) of a kernel guest." }),
    bootargs: z
      .string()
      .optional()
      .meta({
        description: `Kernel command line of a kernel guest (default "${DEFAULT_BOOTARGS}").`,
      }),
    args: z
      .array(u32Arg)
      .max(MAX_GUEST_ARGS)
      .default([])
      .meta({ description: "Guest parameters, written to the boot-argument block in order." }),
  })
  .superRefine((g, ctx) => {
    const fail = (path: string, message: string): void => {
      ctx.issues.push({ code: "custom", path: [path], message, input: undefined });
    };
    if (g.elf === undefined && g.kernel === undefined) fail("elf", "expected elf or kernel");
    if (g.elf !== undefined && g.kernel !== undefined) {
      fail("kernel", "expected either elf or kernel, found both");
    }
    if (g.kernel === undefined) {
      if (g.initrd !== undefined) fail("initrd", "expected only with kernel");
      if (g.bootargs !== undefined) fail("bootargs", "expected only with kernel");
    } else if (g.args.length > 0) fail("args", "expected no args with kernel (use bootargs)");
  })
  .meta({ description: "The guest program: an ELF, or a Linux kernel with its initramfs." });

const pageBytes = sizeSchema.pipe(
  z
    .number()
    .positive({ error: "expected a size above 0" })
    .multipleOf(4096, { error: "expected a whole number of 4KiB pages" }),
);

const distributionSchema = z
  .discriminatedUnion(
    "kind",
    [
      z.strictObject({
        kind: z.literal("uniform"),
        "footprint-bytes": pageBytes.optional().meta({
          description: "Bytes written (from offset 0); default: all of RAM.",
        }),
      }),
      z.strictObject({
        kind: z.literal("hot-cold"),
        "hot-bytes": pageBytes.meta({ description: "The hot set: the first hot-bytes of RAM." }),
        "hot-share": z
          .number()
          .min(0)
          .max(1)
          .meta({ description: "Share of writes that are hot." }),
        "footprint-bytes": pageBytes.optional().meta({
          description: "Hot + cold bytes (from offset 0); default: all of RAM.",
        }),
      }),
      z.strictObject({
        kind: z.literal("zipf"),
        s: z
          .number()
          .min(0)
          .max(16)
          .meta({ description: "Zipf exponent (page r has weight (r+1)^-s)." }),
        "footprint-bytes": pageBytes.meta({ description: "Bytes written (from offset 0)." }),
      }),
      z.strictObject({
        kind: z.literal("sequential"),
        "footprint-bytes": pageBytes.meta({
          description: "Bytes swept (from offset 0), wrapping.",
        }),
        "stride-bytes": sizeSchema
          .pipe(z.number().int().positive({ error: "expected a size above 0" }))
          .optional()
          .meta({ description: "Distance between consecutive writes (default 4KiB)." }),
      }),
    ],
    { error: 'expected a distribution with kind "uniform", "hot-cold", "zipf" or "sequential"' },
  )
  .meta({ description: "Which pages the writes land in." });

const workloadSchema = z
  .strictObject({
    seed: z.number().int().min(0).max(0xffff_ffff).optional().meta({
      description: "Seed of the write streams and the synthetic content (default run.seed).",
    }),
    "writes-per-second": z
      .number()
      .min(0)
      .max(1e9)
      .meta({ description: "Page writes per second per vCPU while busy and unthrottled." }),
    "busy-share": z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .meta({ description: "Share (0..1) of time each vCPU is busy (scales the write rate)." }),
    "reads-per-write": z
      .number()
      .min(0)
      .max(1e6)
      .default(0)
      .meta({ description: "Reads counted per write (operations; no memory effect)." }),
    "reads-per-second": z.number().min(0).max(1e9).default(0).meta({
      description:
        "Reads per second per vCPU while busy, independent of writes (operations; no memory effect).",
    }),
    "vcpu-writes-per-second": z.array(z.number().min(0).max(1e9)).max(1024).optional().meta({
      description:
        "Per-vCPU writes-per-second (index = vCPU; later vCPUs use writes-per-second); 0 = a vCPU that only reads.",
    }),
    distribution: distributionSchema,
    "bytes-per-write": z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(8)
      .meta({ description: "Bytes one write changes." }),
    "zero-share": z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .meta({ description: "Synthetic RAM: share of writes that leave the page all zero." }),
    "delta-window": z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .meta({ description: "Synthetic RAM: write overlays a page version shows (1..64)." }),
    "prefill-bytes": pageBytes.optional().meta({
      description:
        "Bytes of the footprint (from the start of RAM) written once before the run starts, as a populated heap (default 0).",
    }),
  })
  .meta({
    description: "A synthetic page dirtier instead of a guest program (the workload backend).",
  });

const runSchema = z
  .strictObject({
    "time-limit": durationSchema
      .pipe(z.number().positive({ error: "expected a duration above 0" }))
      .prefault("30s")
      .meta({ description: "Virtual-time limit of the run (exit code 3 when reached)." }),
    seed: z.number().int().min(0).default(1).meta({ description: "Seed for anything random." }),
  })
  .meta({ description: "How to run." });

/** `link.bandwidth: unlimited`: no bandwidth limit (the link delivers after its latency only). */
export const UNLIMITED = "unlimited";

const linkBandwidthSchema = z
  .union([
    z.literal(UNLIMITED).transform(() => Number.POSITIVE_INFINITY),
    bandwidthSchema.pipe(
      z.number().positive({
        error: `expected a bandwidth above 0 (write "${UNLIMITED}" for no limit)`,
      }),
    ),
  ])
  .meta({
    description: `${BANDWIDTH_SYNTAX[0].toUpperCase()}${BANDWIDTH_SYNTAX.slice(1)}, or "${UNLIMITED}"`,
  });

const linkSchema = z.strictObject({
  bandwidth: linkBandwidthSchema
    .prefault("1Gbit/s")
    .meta({ description: `Link bandwidth (above 0), or "${UNLIMITED}".` }),
  latency: durationSchema.prefault(0).meta({ description: "One-way link latency." }),
  buffer: sizeSchema
    .pipe(z.number().int().min(4096, { error: "expected at least 4KiB" }))
    .prefault("1MiB")
    .meta({ description: "Send buffer of the link (bytes in flight before the sender waits)." }),
});

const parameterValue = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, a number or a boolean",
});

/** The commands of a timeline action (`do:`). */
export const ACTION_DO = ["continue", "cancel"] as const;

const actionSchema = z
  .strictObject({
    at: durationSchema.optional().meta({
      description: "When: this long after the migration started (virtual time).",
    }),
    pass: z
      .number()
      .int({ error: "expected a whole pass number" })
      .min(1, { error: "expected a pass of at least 1 (1 = the setup sync)" })
      .optional()
      .meta({ description: "When: at the dirty-log sync that makes dirty-sync-count this pass." }),
    set: z.record(z.string(), parameterValue).optional().meta({
      description:
        "migrate-set-parameters during the migration (QEMU names; values may carry units).",
    }),
    throttle: z
      .number()
      .int({ error: "expected a whole percentage" })
      .min(0, { error: "expected a percentage from 0 to 99" })
      .max(99, { error: "expected a percentage from 0 to 99" })
      .optional()
      .meta({
        description:
          "The external vCPU throttle in % (0 = off), like x-set-cpu-throttle; the stronger of it and auto-converge is in force.",
      }),
    do: z.enum(ACTION_DO, { error: 'expected "continue" or "cancel"' }).optional().meta({
      description:
        "continue: migrate-continue from pre-switchover (capability pause-before-switchover); cancel: migrate_cancel.",
    }),
  })
  .superRefine((a, ctx) => {
    const when = [a.at !== undefined, a.pass !== undefined].filter(Boolean).length;
    if (when !== 1) {
      ctx.issues.push({
        code: "custom",
        path: [a.at !== undefined ? "pass" : "at"],
        message:
          when === 0
            ? "expected `at` (a duration after the migration started) or `pass` (a sync count)"
            : "expected either `at` or `pass`, found both",
        input: undefined,
      });
    }
    const what = [a.set !== undefined, a.throttle !== undefined, a.do !== undefined];
    const n = what.filter(Boolean).length;
    if (n !== 1) {
      ctx.issues.push({
        code: "custom",
        path: [n === 0 ? "set" : (["set", "throttle", "do"] as const)[what.lastIndexOf(true)]],
        message:
          n === 0
            ? "expected one of `set`, `throttle` or `do`"
            : "expected only one of `set`, `throttle` or `do` per action",
        input: undefined,
      });
    }
  })
  .meta({
    description: "One operator action: when (`at` or `pass`) and what (`set`, `throttle` or `do`)",
  });

/** `migration.start-postcopy-after`: `N passes` (or `1 pass`), or a duration. */
const startPostcopyAfterSchema = z
  .union([
    z.string().regex(/^\s*\d+\s*pass(es)?\s*$/, { error: "expected N passes" }),
    durationSchema,
  ])
  .transform((v): { readonly passes: number } | { readonly ns: number } =>
    typeof v === "string" ? { passes: Number.parseInt(v, 10) } : { ns: v },
  )
  .optional()
  .meta({
    description:
      'Post-copy (capability postcopy-ram): switch after this many pre-copy passes ("2 passes") or this long after the start ("30s"); sets x-postcopy-after-passes / x-postcopy-after-ms.',
  });

const migrationSchema = z
  .strictObject({
    "start-after": durationSchema
      .prefault(0)
      .meta({ description: "Virtual time the guest runs before the migration starts." }),
    "start-postcopy-after": startPostcopyAfterSchema,
    link: linkSchema.prefault({}),
    capabilities: z
      .record(z.string(), z.boolean())
      .default({})
      .meta({ description: "Migration capabilities by QEMU name (validated by the registry)." }),
    parameters: z.record(z.string(), parameterValue).default({}).meta({
      description:
        "Migration parameters by QEMU name; values may carry units (validated by the registry).",
    }),
    actions: z.array(actionSchema).default([]).meta({
      description:
        "Operator timeline: actions on the running migration, fired in virtual time (see docs/migration.md, Operator control).",
    }),
  })
  .meta({ description: "Used by `ferry migrate`." });

/** The config file schema as written (kebab-case input). */
export const configInputSchema = z
  .strictObject({
    name: z.string().min(1).meta({ description: "Short name of the scenario." }),
    description: z.string().optional().meta({ description: "What the scenario shows." }),
    machine: machineSchema.prefault({}),
    guest: guestSchema.optional(),
    workload: workloadSchema.optional(),
    run: runSchema.prefault({}),
    migration: migrationSchema.prefault({}),
    plugins: z
      .array(z.string().min(1, { error: "expected a package name or a path" }))
      .default([])
      .meta({
        description:
          "Extra migration plugins: package names or paths, imported from the config file's directory.",
      }),
  })
  .superRefine((c, ctx) => {
    const fail = (path: (string | number)[], message: string): void => {
      ctx.issues.push({ code: "custom", path, message, input: undefined });
    };
    if (c.guest === undefined && c.workload === undefined) {
      fail(["guest"], MISSING_PROGRAM);
    }
    if (c.guest !== undefined && c.workload !== undefined) {
      fail(["workload"], "expected either guest or workload, found both");
    }
    const ram = c.machine.memory;
    const backend = c.machine["ram-backend"];
    if (c.guest !== undefined && backend === "synthetic") {
      fail(
        ["machine", "ram-backend"],
        'expected "array" or "shared" for a guest program (synthetic RAM holds only versions, not code), found "synthetic"',
      );
    }
    const slice = c.machine.slice;
    const mips = c.machine.mips;
    if (c.guest !== undefined) {
      const sliceNs = slice ?? DEFAULT_GUEST_SLICE_NS;
      // Each instruction costs 1000 / mips ns: a slice must fit at least one.
      if (sliceNs * mips < 1000) {
        fail(
          slice !== undefined ? ["machine", "slice"] : ["machine", "mips"],
          `expected machine.slice × machine.mips to allow at least one instruction per slice ` +
            `(slice ≥ ${Math.ceil(1000 / mips)} ns at ${mips} MIPS), found a slice of ${sliceNs} ns`,
        );
      }
    }
    if (backend !== "synthetic" && ram > MAX_RAM_SIZE) {
      fail(
        ["machine", "memory"],
        `expected at most 2GiB with ram-backend "${backend}" (use ram-backend: synthetic with a workload for more), found ${ram} bytes`,
      );
    }
    const d = c.workload?.distribution;
    if (d !== undefined) {
      const footprint = d["footprint-bytes"];
      if (footprint !== undefined && footprint > ram) {
        fail(
          ["workload", "distribution", "footprint-bytes"],
          `expected at most machine.memory (${ram} bytes), found ${footprint}`,
        );
      }
      const prefill = c.workload?.["prefill-bytes"];
      if (prefill !== undefined && prefill > (footprint ?? ram)) {
        fail(
          ["workload", "prefill-bytes"],
          `expected at most the footprint (${footprint ?? ram} bytes), found ${prefill}`,
        );
      }
      if (d.kind === "hot-cold" && d["hot-bytes"] > (footprint ?? ram)) {
        fail(
          ["workload", "distribution", "hot-bytes"],
          `expected at most the footprint (${footprint ?? ram} bytes), found ${d["hot-bytes"]}`,
        );
      }
    }
  })
  .meta({
    title: "ferry guest config",
    description: "A guest program or a synthetic workload, and how to run and migrate it.",
  });

/** A migration parameter value as written (units are interpreted by the migration registry). */
export type ParameterValue = z.infer<typeof parameterValue>;

/** One operator action of `migration.actions` (times in ns; `set` values as written). */
export interface ActionConfig {
  /** Fire this long after the migration started (ns), or at this pass. */
  readonly when: { readonly atNs: number } | { readonly pass: number };
  /** What to do. */
  readonly what:
    | { readonly set: Readonly<Record<string, ParameterValue>> }
    | { readonly throttle: number }
    | { readonly do: (typeof ACTION_DO)[number] };
}

/** A validated `workload:` section (camelCase; sizes in bytes). */
export interface WorkloadConfig {
  /** Seed of the write streams and of synthetic content (`run.seed` when not given). */
  readonly seed: number;
  /** Page writes per second per vCPU while busy and unthrottled. */
  readonly writesPerSecond: number;
  readonly busyShare: number;
  readonly readsPerWrite: number;
  /** Reads per second per vCPU while busy, independent of writes. */
  readonly readsPerSecond: number;
  /** Per-vCPU write rates overriding `writesPerSecond` (index = vCPU), when given. */
  readonly vcpuWritesPerSecond: readonly number[] | undefined;
  /** Core's `WorkloadDistribution` shape. */
  readonly distribution: WorkloadDistribution;
  readonly bytesPerWrite: number;
  readonly zeroShare: number;
  readonly deltaWindow: number;
  /** Bytes of the footprint written once before the run starts (0: none). */
  readonly prefillBytes: number;
}

/** Default `machine.slice` of a RISC-V guest (ns). */
export const DEFAULT_GUEST_SLICE_NS = 100_000;
/** Default `machine.slice` of a workload (ns). */
export const DEFAULT_WORKLOAD_SLICE_NS = 10_000_000;

/** A validated config with base units. */
export interface FerryConfig {
  readonly name: string;
  readonly description: string | undefined;
  readonly machine: {
    readonly vcpus: number;
    readonly memoryBytes: number;
    readonly mips: number;
    /** Execution engine of RISC-V harts. */
    readonly cpuEngine: "jit" | "interpreter";
    readonly ramBackend: "array" | "shared" | "synthetic";
    /** Commit every page of dense guest RAM at start (QEMU's `-mem-prealloc`). */
    readonly memPrealloc: boolean;
    /** Virtual ns a vCPU runs per scheduler event. */
    readonly sliceNs: number;
    /** RAM's dirty tracker and the ring size (entries per vCPU) when it is `ring`. */
    readonly dirtyTracking: { readonly kind: "bitmap" | "ring"; readonly ringSize: number };
  };
  /** The guest program; absent for a workload config. */
  readonly guest:
    | {
        /**
         * The program file: the ELF, or the kernel Image of a Linux guest. Absolute path after
         * loading (as written when parsed without a base directory).
         */
        readonly elf: string;
        readonly args: readonly number[];
        /** Set for a Linux guest (`guest.kernel`): its initramfs path and command line. */
        readonly linux?: { readonly initrd: string | null; readonly bootargs: string };
      }
    | undefined;
  /** The synthetic workload; absent for a guest config. */
  readonly workload: WorkloadConfig | undefined;
  readonly run: { readonly timeLimitNs: number; readonly seed: number };
  readonly migration: {
    readonly startAfterNs: number;
    /** `start-postcopy-after`: passes or virtual ns, when set. */
    readonly startPostcopyAfter?: { readonly passes: number } | { readonly ns: number };
    readonly link: {
      /** Bytes/s; `Infinity` for `unlimited`. */
      readonly bandwidthBytesPerSec: number;
      readonly latencyNs: number;
      /** Link send buffer (bytes). */
      readonly bufferBytes: number;
    };
    readonly capabilities: Readonly<Record<string, boolean>>;
    readonly parameters: Readonly<Record<string, ParameterValue>>;
    /** The operator timeline, in order as written. */
    readonly actions: readonly ActionConfig[];
  };
  /** Extra migration plugins as written (package names or paths; see `loadConfigPlugins`). */
  readonly plugins: readonly string[];
  /** Directory of the config file (plugins are resolved from it); undefined for inline text. */
  readonly configDir: string | undefined;
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
      cpuEngine: c.machine["cpu-engine"],
      ramBackend: c.machine["ram-backend"],
      memPrealloc: c.machine["mem-prealloc"],
      sliceNs:
        c.machine.slice ??
        (c.workload !== undefined ? DEFAULT_WORKLOAD_SLICE_NS : DEFAULT_GUEST_SLICE_NS),
      dirtyTracking: { kind: c.machine["dirty-tracking"], ringSize: c.machine["dirty-ring-size"] },
    },
    guest:
      c.guest === undefined
        ? undefined
        : c.guest.kernel !== undefined
          ? {
              elf: c.guest.kernel,
              args: c.guest.args,
              linux: {
                initrd: c.guest.initrd ?? null,
                bootargs: c.guest.bootargs ?? DEFAULT_BOOTARGS,
              },
            }
          : { elf: c.guest.elf ?? "", args: c.guest.args },
    workload: c.workload === undefined ? undefined : workloadOf(c.workload, c.run.seed),
    run: { timeLimitNs: c.run["time-limit"], seed: c.run.seed },
    migration: {
      startAfterNs: c.migration["start-after"],
      ...(c.migration["start-postcopy-after"] === undefined
        ? {}
        : { startPostcopyAfter: c.migration["start-postcopy-after"] }),
      link: {
        bandwidthBytesPerSec: c.migration.link.bandwidth,
        latencyNs: c.migration.link.latency,
        bufferBytes: c.migration.link.buffer,
      },
      capabilities: c.migration.capabilities,
      parameters: c.migration.parameters,
      actions: c.migration.actions.map(
        (a): ActionConfig => ({
          when: a.at !== undefined ? { atNs: a.at } : { pass: a.pass ?? 1 },
          what:
            a.set !== undefined
              ? { set: a.set }
              : a.throttle !== undefined
                ? { throttle: a.throttle }
                : { do: a.do ?? "continue" },
        }),
      ),
    },
    plugins: c.plugins,
    configDir: undefined,
  }),
);

function workloadOf(w: z.output<typeof workloadSchema>, runSeed: number): WorkloadConfig {
  const d = w.distribution;
  let distribution: WorkloadDistribution;
  switch (d.kind) {
    case "uniform":
      distribution = { kind: "uniform", footprintBytes: d["footprint-bytes"] };
      break;
    case "hot-cold":
      distribution = {
        kind: "hot-cold",
        hotBytes: d["hot-bytes"],
        hotShare: d["hot-share"],
        footprintBytes: d["footprint-bytes"],
      };
      break;
    case "zipf":
      distribution = { kind: "zipf", s: d.s, footprintBytes: d["footprint-bytes"] };
      break;
    case "sequential":
      distribution = {
        kind: "sequential",
        footprintBytes: d["footprint-bytes"],
        strideBytes: d["stride-bytes"],
      };
      break;
  }
  return {
    seed: w.seed ?? runSeed,
    writesPerSecond: w["writes-per-second"],
    busyShare: w["busy-share"],
    readsPerWrite: w["reads-per-write"],
    readsPerSecond: w["reads-per-second"],
    vcpuWritesPerSecond: w["vcpu-writes-per-second"],
    distribution,
    bytesPerWrite: w["bytes-per-write"],
    zeroShare: w["zero-share"],
    deltaWindow: w["delta-window"],
    prefillBytes: w["prefill-bytes"] ?? 0,
  };
}

/** JSON Schema (draft 2020-12) of the config file as written. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configInputSchema, { io: "input" }) as Record<string, unknown>;
}
