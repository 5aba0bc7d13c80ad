/**
 * Argument checking with QEMU's messages. QEMU's QObject input visitor walks a command's argument
 * struct in schema order (missing members, wrong types), then refuses members the struct does not
 * have. This does the same over a zod object schema, then lets zod check ranges and refinements.
 */
import type { z } from "zod";
import { QmpError } from "./errors";

type AnySchema = z.ZodType;

interface Def {
  readonly type: string;
  readonly innerType?: AnySchema;
  readonly element?: AnySchema;
  readonly shape?: Record<string, AnySchema>;
  readonly entries?: Record<string, string | number>;
  readonly values?: readonly unknown[];
  readonly options?: readonly AnySchema[];
  readonly in?: AnySchema;
  readonly catchall?: AnySchema;
}

const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Unwrap optional/default/nullable; tells whether the member may be absent. */
function unwrap(s: AnySchema): { schema: AnySchema; optional: boolean } {
  let schema = s;
  let optional = false;
  for (;;) {
    const d = defOf(schema);
    if (d.type === "optional" || d.type === "default" || d.type === "prefault") {
      optional = true;
      schema = d.innerType!;
    } else if (d.type === "nullable" || d.type === "readonly" || d.type === "catch") {
      schema = d.innerType!;
    } else if (d.type === "pipe") {
      schema = d.in!;
    } else return { schema, optional };
  }
}

/** QAPI's name for the type a schema expects (the `expected:` of QEMU's message). */
function expectedName(s: AnySchema): string {
  const d = defOf(s);
  switch (d.type) {
    case "string":
    case "enum":
      return "string";
    case "number":
      return (s as unknown as { isInt?: boolean }).isInt === true ? "integer" : "number";
    case "int":
    case "bigint":
      return "integer";
    case "boolean":
      return "boolean";
    case "object":
    case "record":
      return "object";
    case "array":
      return "array";
    case "literal":
      return typeof d.values?.[0] === "string" ? "string" : "integer";
    default:
      return "value";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function typeMatches(s: AnySchema, v: unknown): boolean {
  switch (expectedName(s)) {
    case "string":
      return typeof v === "string";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "boolean":
      return typeof v === "boolean";
    case "object":
      return isObject(v);
    case "array":
      return Array.isArray(v);
    default:
      return true;
  }
}

/** Walk `value` against `schema` like QEMU's visitor; throws {@link QmpError} on the first fault. */
function visit(schema: AnySchema, value: unknown, name: string): void {
  const d = defOf(schema);
  if (d.type === "union") {
    // An alternate: any branch whose type matches.
    const branch = d.options!.find((o) => typeMatches(unwrap(o).schema, value));
    if (branch === undefined) {
      throw new QmpError(`Invalid parameter type for '${name}', expected: value`);
    }
    visit(unwrap(branch).schema, value, name);
    return;
  }
  if (!typeMatches(schema, value)) {
    throw new QmpError(`Invalid parameter type for '${name}', expected: ${expectedName(schema)}`);
  }
  if (d.type === "enum") {
    const allowed = Object.values(d.entries ?? {});
    if (!allowed.includes(value as string)) {
      throw new QmpError(`Parameter '${name}' does not accept value '${String(value)}'`);
    }
  } else if (d.type === "literal") {
    if (!(d.values ?? []).includes(value)) {
      throw new QmpError(`Parameter '${name}' does not accept value '${String(value)}'`);
    }
  } else if (d.type === "object") {
    visitStruct(schema, value as Record<string, unknown>, `${name}.`);
  } else if (d.type === "array") {
    (value as unknown[]).forEach((item, i) => {
      visit(unwrap(d.element!).schema, item, `${name}[${i}]`);
    });
  }
}

function visitStruct(schema: AnySchema, value: Record<string, unknown>, prefix: string): void {
  const shape = defOf(schema).shape ?? {};
  for (const [key, member] of Object.entries(shape)) {
    const { schema: inner, optional } = unwrap(member);
    if (!(key in value)) {
      if (!optional) throw new QmpError(`Parameter '${prefix}${key}' is missing`);
      continue;
    }
    visit(inner, value[key], `${prefix}${key}`);
  }
  // A struct with a catch-all (e.g. migrate-set-parameters, whose members come from plugins)
  // leaves its other members to the handler.
  if (defOf(schema).catchall !== undefined) return;
  for (const key of Object.keys(value)) {
    if (!(key in shape)) throw new QmpError(`Parameter '${prefix}${key}' is unexpected`);
  }
}

/**
 * Check and parse a command's `arguments` (absent = `{}`) against its zod object schema with
 * QEMU's messages: `Parameter 'x' is missing`, `Invalid parameter type for 'x', expected: integer`,
 * `Parameter 'x' is unexpected`, `Parameter 'x' does not accept value 'y'`; then zod's own
 * checks (ranges, refinements) as `Parameter 'x' expects …`.
 */
export function checkArguments<S extends AnySchema>(
  schema: S,
  args: Readonly<Record<string, unknown>>,
): z.output<S> {
  visitStruct(schema, args, "");
  const r = schema.safeParse(args);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".");
    throw new QmpError(`Parameter '${path.replace(/\.\[/g, "[")}' expects ${issue.message}`);
  }
  return r.data as z.output<S>;
}
