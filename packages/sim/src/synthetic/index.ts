/**
 * The `synthetic` sparse RAM backend: per-page versions of a pure content function.
 */
export {
  MAX_SYNTHETIC_RAM_SIZE,
  SyntheticWriteError,
  createSyntheticRamBackend,
  isSyntheticRamBackend,
  type SyntheticRamBackend,
  type SyntheticRamOptions,
} from "./backend";
export {
  MAX_DELTA_WINDOW,
  SyntheticContent,
  checkContentParams,
  type SyntheticContentParams,
} from "./content";
export {
  DEFAULT_MAX_DIFF_RUNS,
  MAX_DIFF_RUN_COUNT,
  SyntheticDiff,
  createSyntheticDiff,
} from "./diff";
export { GOLDEN32, deriveSeed, mix32, splitmixAdvance, splitmixOutput } from "./hash";
