/**
 * The field-by-field config reference (Markdown), generated from the config's JSON Schema so it
 * cannot drift from the zod schema. `ferry config reference` prints it; `pnpm docs:config`
 * writes it to `docs/config-reference.md`.
 */
import { z } from "zod";
import { configInputSchema, configJsonSchema } from "./schema";
import {
  BANDWIDTH_PATTERN,
  BANDWIDTH_SYNTAX,
  DURATION_PATTERN,
  DURATION_SYNTAX,
  formatSize,
  SIZE_PATTERN,
  SIZE_SYNTAX,
} from "./units";

/** The subset of a JSON Schema (draft 2020-12) node that the reference reads. */
export interface JsonSchemaNode {
  readonly type?: string | readonly string[];
  readonly title?: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, JsonSchemaNode>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchemaNode;
  readonly items?: JsonSchemaNode;
  readonly anyOf?: readonly JsonSchemaNode[];
  readonly oneOf?: readonly JsonSchemaNode[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly multipleOf?: number;
  readonly minLength?: number;
  readonly maxItems?: number;
  readonly pattern?: string;
}

/** A rule that spans several fields (a zod refinement, which JSON Schema cannot express). */
export interface CrossFieldRule {
  /** Config paths the rule constrains; the rule is listed in the section of each one's top-level key. */
  readonly paths: readonly string[];
  /** The rule in one sentence (Markdown). */
  readonly text: string;
}

/** Groups of top-level keys of which a config gives exactly one (enforced by the schema's refinement). */
export const CONFIG_ALTERNATIVES: readonly (readonly string[])[] = [["guest", "workload"]];

/** The schema's cross-field refinements, in words (each one is tested against the schema). */
export const CONFIG_RULES: readonly CrossFieldRule[] = [
  {
    paths: ["guest", "workload"],
    text: "A config has exactly one of `guest` (a RISC-V program) and `workload` (a synthetic page dirtier).",
  },
  {
    paths: ["machine.ram-backend", "guest"],
    text: "With `guest`, `machine.ram-backend` is `array` or `shared` (synthetic RAM holds only page versions, not code).",
  },
  {
    paths: ["machine.memory", "machine.ram-backend"],
    text: "With `machine.ram-backend` `array` or `shared`, `machine.memory` is at most 2GiB; `synthetic` allows up to 1TiB.",
  },
  {
    paths: ["workload.distribution.footprint-bytes", "machine.memory"],
    text: "`workload.distribution.footprint-bytes` is at most `machine.memory`.",
  },
  {
    paths: ["workload.prefill-bytes", "workload.distribution.footprint-bytes"],
    text: "`workload.prefill-bytes` is at most the footprint (`footprint-bytes`, or `machine.memory` without one).",
  },
  {
    paths: ["workload.distribution.hot-bytes", "workload.distribution.footprint-bytes"],
    text: "`workload.distribution.hot-bytes` is at most the footprint (`footprint-bytes`, or `machine.memory` without one).",
  },
];

/** Options of {@link renderConfigReference}. */
export interface ConfigReferenceOptions {
  /**
   * The output-side JSON Schema (`io: "output"`) of the same schema: where it holds range
   * constraints of a quantity after unit parsing (`memory` ≥ 64KiB), they are shown in its type.
   */
  readonly output?: JsonSchemaNode;
  /** Cross-field rules to list (default: none). */
  readonly rules?: readonly CrossFieldRule[];
  /** Groups of top-level alternatives (default: none). */
  readonly alternatives?: readonly (readonly string[])[];
  /** Lines placed right after the title (e.g. a "generated" note). */
  readonly preamble?: readonly string[];
  /** The document title (default: the schema's `title`). */
  readonly title?: string;
}

type QuantityKind = "size" | "duration" | "bandwidth";

const QUANTITIES: readonly { kind: QuantityKind; pattern: string; syntax: string }[] = [
  { kind: "size", pattern: SIZE_PATTERN, syntax: SIZE_SYNTAX },
  { kind: "duration", pattern: DURATION_PATTERN, syntax: DURATION_SYNTAX },
  { kind: "bandwidth", pattern: BANDWIDTH_PATTERN, syntax: BANDWIDTH_SYNTAX },
];

interface Row {
  readonly path: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

interface Walk {
  readonly lines: string[];
  readonly quantities: Set<QuantityKind>;
  readonly alternatives: readonly (readonly string[])[];
}

const HEADER: Row = { path: "path", type: "type", default: "default", description: "description" };

function quantityOf(node: JsonSchemaNode): QuantityKind | undefined {
  const branches = node.anyOf;
  if (branches === undefined || branches.length !== 2) return undefined;
  const [num, str] = branches;
  if (num.type !== "number" || str.type !== "string" || str.pattern === undefined) return undefined;
  const source = new RegExp(str.pattern).source;
  return QUANTITIES.find((q) => new RegExp(q.pattern).source === source)?.kind;
}

function formatNs(ns: number): string {
  if (ns === 0) return "0";
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

function formatterOf(kind: QuantityKind | undefined): (n: number) => string {
  if (kind === "size") return (n) => (n === 0 ? "0" : formatSize(n));
  if (kind === "duration") return formatNs;
  if (kind === "bandwidth") return (n) => `${n}B/s`;
  return String;
}

/** Range and step constraints of a number node, formatted with the quantity's units. */
function numberConstraints(node: JsonSchemaNode, kind: QuantityKind | undefined): string[] {
  const fmt = formatterOf(kind);
  const max =
    node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
  const parts: string[] = [];
  if (node.minimum !== undefined && max !== undefined)
    parts.push(`${fmt(node.minimum)}–${fmt(max)}`);
  else {
    if (node.minimum !== undefined) parts.push(`≥ ${fmt(node.minimum)}`);
    if (node.exclusiveMinimum !== undefined) parts.push(`> ${fmt(node.exclusiveMinimum)}`);
    if (max !== undefined) parts.push(`≤ ${fmt(max)}`);
  }
  if (node.exclusiveMaximum !== undefined) parts.push(`< ${fmt(node.exclusiveMaximum)}`);
  if (node.multipleOf !== undefined) parts.push(`multiple of ${fmt(node.multipleOf)}`);
  return parts;
}

function joinType(base: string, constraints: readonly string[]): string {
  if (constraints.length === 0) return base;
  return `${base} ${constraints.join(", ")}`;
}

function literal(value: unknown): string {
  return `\`${JSON.stringify(value)}\``;
}

/** The discriminator of a union of objects: a property that is a `const` in every variant. */
function discriminatorOf(variants: readonly JsonSchemaNode[]): string | undefined {
  const first = variants[0]?.properties;
  if (first === undefined) return undefined;
  return Object.keys(first).find((key) =>
    variants.every((v) => v.properties?.[key]?.const !== undefined),
  );
}

function unionOf(node: JsonSchemaNode): readonly JsonSchemaNode[] | undefined {
  const variants = node.oneOf ?? node.anyOf;
  if (variants === undefined || quantityOf(node) !== undefined) return undefined;
  return variants.every((v) => v.properties !== undefined) ? variants : undefined;
}

function typeOf(node: JsonSchemaNode, out: JsonSchemaNode | undefined, walk: Walk): string {
  if (node.const !== undefined) return literal(node.const);
  if (node.enum !== undefined) return node.enum.map(literal).join(" | ");
  const kind = quantityOf(node);
  if (kind !== undefined) {
    walk.quantities.add(kind);
    const isNumber = out?.type === "number" || out?.type === "integer";
    return joinType(kind, isNumber ? numberConstraints(out, kind) : []);
  }
  const variants = unionOf(node);
  if (variants !== undefined) {
    const key = discriminatorOf(variants);
    if (key === undefined) return `one of ${variants.length} objects`;
    const tags = variants.map((v) => literal(v.properties?.[key]?.const)).join(" | ");
    return `object by \`${key}\`: ${tags}`;
  }
  const alternatives = node.anyOf ?? node.oneOf;
  if (alternatives !== undefined) {
    return alternatives.map((a, i) => typeOf(a, out?.anyOf?.[i], walk)).join(" | ");
  }
  if (Array.isArray(node.type)) return node.type.join(" | ");
  switch (node.type) {
    case "integer":
    case "number":
      return joinType(node.type, numberConstraints(node, undefined));
    case "string": {
      const parts: string[] = [];
      if (node.pattern !== undefined) parts.push(`matching \`${node.pattern}\``);
      const base =
        node.minLength !== undefined && node.minLength > 0 ? "non-empty string" : "string";
      return joinType(base, parts);
    }
    case "array": {
      const item = node.items === undefined ? "anything" : typeOf(node.items, out?.items, walk);
      const max = node.maxItems !== undefined ? [`≤ ${node.maxItems} items`] : [];
      return joinType(`list of ${item}`, max.length > 0 ? [`(${max[0]})`] : []);
    }
    case "object": {
      const extra = node.additionalProperties;
      if (node.properties === undefined && typeof extra === "object") {
        return `map name → ${typeOf(extra, undefined, walk)}`;
      }
      return "object";
    }
    default:
      return typeof node.type === "string" ? node.type : "anything";
  }
}

function defaultOf(node: JsonSchemaNode, required: boolean, path: string, walk: Walk): string {
  if (node.default !== undefined) {
    const d = node.default;
    return typeof d === "string" ? `\`${d}\`` : `\`${JSON.stringify(d)}\``;
  }
  const group = walk.alternatives.find((g) => g.includes(path));
  if (group !== undefined) {
    return `required: one of ${group.map((k) => `\`${k}\``).join(", ")}`;
  }
  return required ? "required" : "—";
}

function descriptionOf(node: JsonSchemaNode): string {
  const text = node.description ?? "";
  const item = node.type === "array" ? node.items?.description : undefined;
  if (item === undefined) return text;
  return `${text} Each item: ${item[0].toLowerCase()}${item.slice(1)}.`.trim();
}

function rowOf(
  path: string,
  node: JsonSchemaNode,
  out: JsonSchemaNode | undefined,
  required: boolean,
  walk: Walk,
): Row {
  return {
    path: `\`${path}\``,
    type: typeOf(node, out, walk),
    default: defaultOf(node, required, path, walk),
    description: descriptionOf(node),
  };
}

function escapeCell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

/** A Markdown table with columns padded to equal width (stable under common formatters). */
function table(rows: readonly Row[]): string[] {
  const cells = [HEADER, ...rows].map((r) =>
    [r.path, r.type, r.default, r.description].map(escapeCell),
  );
  const widths = [0, 1, 2, 3].map((c) => Math.max(3, ...cells.map((r) => [...r[c]].length)));
  const line = (r: readonly string[]): string =>
    `| ${r.map((cell, c) => cell + " ".repeat(widths[c] - [...cell].length)).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)];
}

function heading(level: number, path: string, suffix = ""): string {
  return `${"#".repeat(Math.min(level, 6))} \`${path}\`${suffix}`;
}

function rulesFor(key: string, rules: readonly CrossFieldRule[]): string[] {
  return rules
    .filter((r) => r.paths.some((p) => p.split(".")[0] === key))
    .map((r) => `- ${r.text}`);
}

/** Rows for an object's properties, then one sub-section per nested object or union. */
function objectSection(
  path: string,
  node: JsonSchemaNode,
  out: JsonSchemaNode | undefined,
  level: number,
  walk: Walk,
  fixedRows: readonly Row[] = [],
): void {
  const props = node.properties ?? {};
  const required = new Set(node.required ?? []);
  const rows = [...fixedRows];
  const nested: [string, JsonSchemaNode, JsonSchemaNode | undefined][] = [];
  for (const [key, child] of Object.entries(props)) {
    if (fixedRows.some((r) => r.path === `\`${path}.${key}\``)) continue;
    const childPath = `${path}.${key}`;
    const childOut = out?.properties?.[key];
    const row = rowOf(childPath, child, childOut, required.has(key), walk);
    if (child.properties !== undefined || unionOf(child) !== undefined) {
      nested.push([childPath, child, childOut]);
      const see = `Fields: see \`${childPath}\` below.`;
      rows.push({
        ...row,
        description: row.description === "" ? see : `${row.description} ${see}`,
      });
    } else {
      rows.push(row);
    }
  }
  if (node.additionalProperties !== false && node.properties !== undefined) {
    walk.lines.push("Keys other than these are allowed.", "");
  }
  walk.lines.push(...table(rows), "");
  for (const [childPath, child, childOut] of nested) {
    nodeSection(childPath, child, childOut, level + 1, walk);
  }
}

/** A union of objects: an intro naming the discriminator, then one table per variant. */
function unionSection(
  path: string,
  variants: readonly JsonSchemaNode[],
  out: JsonSchemaNode | undefined,
  level: number,
  walk: Walk,
): void {
  const key = discriminatorOf(variants);
  const outVariants = out?.oneOf ?? out?.anyOf;
  walk.lines.push(
    key === undefined
      ? `One of the following ${variants.length} shapes:`
      : `One of the following ${variants.length} shapes, selected by \`${key}\`:`,
    "",
  );
  variants.forEach((variant, i) => {
    const tag = key === undefined ? undefined : variant.properties?.[key]?.const;
    const suffix = tag === undefined ? ` (shape ${i + 1})` : ` with \`${key}: ${String(tag)}\``;
    walk.lines.push(heading(level + 1, path, suffix), "");
    if (variant.description !== undefined) walk.lines.push(variant.description, "");
    const fixed: Row[] =
      key === undefined
        ? []
        : [
            {
              path: `\`${path}.${key}\``,
              type: literal(tag),
              default: "required",
              description: "Selects this shape.",
            },
          ];
    objectSection(path, variant, outVariants?.[i], level + 1, walk, fixed);
  });
}

function nodeSection(
  path: string,
  node: JsonSchemaNode,
  out: JsonSchemaNode | undefined,
  level: number,
  walk: Walk,
  intro: readonly string[] = [],
): void {
  walk.lines.push(heading(level, path), "");
  if (node.description !== undefined) walk.lines.push(node.description, "");
  if (intro.length > 0) walk.lines.push(...intro, "");
  const variants = unionOf(node);
  if (variants !== undefined) unionSection(path, variants, out, level, walk);
  else objectSection(path, node, out, level, walk);
}

/**
 * Render a Markdown reference of a config JSON Schema: an overview of the top-level keys, the
 * cross-field rules, the unit syntaxes in use, then one section per top-level key with a table
 * (path, type, default, description) per object and per variant of a union. Property order is
 * the schema's, so equal schemas give byte-identical output.
 */
export function renderConfigReference(
  schema: JsonSchemaNode,
  options: ConfigReferenceOptions = {},
): string {
  const rules = options.rules ?? [];
  const walk: Walk = {
    lines: [],
    quantities: new Set(),
    alternatives: options.alternatives ?? [],
  };
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const overview: Row[] = [];
  for (const [key, node] of Object.entries(props)) {
    const out = options.output?.properties?.[key];
    const row = rowOf(key, node, out, required.has(key), walk);
    overview.push(row);
    const sectionRules = rulesFor(key, rules);
    const isTable = node.properties !== undefined || unionOf(node) !== undefined;
    if (isTable) {
      nodeSection(key, node, out, 2, walk, sectionRules);
    } else {
      walk.lines.push(heading(2, key), "");
      if (sectionRules.length > 0) walk.lines.push(...sectionRules, "");
      walk.lines.push(...table([row]), "");
    }
  }
  const head: string[] = [`# ${options.title ?? schema.title ?? "Config reference"}`, ""];
  if (options.preamble !== undefined) head.push(...options.preamble, "");
  if (schema.description !== undefined) head.push(schema.description, "");
  if (schema.additionalProperties === false) {
    head.push("Keys are written as shown (kebab-case); unknown keys are errors.", "");
  }
  head.push("## Top-level keys", "", ...table(overview), "");
  if (rules.length > 0) {
    head.push("## Rules across fields", "", ...rules.map((r) => `- ${r.text}`), "");
  }
  const kinds = QUANTITIES.filter((q) => walk.quantities.has(q.kind));
  if (kinds.length > 0) {
    head.push("## Units", "");
    head.push("Quantities are a bare number in the base unit or a string with a unit:", "");
    for (const q of kinds) head.push(`- **${q.kind}**: ${q.syntax}.`);
    head.push("");
  }
  const text = [...head, ...walk.lines].join("\n");
  return `${text.replace(/\n+$/, "")}\n`;
}

/** The generated-file note at the top of `docs/config-reference.md`. */
export const CONFIG_REFERENCE_NOTE =
  "> Generated from the zod schema in `packages/cli/src/config/schema.ts` by " +
  "`ferry config reference`; do not edit by hand. Regenerate with `pnpm docs:config`. " +
  "The guide with examples is [config.md](config.md).";

/** The config reference of ferry's guest-config schema, as Markdown (what `docs/config-reference.md` holds). */
export function configReferenceMarkdown(): string {
  const output = z.toJSONSchema(configInputSchema, {
    io: "output",
    unrepresentable: "any",
  }) as JsonSchemaNode;
  const body = renderConfigReference(configJsonSchema() as JsonSchemaNode, {
    output,
    rules: CONFIG_RULES,
    alternatives: CONFIG_ALTERNATIVES,
    preamble: [CONFIG_REFERENCE_NOTE],
    title: "Config reference",
  });
  return `<!-- Generated by \`pnpm docs:config\` (ferry config reference). Do not edit. -->\n\n${body}`;
}
