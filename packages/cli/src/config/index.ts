/** Guest-config loading: YAML + zod validation, units, `--set` overrides, JSON schema. */
export { type ConfigIssue, ConfigError, formatIssue } from "./errors";
export { describeFound, loadConfig, type ParseConfigOptions, parseConfigText } from "./load";
export {
  CONFIG_ALTERNATIVES,
  CONFIG_REFERENCE_NOTE,
  CONFIG_RULES,
  type ConfigReferenceOptions,
  type CrossFieldRule,
  configReferenceMarkdown,
  type JsonSchemaNode,
  renderConfigReference,
} from "./reference";
export { type ConfigOverride, OverrideError, parseOverride } from "./overrides";
export {
  ACTION_DO,
  type ActionConfig,
  bandwidthSchema,
  configInputSchema,
  configJsonSchema,
  configSchema,
  DEFAULT_GUEST_SLICE_NS,
  DEFAULT_WORKLOAD_SLICE_NS,
  durationSchema,
  type FerryConfig,
  MAX_GUEST_ARGS,
  type ParameterValue,
  sizeSchema,
  type WorkloadConfig,
} from "./schema";
export {
  formatSize,
  parseBandwidth,
  parseDuration,
  parseSize,
  UnitError,
} from "./units";
