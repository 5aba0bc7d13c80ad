/**
 * The `workload` CPU backend: a synthetic dirtier per vCPU. Each run performs the page writes due
 * in its virtual-time budget at `writesPerSecond × busyShare`, picking pages by the configured
 * distribution and bumping their versions on a synthetic RAM backend (or storing pseudo-random
 * bytes on a dense one), marking the dirty log while logging is on. Throttling needs nothing
 * special: the loop's pre-run hooks make the vCPU sleep between runs, so it gets fewer budgets —
 * and does less work — per virtual second.
 */
import { z } from "zod";
import { InvalidArgumentError, InvalidStateError, StateValidationError } from "@ferry/core";
import {
  PAGE_SIZE as PAGE_SIZE_,
  type DirtyLog,
  type MissingPages,
  type RamBackend,
  type RamRegion,
} from "@ferry/core";
import { deriveSeed } from "../synthetic/hash";
import { type SyntheticRamBackend, isSyntheticRamBackend } from "../synthetic/backend";
import {
  type CpuBackend,
  type CpuState,
  ExitReason,
  type InterruptLineCode,
  type VcpuContext,
  type VcpuCore,
  type VcpuRun,
} from "@ferry/core";
import { PageStream, type PageStreamShape, resolveDistribution } from "./distribution";
import { type WorkloadOptions, type WorkloadOptionsInput, parseWorkloadOptions } from "./options";

/** Local binding of PAGE_SIZE (hot paths avoid module-namespace getters of module runners). */
const PAGE_SIZE = PAGE_SIZE_;

/** Backend name used in configs. */
export const WORKLOAD_BACKEND_NAME = "workload";
/** The `arch` tag of a workload vCPU's saved state. */
export const WORKLOAD_ARCH = "workload";

const NS_PER_S = 1e9;
/** How writes reach memory. */
const MODE_SYNTHETIC = 0;
const MODE_DENSE = 1;
const MODE_GENERIC = 2;

/** The `workload` CPU backend, with its validated options. */
export interface WorkloadCpuBackend extends CpuBackend {
  readonly name: "workload";
  readonly workUnit: "operations";
  /** The validated options (defaults applied). */
  readonly options: WorkloadOptions;
}

/** Saved state of a workload vCPU (plain data). */
export interface WorkloadCpuState extends CpuState {
  readonly arch: "workload";
  readonly hartId: number;
  /** PRNG Weyl counter (uint32). */
  readonly rng: number;
  /** Sequential cursor (byte offset in the footprint). */
  readonly cursor: number;
  /** Fractional writes carried to the next run, in units of 1e-9 write. */
  readonly writeCarry: number;
  /** Fractional reads carried to the next run. */
  readonly readCarry: number;
  /** Pending interrupt lines (bit per line). */
  readonly pendingInterrupts: number;
}

const stateSchema = z.object({
  arch: z.literal(WORKLOAD_ARCH),
  hartId: z.number().int().min(0),
  rng: z.number().int().min(0).max(0xffffffff),
  cursor: z.number().min(0),
  writeCarry: z.number().min(0).max(NS_PER_S),
  readCarry: z.number().min(0),
  pendingInterrupts: z.number().int().min(0).max(0xffffffff),
});

/**
 * Make the `workload` CPU backend. Options are validated with zod (see `WorkloadOptionsInput`);
 * a bad option throws `InvalidArgumentError`. The RAM region and footprint are checked when a
 * vCPU is created.
 */
export function workloadBackend(options: WorkloadOptionsInput): WorkloadCpuBackend {
  const opts = parseWorkloadOptions(options);
  let cachedShape: PageStreamShape | null = null;
  let cachedRegion: RamRegion | null = null;
  return {
    name: WORKLOAD_BACKEND_NAME,
    workUnit: "operations",
    options: opts,
    createVcpu(ctx: VcpuContext): VcpuCore {
      const region = findRegion(ctx, opts.region);
      if (cachedRegion !== region || cachedShape === null) {
        cachedShape = resolveDistribution(opts.distribution, region.size);
        cachedRegion = region;
      }
      return new WorkloadVcpu(opts, ctx, region, cachedShape);
    },
  };
}

function findRegion(ctx: VcpuContext, name: string | undefined): RamRegion {
  const regions = ctx.memory.ramRegions;
  const region = name === undefined ? regions[0] : regions.find((r) => r.name === name);
  if (region === undefined) {
    const names = regions.map((r) => r.name).join(", ") || "none";
    throw new InvalidArgumentError(
      `workload backend needs RAM region ${name === undefined ? "(the first)" : `"${name}"`}; ` +
        `the machine has: ${names}`,
    );
  }
  if (region.readonly) {
    throw new InvalidArgumentError(
      `workload backend cannot write read-only region "${region.name}"`,
    );
  }
  return region;
}

/** One workload vCPU. A class: its `run` is the hot path and keeps a monomorphic shape. */
class WorkloadVcpu implements VcpuCore {
  private readonly hartId: number;
  private readonly initialRng: number;
  private readonly initialCursor: number;
  private readonly stream: PageStream;
  /** Busy write rate in writes per second. */
  private readonly rate: number;
  private readonly readsPerWrite: number;
  /** Reads per ns while busy, independent of writes. */
  private readonly readRate: number;
  private readonly mode: number;
  private readonly synthetic: SyntheticRamBackend | null;
  private readonly backend: RamBackend;
  private readonly bytes: Uint8Array | null;
  private readonly bytesPerWrite: number;
  /** Dense writes start at `slot * 8` for `slot < startSlots` (so they fit in the page). */
  private readonly startSlots: number;
  private readonly dirty: DirtyLog;
  private readonly dirtyWords: Uint32Array;
  /** The region's missing-page map (a post-copy destination), or null. */
  private readonly missing: MissingPages | null;
  private readonly regionBase: number;
  /** Fractional writes owed, in units of 1e-9 write (`budgetNs × rate` accumulates here). */
  private writeCarry = 0;
  private readCarry = 0;
  private pending = 0;
  private done = 0;

  constructor(opts: WorkloadOptions, ctx: VcpuContext, region: RamRegion, shape: PageStreamShape) {
    this.hartId = ctx.hartId;
    this.initialRng = deriveSeed(opts.seed, ctx.hartId);
    const count = ctx.vcpuCount > 0 ? ctx.vcpuCount : 1;
    this.initialCursor = Math.floor((ctx.hartId * shape.footprintPages) / count) * PAGE_SIZE;
    this.stream = new PageStream(shape, this.initialRng, this.initialCursor);
    this.rate = (opts.vcpuWritesPerSecond?.[ctx.hartId] ?? opts.writesPerSecond) * opts.busyShare;
    this.readsPerWrite = opts.readsPerWrite;
    this.readRate = (opts.readsPerSecond * opts.busyShare) / NS_PER_S;
    this.backend = region.backend;
    this.dirty = region.dirty;
    this.dirtyWords = region.dirty.words;
    this.missing = region.missing ?? null;
    this.regionBase = region.base;
    this.bytesPerWrite = opts.bytesPerWrite;
    this.startSlots = Math.floor((PAGE_SIZE - opts.bytesPerWrite) / 8) + 1;
    if (isSyntheticRamBackend(region.backend)) {
      this.mode = MODE_SYNTHETIC;
      this.synthetic = region.backend;
      this.bytes = null;
    } else {
      this.synthetic = null;
      this.bytes = region.backend.bytes;
      this.mode = this.bytes !== null ? MODE_DENSE : MODE_GENERIC;
    }
  }

  get workDone(): number {
    return this.done;
  }

  run(run: VcpuRun, budgetNs: number): void {
    if (run.immediateExit) {
      run.exitReason = ExitReason.Kicked;
      run.consumedNs = 0;
      run.retired = 0;
      return;
    }
    const carry = this.writeCarry;
    const owed = carry + Math.max(budgetNs, 0) * this.rate;
    let writes = Math.floor(owed / NS_PER_S);

    const stream = this.stream;
    // Logging never flips during a run; marking is the tracker's inlined test-and-set on the
    // cached (stable) words: only a page's first write since the last sync/reset does more — the
    // bitmap sets the bit inline, the ring calls `markVcpu`, which answers true when this vCPU's
    // dirty ring is full.
    const logging = this.dirty.logging;
    const dirtyWords = this.dirtyWords;
    const dirty = this.dirty;
    const hart = this.hartId;
    // The bitmap tracker's mark is the test-and-set itself (no call); the ring's needs markVcpu.
    const ring = dirty.kind === "ring";
    let done = writes;
    let faulted = false;
    const missing = this.missing;
    if (missing !== null && missing.count > 0) {
      // Post-copy destination: a write to a missing page stops the vCPU before it (the stream is
      // rewound, so the same write comes first when the page has landed).
      const synthetic = this.synthetic;
      for (let i = 0; i < writes; i++) {
        const s0 = stream.state;
        const c0 = stream.cursor;
        const page = stream.next();
        if (missing.has(page)) {
          stream.state = s0;
          stream.cursor = c0;
          run.faultAddr = this.regionBase + page * PAGE_SIZE;
          faulted = true;
          done = i;
          break;
        }
        if (synthetic !== null) synthetic.bumpPage(page);
        else this.writeDense(page);
        if (logging && (dirtyWords[page >>> 5] & (1 << (page & 31))) === 0) {
          if (!ring) dirtyWords[page >>> 5] |= 1 << (page & 31);
          else if (dirty.markVcpu(hart, page)) {
            done = i + 1;
            break;
          }
        }
      }
    } else if (this.mode === MODE_SYNTHETIC) {
      const synthetic = this.synthetic!;
      for (let i = 0; i < writes; i++) {
        const page = stream.next();
        synthetic.bumpPage(page);
        if (logging) {
          const wi = page >>> 5;
          const bit = 1 << (page & 31);
          const w = dirtyWords[wi];
          if ((w & bit) === 0) {
            if (!ring) dirtyWords[wi] = w | bit;
            else if (dirty.markVcpu(hart, page)) {
              done = i + 1;
              break;
            }
          }
        }
      }
    } else {
      for (let i = 0; i < writes; i++) {
        const page = stream.next();
        this.writeDense(page);
        if (logging) {
          const wi = page >>> 5;
          const bit = 1 << (page & 31);
          const w = dirtyWords[wi];
          if ((w & bit) === 0) {
            if (!ring) dirtyWords[wi] = w | bit;
            else if (dirty.markVcpu(hart, page)) {
              done = i + 1;
              break;
            }
          }
        }
      }
    }
    let consumed = Math.max(budgetNs, 0);
    if (done < writes) {
      // The dirty ring filled at write `done`: the run ends at the instant that write was owed
      // (the carry keeps the fraction, so the write rate over time is unchanged).
      consumed = Math.min(consumed, Math.max(0, Math.ceil((done * NS_PER_S - carry) / this.rate)));
      writes = done;
      this.writeCarry = carry + consumed * this.rate - writes * NS_PER_S;
      run.exitReason = faulted ? ExitReason.PageMissing : ExitReason.DirtyRingFull;
    } else {
      this.writeCarry = owed - writes * NS_PER_S;
      run.exitReason = ExitReason.BudgetExhausted;
    }
    const readsOwed = this.readCarry + writes * this.readsPerWrite + consumed * this.readRate;
    const reads = Math.floor(readsOwed);
    this.readCarry = readsOwed - reads;
    const ops = writes + reads;
    this.done += ops;
    run.retired = ops;
    run.consumedNs = consumed;
  }

  /** Store `bytesPerWrite` pseudo-random bytes at a pseudo-random 8-byte-aligned spot of `page`. */
  private writeDense(page: number): void {
    const stream = this.stream;
    const n = this.bytesPerWrite;
    const base = page * PAGE_SIZE;
    const start = (stream.nextU32() % this.startSlots) * 8;
    if (this.mode === MODE_DENSE) {
      const bytes = this.bytes!;
      for (let j = 0; j < n; j += 4) {
        let w = stream.nextU32();
        const end = Math.min(j + 4, n);
        for (let k = j; k < end; k++) {
          bytes[base + start + k] = w;
          w >>>= 8;
        }
      }
    } else {
      const backend = this.backend;
      for (let k = 0; k < n; k++) backend.store(base + start + k, 1, stream.nextU32() & 0xff);
    }
  }

  completeMmioRead(_value: number): void {
    throw new InvalidStateError(
      "workload vCPU never exits for MMIO, so there is no MMIO read to complete",
    );
  }

  completeHypercall(_result: number): void {
    throw new InvalidStateError(
      "workload vCPU never exits for hypercalls, so there is no hypercall to complete",
    );
  }

  setInterrupt(line: InterruptLineCode, level: boolean): void {
    const bit = 1 << line;
    this.pending = level ? this.pending | bit : this.pending & ~bit;
  }

  wantsWake(): boolean {
    return this.pending !== 0;
  }

  /** Back to the power-on state: PRNG, cursor, carries and interrupts (entry/bootArg unused). */
  reset(_entry: number, _bootArg: number): void {
    this.stream.state = this.initialRng;
    this.stream.cursor = this.initialCursor;
    this.writeCarry = 0;
    this.readCarry = 0;
    this.pending = 0;
  }

  saveState(): WorkloadCpuState {
    return {
      arch: WORKLOAD_ARCH,
      hartId: this.hartId,
      rng: this.stream.state,
      cursor: this.stream.cursor,
      writeCarry: this.writeCarry,
      readCarry: this.readCarry,
      pendingInterrupts: this.pending >>> 0,
    };
  }

  loadState(state: CpuState): void {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      throw new StateValidationError(
        `invalid workload vCPU state:\n${z.prettifyError(parsed.error)}`,
      );
    }
    const s = parsed.data;
    if (s.hartId !== this.hartId) {
      throw new StateValidationError(
        `workload vCPU state is for hart ${s.hartId}, this vCPU is hart ${this.hartId}`,
      );
    }
    this.stream.state = s.rng;
    this.stream.cursor = s.cursor;
    this.writeCarry = s.writeCarry;
    this.readCarry = s.readCarry;
    this.pending = s.pendingInterrupts | 0;
  }
}
