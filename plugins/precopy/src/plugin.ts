/**
 * The `precopy()` plugin factory.
 */
import { type FerryPlugin, MigrationStrategy, PageCodec } from "@ferry/migration";
import { precopyStrategy } from "./strategy";
import { zeroPageCodec } from "./zero-page";

/** The pre-copy plugin: the default strategy plus the zero-page codec. No capabilities, no parameters. */
export function precopy(): FerryPlugin {
  return {
    name: "precopy",
    capabilities: [],
    register(container) {
      container.register(MigrationStrategy, { useValue: precopyStrategy });
      container.register(PageCodec, { useValue: zeroPageCodec });
    },
  };
}
