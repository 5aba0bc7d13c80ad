/**
 * Shared by the composition examples: build a RISC-V `virt` machine with a guest ELF from
 * `examples/guests/` loaded into RAM, and tell whether a script is being run directly.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Machine, Scheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { loadElf, riscvBackend } from "@ferry/riscv";

/** Options of {@link guestMachine}. */
export interface GuestMachineOptions {
  /** The scheduler every machine of the example shares. */
  readonly scheduler: Scheduler;
  /** Guest name in `examples/guests/` (`memtouch`, `hello`, …). */
  readonly guest: string;
  /** Boot arguments (see docs/guests.md). */
  readonly args?: readonly number[];
  /** Guest speed in millions of instructions per virtual second (default 100). */
  readonly mips?: number;
  /** RAM bytes (default 16 MiB). */
  readonly memoryBytes?: number;
  /** vCPUs (default 1). */
  readonly vcpus?: number;
  /** Load the ELF (default true). A migration destination needs no image: RAM arrives. */
  readonly load?: boolean;
}

/** Read `examples/guests/<name>.elf`. */
export function readGuestElf(name: string): Uint8Array {
  return readFileSync(fileURLToPath(new URL(`../../guests/${name}.elf`, import.meta.url)));
}

/**
 * Build a `virt` machine with the `riscv` backend and (unless `load: false`) the guest loaded.
 * The machine is `created`: call `start()` (or `runUntilShutdown`).
 */
export function guestMachine(o: GuestMachineOptions): Machine {
  const machine = createMachine({
    scheduler: o.scheduler,
    cpu: riscvBackend({ mips: o.mips ?? 100 }),
    vcpus: o.vcpus ?? 1,
    memory: { size: o.memoryBytes ?? 16 * 1024 * 1024 },
    bootArgs: o.args === undefined ? undefined : [...o.args],
  });
  if (o.load !== false) loadElf(machine.memory, readGuestElf(o.guest));
  return machine;
}

/** True when the module whose `import.meta.url` is given is the script node/tsx was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && fileURLToPath(moduleUrl) === entry;
}
