/**
 * `calc-dirty-rate` in page-sampling mode, as QEMU's migration/dirtyrate.c does it: pick pages
 * at random in every RAM block, hash each at the start of the window, hash them again at its end,
 * and scale the share of changed pages to the block size. Wall-clock window (a realtime monitor).
 */
import { EventEmitter } from "eventemitter3";
import type { SampledRamBlock } from "./control";
import { QmpError } from "./errors";

/** Page size the sampler hashes. */
const PAGE = 4096;
/** QEMU's MIN_SAMPLE_PAGE_COUNT / MAX_SAMPLE_PAGE_COUNT. */
export const MIN_SAMPLE_PAGES = 128;
export const MAX_SAMPLE_PAGES = 4096;
/** Default `sample-pages` (per GiB). */
export const DEFAULT_SAMPLE_PAGES = 512;

/** `query-dirty-rate`'s answer (QEMU's DirtyRateInfo). */
export interface DirtyRateInfo {
  readonly "dirty-rate"?: number;
  readonly status: "unstarted" | "measuring" | "measured";
  readonly "start-time": number;
  readonly "calc-time": number;
  readonly "calc-time-unit": "second" | "millisecond";
  readonly "sample-pages": number;
  readonly mode: "page-sampling" | "dirty-ring" | "dirty-bitmap";
}

/** A request of `calc-dirty-rate`. */
export interface DirtyRateRequest {
  readonly calcTime: number;
  readonly unit: "second" | "millisecond";
  readonly samplePages?: number;
  readonly mode: "page-sampling" | "dirty-ring" | "dirty-bitmap";
}

/** The measurer. */
export interface DirtyRateMeter {
  /** Start a measurement (throws QmpError when one runs or the request is out of range). */
  start(request: DirtyRateRequest): void;
  /** The last or current measurement. */
  query(): DirtyRateInfo;
  /** `done` fires with the rate in MB/s (QEMU's DIRTY_RATE_COMPLETED). */
  readonly events: EventEmitter<{ done: (rateMBps: number) => void }>;
  /** Cancel a running window (process exit). */
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
  const pages = Math.floor(size / PAGE);
  const scaled = Math.floor((size * perGiB) / 2 ** 30);
  return Math.min(pages, Math.max(scaled, Math.min(perGiB, pages)));
}

/** Make a meter over `blocks()`; `seed` seeds the page choice (xorshift32). */
export function createDirtyRateMeter(
  blocks: () => readonly SampledRamBlock[],
  seed: number = Date.now() >>> 0,
): DirtyRateMeter {
  const events = new EventEmitter<{ done: (rateMBps: number) => void }>();
  let info: DirtyRateInfo = {
    status: "unstarted",
    "start-time": 0,
    "calc-time": 0,
    "calc-time-unit": "second",
    "sample-pages": DEFAULT_SAMPLE_PAGES,
    mode: "page-sampling",
  };
  let timer: NodeJS.Timeout | null = null;
  let state = seed || 1;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const page = new Uint8Array(PAGE);
  const words = new Uint32Array(page.buffer);

  return {
    events,
    query: () => info,
    dispose() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
    start(req) {
      if (info.status === "measuring")
        throw new QmpError("the dirty rate is already being measured.");
      if (req.mode === "dirty-ring") {
        throw new QmpError("mode dirty-ring is not enabled, use other method instead.");
      }
      if (req.mode === "dirty-bitmap") {
        throw new QmpError(
          "mode dirty-bitmap is not supported by ferry, use page-sampling instead.",
        );
      }
      const ms = req.unit === "second" ? req.calcTime * 1000 : req.calcTime;
      if (req.unit === "second" && (req.calcTime < 1 || req.calcTime > 60)) {
        throw new QmpError("Calc-time is out of range[1, 60].");
      }
      if (req.unit === "millisecond" && (req.calcTime < 100 || req.calcTime > 60000)) {
        throw new QmpError("Calc-time is out of range[100, 60000].");
      }
      const perGiB = req.samplePages ?? DEFAULT_SAMPLE_PAGES;
      if (perGiB < MIN_SAMPLE_PAGES || perGiB > MAX_SAMPLE_PAGES) {
        throw new QmpError(
          `sample-pages is out of range[${MIN_SAMPLE_PAGES}, ${MAX_SAMPLE_PAGES}].`,
        );
      }
      const sampled = blocks().map((b) => {
        const pages = Math.floor(b.size / PAGE);
        const n = samplesFor(b.size, perGiB);
        const offsets = new Float64Array(n);
        const hashes = new Uint32Array(n);
        for (let i = 0; i < n; i++) {
          offsets[i] = (random() % pages) * PAGE;
          b.read(offsets[i], page);
          hashes[i] = hashPage(words);
        }
        return { block: b, offsets, hashes };
      });
      info = {
        status: "measuring",
        "start-time": Math.floor(Date.now() / 1000),
        "calc-time": req.calcTime,
        "calc-time-unit": req.unit,
        "sample-pages": perGiB,
        mode: "page-sampling",
      };
      timer = setTimeout(() => {
        timer = null;
        let mb = 0;
        for (const s of sampled) {
          let changed = 0;
          for (let i = 0; i < s.offsets.length; i++) {
            s.block.read(s.offsets[i], page);
            if (hashPage(words) !== s.hashes[i]) changed++;
          }
          if (s.offsets.length > 0) mb += (changed / s.offsets.length) * (s.block.size / 2 ** 20);
        }
        const rate = Math.round(mb / (ms / 1000));
        info = { ...info, status: "measured", "dirty-rate": rate };
        events.emit("done", rate);
      }, ms);
    },
  };
}
