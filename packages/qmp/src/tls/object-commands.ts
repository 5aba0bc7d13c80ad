/**
 * QMP's `object-add` and `object-del` over an {@link ObjectStore} (QEMU's qapi/qom.json): create
 * TLS credentials or an authz list at run time, e.g. before `migrate-set-parameters tls-creds`.
 */
import { z } from "zod";
import { type AnyQmpCommand, commandSpec, defineCommand } from "../command";
import type { ObjectStore } from "./objects";

/** The specs (`object-add` takes the object's properties flat, as QEMU ≥ 6.0). */
export const objectSpecs = {
  "object-add": commandSpec({
    name: "object-add",
    args: z.object({ "qom-type": z.string(), id: z.string() }).catchall(z.unknown()),
    returns: z.object({}),
  }),
  "object-del": commandSpec({
    name: "object-del",
    args: z.object({ id: z.string() }),
    returns: z.object({}),
  }),
} as const;

/** The commands, for a monitor's `extraCommands`. */
export function objectCommands(objects: ObjectStore): AnyQmpCommand[] {
  return [
    defineCommand(objectSpecs["object-add"], (a) => {
      const { "qom-type": qomType, id, ...props } = a;
      objects.add({ qomType, id, props });
      return {};
    }),
    defineCommand(objectSpecs["object-del"], (a) => {
      objects.del(a.id);
      return {};
    }),
  ] as unknown as AnyQmpCommand[];
}
