/**
 * `calc-dirty-rate` / `query-dirty-rate` as a library (QEMU's migration/dirtyrate.c), on any
 * timer — a machine's scheduler (virtual time: deterministic) or a wall-clock one (QMP):
 *
 * - `page-sampling` (default): pick `sample-pages` pages per GiB at random in every RAM block, hash
 *   each at the start of the window, hash again at its end, and scale the share of changed pages
 *   to the block size (MiB/s). Works with any dirty tracking, during a migration too.
 * - `dirty-bitmap`: hold the dirty log on for the window (owner `dirty-rate`) and count the pages
 *   it reports (MiB/s, QEMU: pages → whole MiB × 1000 / ms) without taking them: a migration that
 *   starts inside the window still gets every dirty page, and logging stays on for it afterwards.
 *   QEMU refuses the mode when the dirty ring is on; ferry also refuses to start it while a
 *   migration already tracks dirty pages (its pending pages would not count).
 * - `dirty-ring`: count the entries each vCPU pushes onto its dirty ring in the window (the rings
 *   are flushed at both ends, as QEMU's `kvm_dirty_ring_flush`): per-vCPU rates
 *   (`vcpu-dirty-rate`) and their sum. Needs the dirty ring.
 */
import { EventEmitter } from "eventemitter3";
import {
  type DirtyLog,
  type DirtyRings,
  dirtyRateMBps,
  PAGE_SIZE,
  type Scheduler,
  type Timer,
} from "@ferry/core";

/** QEMU's `MIN_SAMPLE_PAGE_COUNT`. */
export const MIN_SAMPLE_PAGES = 128;
/** QEMU's `MAX_SAMPLE_PAGE_COUNT`. */
export const MAX_SAMPLE_PAGES = 4096;
/** QEMU's default `sample-pages` (per GiB). */
export const DEFAULT_SAMPLE_PAGES = 512;

/** How `calc-dirty-rate` measures. */
export type DirtyRateMode = "page-sampling" | "dirty-ring" | "dirty-bitmap";
/** The modes, in QEMU's order. */
export const DIRTY_RATE_MODES: readonly DirtyRateMode[] = [
  "page-sampling",
  "dirty-ring",
  "dirty-bitmap",
];

/** One vCPU's rate in `dirty-ring` mode (QEMU's `DirtyRateVcpu`). */
export interface DirtyRateVcpu {
  readonly id: number;
  /** MB/s. */
  readonly "dirty-rate": number;
}

/** `query-dirty-rate`'s answer (QEMU's `DirtyRateInfo`). */
export interface DirtyRateInfo {
  /** MB/s, once measured. */
  readonly "dirty-rate"?: number;
  readonly status: "unstarted" | "measuring" | "measured";
  /** Start of the window (s on the meter's clock). */
  readonly "start-time": number;
  readonly "calc-time": number;
  readonly "calc-time-unit": "second" | "millisecond";
  readonly "sample-pages": number;
  readonly mode: DirtyRateMode;
  /** Per-vCPU rates (`dirty-ring` mode, once measured). */
  readonly "vcpu-dirty-rate"?: DirtyRateVcpu[];
}

/** A request of `calc-dirty-rate`. */
export interface DirtyRateRequest {
  readonly calcTime: number;
  readonly unit: "second" | "millisecond";
  readonly samplePages?: number;
  readonly mode: DirtyRateMode;
}

/** A page-readable RAM block (page-sampling). */
export interface DirtyRateBlock {
  readonly name: string;
  /** Bytes (a multiple of the page size). */
  readonly size: number;
  /** Copy `dst.length` bytes at `offset` into `dst`. */
  read(offset: number, dst: Uint8Array): void;
}

/** The dirty tracking of a machine (`dirty-bitmap` / `dirty-ring`; core's `Machine` fits). */
export interface DirtyRateMachine {
  readonly memory: { readonly ramRegions: readonly { readonly dirty: DirtyLog }[] };
  readonly dirtyRings: DirtyRings | null;
}

/** A request was refused; the message is QEMU's where QEMU has one. */
export class DirtyRateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DirtyRateError";
  }
}

/** Options of {@link createDirtyRateMeter}. */
export interface DirtyRateMeterOptions {
  /** Where the window is timed (a machine's scheduler, or a wall-clock adapter). */
  readonly timer: Pick<Scheduler, "now" | "at">;
  /** The RAM blocks page-sampling reads. */
  readonly blocks: () => readonly DirtyRateBlock[];
  /** The machine's dirty tracking (`dirty-bitmap`, `dirty-ring`); absent: those modes are refused. */
  readonly machine?: () => DirtyRateMachine | null;
  /** Seed of the page choice (xorshift32); default 1. */
  readonly seed?: number;
  /** `start-time` in seconds (default: the timer's ns / 1e9, truncated). */
  readonly startTime?: () => number;
}

/** The meter. */
export interface DirtyRateMeter {
  /** Start a measurement; throws {@link DirtyRateError} when one runs or the request is bad. */
  start(request: DirtyRateRequest): void;
  /** The last or current measurement. */
  query(): DirtyRateInfo;
  /** `done` fires with the rate in MB/s (QEMU's `DIRTY_RATE_COMPLETED`). */
  readonly events: EventEmitter<{ done: (rateMBps: number) => void }>;
  /** Cancel a running window. */
  dispose(): void;
}

/** FNV-1a over a page's 32-bit words (no allocation). */
export function hashPage(words: Uint32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    h ^= words[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Pages to sample in a block of `size` bytes at `perGiB` pages per GiB (at least min(perGiB, pages)). */
export function samplesFor(size: number, perGiB: number): number {
  const pages = Math.floor(size / PAGE_SIZE);
  const scaled = Math.floor((size * perGiB) / 2 ** 30);
  return Math.min(pages, Math.max(scaled, Math.min(perGiB, pages)));
}

/** Check a request's ranges (QEMU's messages); returns the window in ms. */
export function checkDirtyRateRequest(req: DirtyRateRequest): number {
  if (!DIRTY_RATE_MODES.includes(req.mode)) {
    throw new DirtyRateError(
      `mode must be page-sampling, dirty-ring or dirty-bitmap, got ${String(req.mode)}`,
    );
  }
  if (
    req.unit === "second" &&
    !(Number.isInteger(req.calcTime) && req.calcTime >= 1 && req.calcTime <= 60)
  ) {
    throw new DirtyRateError("Calc-time is out of range[1, 60].");
  }
  if (
    req.unit === "millisecond" &&
    !(Number.isInteger(req.calcTime) && req.calcTime >= 100 && req.calcTime <= 60000)
  ) {
    throw new DirtyRateError("Calc-time is out of range[100, 60000].");
  }
  if (req.samplePages !== undefined) {
    if (req.mode !== "page-sampling") {
      throw new DirtyRateError("Either sample-pages or dirty-ring can be specified.");
    }
    if (
      !Number.isInteger(req.samplePages) ||
      req.samplePages < MIN_SAMPLE_PAGES ||
      req.samplePages > MAX_SAMPLE_PAGES
    ) {
      throw new DirtyRateError(
        `sample-pages is out of range[${MIN_SAMPLE_PAGES}, ${MAX_SAMPLE_PAGES}].`,
      );
    }
  }
  return req.unit === "second" ? req.calcTime * 1000 : req.calcTime;
}

/** What one window does at its start; `finish` returns the rate and the per-vCPU rates. */
interface Window {
  finish(ms: number): { rate: number; vcpus?: DirtyRateVcpu[] };
  cancel(): void;
}

/** Make a meter (see the module comment for the modes). */
export function createDirtyRateMeter(o: DirtyRateMeterOptions): DirtyRateMeter {
  const events = new EventEmitter<{ done: (rateMBps: number) => void }>();
  let info: DirtyRateInfo = {
    status: "unstarted",
    "start-time": 0,
    "calc-time": 0,
    "calc-time-unit": "second",
    "sample-pages": DEFAULT_SAMPLE_PAGES,
    mode: "page-sampling",
  };
  let timer: Timer | null = null;
  let window: Window | null = null;
  let state = o.seed === undefined || o.seed === 0 ? 1 : o.seed >>> 0 || 1;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const page = new Uint8Array(PAGE_SIZE);
  const words = new Uint32Array(page.buffer);
  const startTime = o.startTime ?? (() => Math.floor(o.timer.now() / 1e9));

  const sampling = (perGiB: number): Window => {
    const sampled = o.blocks().map((b) => {
      const pages = Math.floor(b.size / PAGE_SIZE);
      const n = samplesFor(b.size, perGiB);
      const offsets = new Float64Array(n);
      const hashes = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        offsets[i] = (random() % pages) * PAGE_SIZE;
        b.read(offsets[i], page);
        hashes[i] = hashPage(words);
      }
      return { block: b, offsets, hashes };
    });
    return {
      finish(ms) {
        let mb = 0;
        for (const s of sampled) {
          let changed = 0;
          for (let i = 0; i < s.offsets.length; i++) {
            s.block.read(s.offsets[i], page);
            if (hashPage(words) !== s.hashes[i]) changed++;
          }
          if (s.offsets.length > 0) mb += (changed / s.offsets.length) * (s.block.size / 2 ** 20);
        }
        return { rate: Math.round(mb / (ms / 1000)) };
      },
      cancel() {},
    };
  };

  const machineFor = (mode: DirtyRateMode): DirtyRateMachine => {
    const m = o.machine?.() ?? null;
    if (m === null) {
      throw new DirtyRateError(
        mode === "dirty-ring"
          ? "mode dirty-ring is not enabled, use other method instead."
          : `mode ${mode} is not supported by this machine, use page-sampling instead.`,
      );
    }
    const ring = m.dirtyRings !== null;
    if ((mode === "dirty-ring") !== ring) {
      throw new DirtyRateError(`mode ${mode} is not enabled, use other method instead.`);
    }
    return m;
  };

  const bitmapWindow = (m: DirtyRateMachine): Window => {
    if (m.memory.ramRegions.some((r) => r.dirty.owners.includes("migration"))) {
      throw new DirtyRateError(
        "mode dirty-bitmap cannot measure while a migration tracks dirty pages, use page-sampling instead.",
      );
    }
    const logs = m.memory.ramRegions.map((r) => r.dirty);
    for (const log of logs) log.start("dirty-rate");
    // Counted, not synced: whoever syncs the log (a migration started meanwhile) keeps its pages.
    const first = logs.map((log) => log.dirtiedPages());
    return {
      finish(ms) {
        let pages = 0;
        for (let i = 0; i < logs.length; i++) {
          pages += logs[i].dirtiedPages() - first[i];
          logs[i].stop("dirty-rate");
        }
        return { rate: dirtyRateMBps(pages, ms) };
      },
      cancel() {
        for (const log of logs) log.stop("dirty-rate");
      },
    };
  };

  const ringWindow = (m: DirtyRateMachine): Window => {
    const rings = m.dirtyRings!;
    const logs = m.memory.ramRegions.map((r) => r.dirty);
    for (const log of logs) log.start("dirty-rate");
    rings.reap();
    const first = new Float64Array(rings.vcpuCount);
    for (let i = 0; i < rings.vcpuCount; i++) first[i] = rings.pushed(i);
    return {
      finish(ms) {
        rings.reap();
        const vcpus: DirtyRateVcpu[] = [];
        let sum = 0;
        for (let i = 0; i < rings.vcpuCount; i++) {
          const r = dirtyRateMBps(rings.pushed(i) - first[i], ms);
          vcpus.push({ id: i, "dirty-rate": r });
          sum += r;
        }
        // Logging stays on only for its other owners (a migration started in the window).
        for (const log of logs) log.stop("dirty-rate");
        return { rate: sum, vcpus };
      },
      cancel() {
        for (const log of logs) log.stop("dirty-rate");
      },
    };
  };

  return {
    events,
    query: () => info,
    dispose() {
      timer?.cancel();
      timer = null;
      window?.cancel();
      window = null;
    },
    start(req) {
      if (info.status === "measuring") {
        throw new DirtyRateError("the dirty rate is already being measured.");
      }
      const ms = checkDirtyRateRequest(req);
      const perGiB = req.samplePages ?? DEFAULT_SAMPLE_PAGES;
      const w =
        req.mode === "page-sampling"
          ? sampling(perGiB)
          : req.mode === "dirty-bitmap"
            ? bitmapWindow(machineFor(req.mode))
            : ringWindow(machineFor(req.mode));
      window = w;
      info = {
        status: "measuring",
        "start-time": startTime(),
        "calc-time": req.calcTime,
        "calc-time-unit": req.unit,
        "sample-pages": req.mode === "page-sampling" ? perGiB : 0,
        mode: req.mode,
      };
      timer = o.timer.at(o.timer.now() + ms * 1e6, () => {
        timer = null;
        window = null;
        const r = w.finish(ms);
        info = {
          ...info,
          status: "measured",
          "dirty-rate": r.rate,
          ...(r.vcpus !== undefined ? { "vcpu-dirty-rate": r.vcpus } : {}),
        };
        events.emit("done", r.rate);
      });
    },
  };
}
