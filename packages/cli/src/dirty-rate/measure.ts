/**
 * `ferry dirty-rate`: run a config's guest (or workload) on a virtual clock to a point, then
 * measure its dirty page rate with `@ferry/migration`'s meter (QEMU's `calc-dirty-rate`:
 * page-sampling, dirty-bitmap or dirty-ring) over a window of virtual time. Deterministic.
 */
import { isDirtyLimitMachine, VirtualScheduler } from "@ferry/core";
import {
  createDirtyRateMeter,
  type DirtyRateInfo,
  type DirtyRateMode,
  type DirtyRateVcpu,
} from "@ferry/migration";
import type { FerryConfig } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import { buildSide } from "../migrate/sides";
import { readGuestElf } from "../run/run-guest";

/** Options of {@link measureDirtyRate}. */
export interface DirtyRateOptions {
  readonly mode: DirtyRateMode;
  /** Window length: QEMU's calc-time with its unit. */
  readonly calcTime: number;
  readonly unit: "second" | "millisecond";
  /** page-sampling: pages per GiB (QEMU's sample-pages). */
  readonly samplePages?: number;
  /** Virtual time (since boot) at which the window opens. */
  readonly atNs: number;
  /** The config file (for error messages). */
  readonly configFile?: string;
}

/** What `ferry dirty-rate` reports. */
export interface DirtyRateReport {
  readonly status: "measured" | "ended";
  readonly exitCode: ExitCodeValue;
  readonly config: string;
  readonly mode: DirtyRateMode;
  /** Window start and length (virtual ns). */
  readonly atNs: number;
  readonly windowNs: number;
  /** MB/s (QEMU's unit: MiB per second), when measured. */
  readonly dirtyRate: number | null;
  /** dirty-ring: per-vCPU MB/s. */
  readonly vcpus: readonly DirtyRateVcpu[];
  /** page-sampling: pages per GiB sampled. */
  readonly samplePages: number;
  /** query-dirty-rate's answer as QEMU would give it. */
  readonly info: DirtyRateInfo;
  readonly wallMs: number;
  readonly message?: string;
}

/**
 * Measure. Throws `DirtyRateError` (bad request, mode not available on this machine) before the
 * guest runs past `atNs`... the caller maps it to exit 2.
 */
export async function measureDirtyRate(
  config: FerryConfig,
  o: DirtyRateOptions,
): Promise<DirtyRateReport> {
  const wallStart = performance.now();
  const elf = config.guest !== undefined ? readGuestElf(config, o.configFile) : null;
  const s = new VirtualScheduler();
  const side = buildSide(config, s, elf);
  const machine = side.machine;
  const meter = createDirtyRateMeter({
    timer: s,
    blocks: () =>
      machine.memory.ramRegions
        .filter((r) => !r.readonly)
        .map((r) => ({ name: r.name, size: r.size, read: (off, dst) => r.backend.read(off, dst) })),
    machine: () => (isDirtyLimitMachine(machine) ? machine : null),
    seed: config.run.seed,
  });
  side.start();
  const ended = (): boolean => side.ended() !== null;
  if (o.atNs > 0) await s.run({ untilNs: o.atNs, stopWhen: ended });
  const windowNs = (o.unit === "second" ? o.calcTime * 1000 : o.calcTime) * 1e6;
  const base = {
    config: config.name,
    mode: o.mode,
    atNs: s.now(),
    windowNs,
  };
  if (!ended()) {
    try {
      meter.start({ mode: o.mode, calcTime: o.calcTime, unit: o.unit, samplePages: o.samplePages });
    } catch (e) {
      side.stop();
      throw e;
    }
    await s.run({
      untilNs: s.now() + windowNs,
      stopWhen: () => ended() || meter.query().status === "measured",
    });
  }
  const info = meter.query();
  meter.dispose();
  side.stop();
  const wallMs = Math.round(performance.now() - wallStart);
  if (info.status !== "measured") {
    const end = side.ended();
    return {
      ...base,
      status: "ended",
      exitCode: ExitCode.Failure,
      dirtyRate: null,
      vcpus: [],
      samplePages: info["sample-pages"],
      info,
      wallMs,
      message:
        `the guest ended (${end?.status ?? "stopped"}) at ${((end?.atNs ?? s.now()) / 1e6).toFixed(3)} ms, ` +
        "before the measurement window closed",
    };
  }
  return {
    ...base,
    status: "measured",
    exitCode: ExitCode.Ok,
    dirtyRate: info["dirty-rate"] ?? 0,
    vcpus: info["vcpu-dirty-rate"] ?? [],
    samplePages: info["sample-pages"],
    info,
    wallMs,
  };
}

/** The report as a readable table. */
export function formatDirtyRate(r: DirtyRateReport): string {
  const lines = [
    `config:        ${r.config}`,
    `mode:          ${r.mode}${r.mode === "page-sampling" ? ` (${r.samplePages} pages per GiB)` : ""}`,
    `window:        ${(r.windowNs / 1e9).toFixed(3)} s of virtual time from ${(r.atNs / 1e9).toFixed(3)} s`,
    `dirty rate:    ${r.dirtyRate === null ? "-" : `${r.dirtyRate} MB/s`}`,
  ];
  if (r.vcpus.length > 0) {
    lines.push("", "vCPU  dirty rate (MB/s)", "----  -----------------");
    for (const v of r.vcpus)
      lines.push(`${String(v.id).padStart(4)}  ${String(v["dirty-rate"]).padStart(17)}`);
  }
  return `${lines.join("\n")}\n`;
}
