/**
 * The `workload` CPU backend: a synthetic per-vCPU page dirtier.
 */
export {
  WORKLOAD_ARCH,
  WORKLOAD_BACKEND_NAME,
  type WorkloadCpuBackend,
  type WorkloadCpuState,
  workloadBackend,
} from "./backend";
export {
  DistributionKind,
  PageStream,
  type PageStreamShape,
  ZIPF_MAX_BUCKETS,
  type ZipfTable,
  buildZipfTable,
  resolveDistribution,
} from "./distribution";
export {
  type WorkloadDistribution,
  type WorkloadOptions,
  type WorkloadOptionsInput,
  parseWorkloadOptions,
  workloadDistributionSchema,
  workloadOptionsSchema,
} from "./options";
export * from "./presets";
