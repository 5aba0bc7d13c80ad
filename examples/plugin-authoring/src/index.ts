/**
 * ferry-plugin-rate-converge — a third-party ferry plugin: a convergence controller that computes
 * the vCPU throttle needed from the measured bandwidth and dirty rate, in one step.
 *
 * The default export is the plugin factory, so a config file can load it by package name
 * (`plugins: ["ferry-plugin-rate-converge"]`).
 */
import { rateConverge } from "./plugin";

export * from "./controller";
export * from "./params";
export * from "./plugin";
export * from "./throttle-math";
export { createNvram, hasNvram, type Nvram, nvram, nvramOf } from "./nvram/index";

/** The plugin factory (module default export: what config-file plugin loading calls). */
export default rateConverge;
