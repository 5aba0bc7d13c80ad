/** Build a `virt` machine from a config, load the guest, run it to shutdown or the time limit. */
import { readFileSync } from "node:fs";
import { createMachine, type Machine, type RunResult, VirtualScheduler } from "@ferry/core";
import { type ElfImage, loadElf, parseElf, riscvBackend } from "@ferry/riscv";
import { ConfigError, type FerryConfig } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";

/** A machine built from a config, with its guest loaded and harts reset to the ELF entry. */
export interface GuestMachine {
  readonly machine: Machine;
  readonly scheduler: VirtualScheduler;
  readonly image: ElfImage;
}

/**
 * Read the guest ELF named by `config.guest.elf`.
 * @throws ConfigError (path `guest.elf`) when the file cannot be read.
 */
export function readGuestElf(config: FerryConfig, configFile = "<config>"): Uint8Array {
  const guest = guestOf(config, configFile);
  try {
    return new Uint8Array(readFileSync(guest.elf));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const found = code === "ENOENT" ? "no file" : `an unreadable file (${code ?? String(err)})`;
    throw new ConfigError(configFile, [
      { path: "guest.elf", message: `expected an ELF file, found ${found} at ${guest.elf}` },
    ]);
  }
}

/**
 * The `guest:` section of a config.
 * @throws ConfigError when the config has none (a workload config).
 */
export function guestOf(
  config: FerryConfig,
  configFile = "<config>",
): NonNullable<FerryConfig["guest"]> {
  if (config.guest === undefined) {
    throw new ConfigError(configFile, [
      { path: "guest", message: "expected a guest section (this is a workload config)" },
    ]);
  }
  return config.guest;
}

/**
 * Build the `virt` machine a config describes on a fresh {@link VirtualScheduler} with the
 * `riscv` backend, load `elf`, write the boot-argument block (`guest.args`) and reset every hart
 * to the ELF entry. The machine is `created`: call `start()` or `runUntilShutdown()`. Pass a
 * `scheduler` to put several machines (a migration's source and destination) on one clock.
 */
export function buildGuestMachine(
  config: FerryConfig,
  elf: Uint8Array,
  scheduler: VirtualScheduler = new VirtualScheduler(),
): GuestMachine {
  const m = config.machine;
  const guest = guestOf(config);
  if (m.ramBackend === "synthetic") {
    throw new ConfigError("<config>", [
      {
        path: "machine.ram-backend",
        message: `expected "array" or "shared" for a RISC-V guest, found "synthetic"`,
      },
    ]);
  }
  // A riscv-tests style ELF (a `tohost` symbol) reports pass/fail through that word.
  const tohost = parseElf(elf).symbols.get("tohost");
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: m.mips, ...(tohost !== undefined ? { tohost } : {}) }),
    vcpus: m.vcpus,
    memory: { size: m.memoryBytes, backend: m.ramBackend },
    sliceNs: m.sliceNs,
    dirtyTracking: m.dirtyTracking,
    bootArgs: [...guest.args],
  });
  const image = loadElf(machine.memory, elf);
  machine.reset(image.entry);
  return { machine, scheduler, image };
}

/** How a guest run ended. */
export type GuestRunStatus = "pass" | "fail" | "time-limit" | "error";

/** The outcome of {@link runGuest} (the `ferry run --json` document). */
export interface GuestRunReport {
  readonly status: GuestRunStatus;
  /** The process exit code this maps to (see docs/cli.md). */
  readonly exitCode: ExitCodeValue;
  /** The guest's own exit status (finisher code) when it shut down, else null. */
  readonly guestCode: number | null;
  /** Everything the guest wrote to the UART. */
  readonly guestOutput: string;
  /** Virtual time at the end of the run (ns). */
  readonly virtualTimeNs: number;
  /** Instructions retired by all harts. */
  readonly instructions: number;
  /** Wall-clock duration of the run (ms; not deterministic). */
  readonly wallMs: number;
  /** What went wrong, for `error`. */
  readonly message?: string;
}

/** Options of {@link runGuest}. */
export interface RunGuestOptions {
  /** Called with guest output as it is produced (flushed at each newline and at the end). */
  readonly onOutput?: (text: string) => void;
  /** Name of the config file, for error messages. */
  readonly configFile?: string;
  /** The ELF bytes (read from `config.guest.elf` when absent). */
  readonly elf?: Uint8Array;
}

/** Map a machine run result to status and exit code. */
export function classifyRun(result: RunResult): {
  status: GuestRunStatus;
  exitCode: ExitCodeValue;
} {
  switch (result.reason) {
    case "shutdown":
      return result.kind === "fail" || (result.code ?? 0) !== 0
        ? { status: "fail", exitCode: ExitCode.Failure }
        : { status: "pass", exitCode: ExitCode.Ok };
    case "time-limit":
      return { status: "time-limit", exitCode: ExitCode.TimeLimit };
    default:
      return { status: "error", exitCode: ExitCode.Internal };
  }
}

/** Run the guest a config describes until it shuts down or `run.time-limit` of virtual time passes. */
export async function runGuest(
  config: FerryConfig,
  options: RunGuestOptions = {},
): Promise<GuestRunReport> {
  const elf = options.elf ?? readGuestElf(config, options.configFile);
  const { machine, scheduler } = buildGuestMachine(config, elf);
  const onOutput = options.onOutput;
  if (onOutput) {
    let pending: number[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      onOutput(Buffer.from(pending).toString("utf8"));
      pending = [];
    };
    machine.events.on("uart", (byte) => {
      pending.push(byte);
      if (byte === 10 || pending.length >= 4096) flush();
    });
    machine.events.on("shutdown", flush);
    machine.events.on("state", flush);
    const wallStart = performance.now();
    const result = await machine.runUntilShutdown({ timeLimitNs: config.run.timeLimitNs });
    flush();
    return report(machine, scheduler, result, performance.now() - wallStart);
  }
  const wallStart = performance.now();
  const result = await machine.runUntilShutdown({ timeLimitNs: config.run.timeLimitNs });
  return report(machine, scheduler, result, performance.now() - wallStart);
}

function report(
  machine: Machine,
  scheduler: VirtualScheduler,
  result: RunResult,
  wallMs: number,
): GuestRunReport {
  const { status, exitCode } = classifyRun(result);
  return {
    status,
    exitCode,
    guestCode: result.reason === "shutdown" ? result.code : null,
    guestOutput: machine.uartOutput(),
    virtualTimeNs: result.reason === "shutdown" ? result.atNs : scheduler.now(),
    instructions: machine.workDone(),
    wallMs: Math.round(wallMs),
    ...(result.message !== undefined ? { message: result.message } : {}),
  };
}
