/**
 * @ferry/plugin-dirty-limit — QEMU's dirty-limit convergence: once pre-copy does not converge,
 * every vCPU's dirty page rate is measured from its dirty ring and capped at `vcpu-dirty-limit`
 * MB/s by sleeping on its ring-full exits (core's `dirtyLimitOf`); vCPUs that do not dirty memory
 * are not slowed. Also the standalone `set-/cancel-/query-vcpu-dirty-limit` API.
 */
export * from "./controller";
export * from "./params";
export * from "./plugin";
export * from "./trigger";
