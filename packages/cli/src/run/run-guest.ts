/** Build a `virt` machine from a config, load the guest, run it to shutdown or the time limit. */
import { type Machine, type RunResult, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  createLinuxMachine,
  ElfError,
  type ElfImage,
  KernelImageError,
  loadElf,
  parseElf,
  riscvBackend,
} from "@ferry/riscv";
import { ConfigError, type FerryConfig } from "../config";
import { MAX_ELF_FILE_BYTES } from "../input/limits";
import { InputFileError, readLimitedFile } from "../input/read-file";
import { ExitCode, type ExitCodeValue } from "../exit-codes";

/** A machine built from a config, with its guest loaded and harts reset to the ELF entry. */
export interface GuestMachine {
  readonly machine: Machine;
  readonly scheduler: VirtualScheduler;
  readonly image: ElfImage;
}

/**
 * Read the guest ELF named by `config.guest.elf` (the kernel Image of a Linux guest): a regular
 * file of at most `MAX_ELF_FILE_BYTES`, checked before reading; an ELF guest must also parse as a
 * RISC-V ELF32 executable.
 * @throws ConfigError (path `guest.elf`, or `guest.kernel` for a Linux guest) when the file is
 * missing, not a regular file, too large, unreadable or not a valid ELF.
 */
export function readGuestElf(config: FerryConfig, configFile = "<config>"): Uint8Array {
  const guest = guestOf(config, configFile);
  const [path, what] =
    guest.linux !== undefined ? ["guest.kernel", "a kernel Image"] : ["guest.elf", "an ELF file"];
  let bytes: Uint8Array;
  try {
    bytes = readLimitedFile(
      guest.elf,
      MAX_ELF_FILE_BYTES,
      guest.linux !== undefined ? "kernel Image" : "guest ELF",
    );
  } catch (err) {
    if (!(err instanceof InputFileError)) throw err;
    const message =
      err.code === "ENOENT"
        ? `expected ${what}, found no file at ${guest.elf}`
        : `expected ${what} at ${guest.elf}: ${err.reason}`;
    throw new ConfigError(configFile, [{ path, message }]);
  }
  if (guest.linux !== undefined) return bytes;
  try {
    parseElf(bytes);
  } catch (err) {
    if (!(err instanceof ElfError)) throw err;
    throw new ConfigError(configFile, [
      { path: "guest.elf", message: `${guest.elf}: ${err.message}` },
    ]);
  }
  return bytes;
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
  if (guest.linux !== undefined) {
    const linux = guest.linux;
    let initrd: Uint8Array | null = null;
    if (linux.initrd !== null) {
      try {
        initrd = readLimitedFile(linux.initrd, MAX_ELF_FILE_BYTES, "initramfs");
      } catch (err) {
        if (!(err instanceof InputFileError)) throw err;
        throw new ConfigError("<config>", [
          {
            path: "guest.initrd",
            message: `expected a cpio file at ${linux.initrd}: ${err.reason}`,
          },
        ]);
      }
    }
    let built: ReturnType<typeof createLinuxMachine>;
    try {
      built = createLinuxMachine({
        scheduler,
        mips: m.mips,
        vcpus: m.vcpus,
        memoryBytes: m.memoryBytes,
        ramBackend: m.ramBackend,
        sliceNs: m.sliceNs,
        cpu: riscvBackend({ mips: m.mips, engine: m.cpuEngine }),
        kernel: elf,
        initrd,
        bootargs: linux.bootargs,
      });
    } catch (err) {
      if (err instanceof KernelImageError) {
        throw new ConfigError("<config>", [{ path: "guest.kernel", message: err.message }]);
      }
      throw err;
    }
    const image: ElfImage = { entry: built.layout.kernel, segments: [], symbols: new Map() };
    return { machine: built.machine, scheduler, image };
  }
  // A riscv-tests style ELF (a `tohost` symbol) reports pass/fail through that word.
  const tohost = parseElf(elf).symbols.get("tohost");
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({
      mips: m.mips,
      engine: m.cpuEngine,
      ...(tohost !== undefined ? { tohost } : {}),
    }),
    vcpus: m.vcpus,
    memory: { size: m.memoryBytes, backend: m.ramBackend, prealloc: m.memPrealloc },
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
      // A guest fault (an access to unmapped or read-only memory) is a failed guest, exit 1;
      // any other vCPU error is ferry's own (a backend bug), exit 70.
      return result.guestFault === true
        ? { status: "fail", exitCode: ExitCode.Failure }
        : { status: "error", exitCode: ExitCode.Internal };
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
    ...(result.message !== undefined
      ? { message: result.guestFault === true ? `guest fault: ${result.message}` : result.message }
      : {}),
  };
}
