/**
 * A `virt` machine on the realtime scheduler for `ferry run --realtime`: the guest runs as fast
 * as the interpreter allows (slices back to back, each yielding to the event loop so monitors and
 * sockets are served), or paced to the config's `mips` with `pace`.
 */
import { type Machine, RealtimeScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { type ElfImage, loadElf, parseElf, riscvBackend } from "@ferry/riscv";
import { ConfigError, type FerryConfig } from "../config";
import { guestOf } from "../run/run-guest";
import { pacingHook } from "./pace";

/**
 * Instruction cost on the realtime machine (MIPS): tiny, so a slice's scheduled end is always in
 * the past and the next slice runs at once. Instructions per slice stay those of the config.
 */
export const FREE_RUNNING_MIPS = 1_000_000;

/** A realtime machine, its scheduler and guest image. */
export interface RealtimeMachine {
  readonly machine: Machine;
  readonly scheduler: RealtimeScheduler;
  readonly image: ElfImage;
  /** Reload the guest and reset harts and devices (`system_reset`). */
  reset(): void;
}

/** Build the machine a config describes on a {@link RealtimeScheduler}. */
export function buildRealtimeMachine(
  config: FerryConfig,
  elf: Uint8Array,
  options: { readonly pace: boolean; readonly configFile?: string },
): RealtimeMachine {
  const m = config.machine;
  const guest = guestOf(config, options.configFile);
  if (m.ramBackend === "synthetic") {
    throw new ConfigError(options.configFile ?? "<config>", [
      {
        path: "machine.ram-backend",
        message: `expected "array" or "shared" for a RISC-V guest, found "synthetic"`,
      },
    ]);
  }
  const scheduler = new RealtimeScheduler();
  const tohost = parseElf(elf).symbols.get("tohost");
  const machine = createMachine({
    scheduler,
    cpu: riscvBackend({ mips: FREE_RUNNING_MIPS, ...(tohost !== undefined ? { tohost } : {}) }),
    vcpus: m.vcpus,
    memory: { size: m.memoryBytes, backend: m.ramBackend, prealloc: m.memPrealloc },
    sliceNs: (m.sliceNs * m.mips) / FREE_RUNNING_MIPS,
    bootArgs: [...guest.args],
  });
  const image = loadElf(machine.memory, elf);
  machine.reset(image.entry);
  if (options.pace) {
    for (const v of machine.vcpus) v.addPreRunHook(pacingHook(m.mips, () => v.core.workDone));
  }
  return {
    machine,
    scheduler,
    image,
    reset() {
      machine.devices.uart.reset();
      machine.devices.clint.reset();
      loadElf(machine.memory, elf);
      machine.reset(image.entry);
      for (const v of machine.vcpus) v.kick();
    },
  };
}
