/**
 * A section plugin: an NVRAM device migrated as its own iterative section. Its default export is
 * the plugin factory, so a config can load it by path
 * (`plugins: [../plugin-authoring/src/nvram/index.ts]`).
 */
import { nvram } from "./plugin";

export * from "./device";
export * from "./plugin";
export * from "./section";

/** The plugin factory (module default export: what config-file plugin loading calls). */
export default nvram;
