/**
 * `calc-dirty-rate` for the monitor: `@ferry/migration`'s dirty-rate meter (QEMU's
 * migration/dirtyrate.c: page-sampling, dirty-bitmap, dirty-ring) timed by the wall clock (a
 * realtime monitor), with refusals answered as QMP errors.
 */
import {
  createDirtyRateMeter as createMeter,
  type DirtyRateBlock,
  DirtyRateError,
  type DirtyRateMachine,
  type DirtyRateMeter,
} from "@ferry/migration";
import type { Scheduler, Timer } from "@ferry/core";
import { QmpError } from "./errors";

export {
  DEFAULT_SAMPLE_PAGES,
  type DirtyRateInfo,
  type DirtyRateMeter,
  type DirtyRateRequest,
  hashPage,
  MAX_SAMPLE_PAGES,
  MIN_SAMPLE_PAGES,
  samplesFor,
} from "@ferry/migration";

/** A wall-clock timer in ns since creation (the monitor's windows are real time). */
function wallClock(): Pick<Scheduler, "now" | "at"> {
  const origin = process.hrtime.bigint();
  const now = (): number => Number(process.hrtime.bigint() - origin);
  return {
    now,
    at(atNs: number, callback: () => void): Timer {
      let pending = true;
      const h = setTimeout(
        () => {
          pending = false;
          callback();
        },
        Math.max(0, (atNs - now()) / 1e6),
      );
      return {
        cancel() {
          pending = false;
          clearTimeout(h);
        },
        get pending() {
          return pending;
        },
      };
    },
  };
}

/**
 * Make the monitor's meter over `blocks()` (page-sampling) and `machine()` (dirty-bitmap,
 * dirty-ring; absent: those modes are refused); `seed` seeds the page choice. `start` throws
 * {@link QmpError} with QEMU's messages.
 */
export function createDirtyRateMeter(
  blocks: () => readonly DirtyRateBlock[],
  seed: number = Date.now() >>> 0,
  machine?: () => DirtyRateMachine | null,
): DirtyRateMeter {
  const meter = createMeter({
    timer: wallClock(),
    blocks,
    machine,
    seed,
    startTime: () => Math.floor(Date.now() / 1000),
  });
  return {
    events: meter.events,
    query: () => meter.query(),
    dispose: () => meter.dispose(),
    start(request) {
      try {
        meter.start(request);
      } catch (e) {
        if (e instanceof DirtyRateError) throw new QmpError(e.message);
        throw e;
      }
    },
  };
}
