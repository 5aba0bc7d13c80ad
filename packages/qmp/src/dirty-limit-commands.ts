/**
 * QEMU's vCPU dirty limit commands outside a migration (qapi/migration.json, system/dirtylimit.c):
 * `set-vcpu-dirty-limit`, `cancel-vcpu-dirty-limit`, `query-vcpu-dirty-limit`, over core's
 * per-machine dirty limit (`dirtyLimitOf`). Refused with QEMU's messages when the machine has no
 * dirty ring, for a bad cpu-index, or while a migration with the `dirty-limit` capability drives
 * the limit.
 */
import { DIRTY_RING_REQUIRED, type DirtyLimit } from "@ferry/core";
import { z } from "zod";
import { type AnyQmpCommand, commandSpec, defineCommand } from "./command";
import type { VmControl } from "./control";
import { QmpError } from "./errors";

const empty = z.object({});

/** The wire contracts of the three commands. */
export const dirtyLimitSpecs = {
  "set-vcpu-dirty-limit": commandSpec({
    name: "set-vcpu-dirty-limit",
    args: z.object({
      "cpu-index": z.number().int().optional(),
      "dirty-rate": z.number().int().min(0),
    }),
    returns: empty,
  }),
  "cancel-vcpu-dirty-limit": commandSpec({
    name: "cancel-vcpu-dirty-limit",
    args: z.object({ "cpu-index": z.number().int().optional() }),
    returns: empty,
  }),
  "query-vcpu-dirty-limit": commandSpec({
    name: "query-vcpu-dirty-limit",
    args: empty,
    returns: z.array(
      z.object({
        "cpu-index": z.number(),
        "limit-rate": z.number(),
        "current-rate": z.number(),
      }),
    ),
  }),
} as const;

function checkIndex(d: DirtyLimit, index: number | undefined): void {
  if (index !== undefined && (index < 0 || index >= d.vcpuCount)) {
    throw new QmpError("incorrect cpu index specified");
  }
}

/** The commands over `vm` (a machine without a dirty ring refuses `set`, as QEMU does). */
export function dirtyLimitCommands(vm: VmControl): AnyQmpCommand[] {
  const s = dirtyLimitSpecs;
  const list = [
    defineCommand(s["set-vcpu-dirty-limit"], (a) => {
      const d = vm.dirtyLimit?.() ?? null;
      if (d === null) throw new QmpError(DIRTY_RING_REQUIRED);
      checkIndex(d, a["cpu-index"]);
      if (d.migrationOwned && d.inService) {
        throw new QmpError("can't set dirty page rate limit while migration is running");
      }
      d.set(a["dirty-rate"], a["cpu-index"]);
      return {};
    }),
    defineCommand(s["cancel-vcpu-dirty-limit"], (a) => {
      const d = vm.dirtyLimit?.() ?? null;
      if (d === null) return {};
      checkIndex(d, a["cpu-index"]);
      if (d.migrationOwned && d.inService) {
        throw new QmpError("can't cancel dirty page rate limit while migration is running");
      }
      d.cancel(a["cpu-index"]);
      return {};
    }),
    defineCommand(s["query-vcpu-dirty-limit"], () => {
      const d = vm.dirtyLimit?.() ?? null;
      return d === null ? [] : d.query();
    }),
  ];
  return list as unknown as AnyQmpCommand[];
}
