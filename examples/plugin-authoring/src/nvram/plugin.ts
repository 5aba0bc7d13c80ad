/**
 * The `nvram()` plugin: a section plugin. It adds no capability (loading it is enabling it) and
 * migrates its own device's state — the machine's {@link nvramOf NVRAM} — as a section of its
 * own next to RAM and the machine state.
 */
import { type FerryPlugin, MigrationSection } from "@ferry/migration";
import { nvramLoaderDef, nvramSection } from "./section";

/** Make the NVRAM section plugin. */
export function nvram(): FerryPlugin {
  return {
    name: "nvram",
    capabilities: [],
    sections: [nvramLoaderDef],
    register(container) {
      container.register(MigrationSection, { useValue: nvramSection });
    },
  };
}
