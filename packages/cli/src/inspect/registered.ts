/**
 * What a set of migration plugins registers, as tables: plugins, capabilities (QEMU's
 * `query-migrate-capabilities` plus default, requirements and the providing plugin) and
 * parameters (`query-migrate-parameters` plus type, default, range, unit and the providing
 * plugin). Read from the plugin objects and their zod schemas; nothing is instantiated.
 */
import { coreParameters, type FerryPlugin, type ParameterSchema } from "@ferry/migration";
import { z } from "zod";
import { type ParameterUnit, parameterUnit } from "../migrate/settings";

/** One loaded plugin. */
export interface PluginRow {
  readonly name: string;
  /** `built-in`, or the package name / path it was loaded from. */
  readonly source: string;
  readonly capabilities: readonly string[];
  readonly parameters: readonly string[];
  /** RAM record types its codecs add to the stream. */
  readonly records: readonly string[];
}

/** One capability. */
export interface CapabilityRow {
  readonly name: string;
  readonly plugin: string;
  readonly default: boolean;
  readonly requires: readonly string[];
  readonly conflicts: readonly string[];
  readonly description: string;
}

/** One parameter. */
export interface ParameterRow {
  readonly name: string;
  /** `core` for the framework's own parameters. */
  readonly plugin: string;
  readonly type: "integer" | "number" | "boolean" | "string" | "enum";
  readonly default: number | boolean | string | null;
  readonly minimum?: number;
  readonly maximum?: number;
  /** Allowed values of an enum. */
  readonly values?: readonly string[];
  /** Unit of numeric values (`--param` and configs also accept `300ms`, `64MiB/s`, …). */
  readonly unit?: ParameterUnit;
  readonly description?: string;
}

/** Everything a plugin set registers. */
export interface Registered {
  readonly plugins: readonly PluginRow[];
  readonly capabilities: readonly CapabilityRow[];
  readonly parameters: readonly ParameterRow[];
}

interface JsonSchemaField {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  description?: string;
}

function parameterRow(name: string, schema: z.ZodType, plugin: string): ParameterRow {
  const parsed = schema.safeParse(undefined);
  const value = parsed.success ? parsed.data : null;
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchemaField;
  const type: ParameterRow["type"] =
    json.enum !== undefined
      ? "enum"
      : json.type === "integer" || json.type === "number" || json.type === "boolean"
        ? json.type
        : "string";
  const minimum = json.minimum ?? json.exclusiveMinimum;
  const maximum = json.maximum ?? json.exclusiveMaximum;
  const unit = type === "integer" || type === "number" ? parameterUnit(name) : undefined;
  return {
    name,
    plugin,
    type,
    default:
      typeof value === "number" || typeof value === "boolean" || typeof value === "string"
        ? value
        : null,
    ...(minimum !== undefined ? { minimum } : {}),
    ...(maximum !== undefined ? { maximum } : {}),
    ...(json.enum !== undefined ? { values: json.enum.map(String) } : {}),
    ...(unit !== undefined ? { unit } : {}),
    ...(json.description !== undefined ? { description: json.description } : {}),
  };
}

function parameterRows(schema: ParameterSchema, plugin: string): ParameterRow[] {
  return Object.entries(schema.shape).map(([name, field]) =>
    parameterRow(name, field as z.ZodType, plugin),
  );
}

/**
 * Describe `plugins` (in load order). `sources` names where each plugin came from (by plugin
 * name); plugins not listed are `built-in`.
 */
export function describeRegistered(
  plugins: readonly FerryPlugin[],
  sources: ReadonlyMap<string, string> = new Map(),
): Registered {
  return {
    plugins: plugins.map((p) => ({
      name: p.name,
      source: sources.get(p.name) ?? "built-in",
      capabilities: p.capabilities.map((c) => c.name),
      parameters: Object.keys(p.parameters?.shape ?? {}),
      records: (p.records ?? []).map((r) => r.name),
    })),
    capabilities: plugins.flatMap((p) =>
      p.capabilities.map((c) => ({
        name: c.name,
        plugin: p.name,
        default: c.default,
        requires: [...(c.requires ?? [])],
        conflicts: [...(c.conflicts ?? [])],
        description: c.description,
      })),
    ),
    parameters: [
      ...parameterRows(coreParameters, "core"),
      ...plugins.flatMap((p) => (p.parameters ? parameterRows(p.parameters, p.name) : [])),
    ],
  };
}

/** A plain-text table: a header row, a rule, then rows; columns padded to their widest cell. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")}\n`;
}

const list = (items: readonly string[]): string => (items.length === 0 ? "-" : items.join(", "));

function bound(value: number | undefined): string {
  if (value === undefined) return "";
  if (value >= Number.MAX_SAFE_INTEGER) return "max";
  return String(value);
}

/** The `ferry plugins` table. */
export function formatPlugins(r: Registered): string {
  return formatTable(
    ["plugin", "source", "capabilities", "parameters", "stream records"],
    r.plugins.map((p) => [
      p.name,
      p.source,
      list(p.capabilities),
      String(p.parameters.length),
      list(p.records),
    ]),
  );
}

/** The `ferry capabilities` table. */
export function formatCapabilities(r: Registered): string {
  return formatTable(
    ["capability", "default", "plugin", "requires", "conflicts", "description"],
    r.capabilities.map((c) => [
      c.name,
      c.default ? "on" : "off",
      c.plugin,
      list(c.requires),
      list(c.conflicts),
      c.description,
    ]),
  );
}

/** The `ferry params` table. */
export function formatParameters(r: Registered): string {
  return formatTable(
    ["parameter", "default", "range", "unit", "plugin"],
    r.parameters.map((p) => [
      p.name,
      p.default === null ? "-" : String(p.default),
      p.values !== undefined
        ? p.values.join(" | ")
        : p.minimum !== undefined || p.maximum !== undefined
          ? `${bound(p.minimum)}..${bound(p.maximum)}`
          : `any ${p.type}`,
      p.unit ?? "",
      p.plugin,
    ]),
  );
}
