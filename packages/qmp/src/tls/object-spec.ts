/**
 * QEMU's `-object` syntax for user-creatable objects: `type,id=ID,key=value,…` (a comma inside a
 * value is written `,,`; dotted keys such as `rules.0.match` build lists and objects) or a JSON
 * object with `qom-type` (as `-object '{"qom-type": …}'` and QMP's `object-add` take).
 */
import { QmpError } from "../errors";

/** A parsed object description: its type, id and the other properties (still untyped). */
export interface ObjectSpec {
  readonly qomType: string;
  readonly id: string;
  readonly props: Readonly<Record<string, unknown>>;
}

/** Split `a=1,b=x,,y` at single commas (`,,` is a literal comma). */
function splitKeyval(text: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ",") {
      if (text[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** Set `path` (dotted; numeric segments make arrays) in `target`. */
function setDotted(target: Record<string, unknown>, path: string, value: string): void {
  const keys = path.split(".");
  let node: Record<string, unknown> | unknown[] = target;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === "") throw new QmpError(`Invalid parameter '${path}'`);
    const last = i === keys.length - 1;
    const index = /^\d+$/.test(key) ? Number(key) : null;
    if (Array.isArray(node) !== (index !== null)) {
      throw new QmpError(`Invalid parameter '${path}'`);
    }
    const slot = node as Record<string, unknown>;
    if (last) {
      if (slot[key] !== undefined) throw new QmpError(`Parameter '${path}' is set more than once`);
      slot[key] = value;
      return;
    }
    const nextIsIndex = /^\d+$/.test(keys[i + 1]!);
    if (slot[key] === undefined) slot[key] = nextIsIndex ? [] : {};
    const child = slot[key];
    if (typeof child !== "object" || child === null) {
      throw new QmpError(`Parameter '${path}' conflicts with '${keys.slice(0, i + 1).join(".")}'`);
    }
    node = child as Record<string, unknown> | unknown[];
  }
}

/** Lists built from dotted keys must be dense (`rules.0`, `rules.1`, …). */
function checkDense(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) throw new QmpError(`Parameter '${path}.${i}' is missing`);
      checkDense(value[i], `${path}.${i}`);
    }
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) checkDense(v, path === "" ? k : `${path}.${k}`);
  }
}

function fromRecord(record: Record<string, unknown>): ObjectSpec {
  const { "qom-type": qomType, id, ...props } = record;
  if (typeof qomType !== "string" || qomType === "") {
    throw new QmpError("Parameter 'qom-type' is missing");
  }
  if (typeof id !== "string" || id === "") throw new QmpError("Parameter 'id' is missing");
  if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(id)) {
    throw new QmpError(`Parameter 'id' expects an identifier`);
  }
  return { qomType, id, props };
}

/**
 * Parse one `--object` value.
 * @throws QmpError naming what is wrong
 */
export function parseObjectSpec(text: string): ObjectSpec {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new QmpError(`JSON parse error, ${(e as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new QmpError("object description must be a JSON object");
    }
    return fromRecord(parsed as Record<string, unknown>);
  }
  const parts = splitKeyval(text);
  const record: Record<string, unknown> = {};
  parts.forEach((part, i) => {
    const eq = part.indexOf("=");
    if (eq < 0) {
      if (i === 0) {
        record["qom-type"] = part;
        return;
      }
      throw new QmpError(`Expected '=' after parameter '${part}'`);
    }
    setDotted(record, part.slice(0, eq), part.slice(eq + 1));
  });
  checkDense(record, "");
  return fromRecord(record);
}

/** QEMU's boolean spellings of keyval (`on`/`off`, `yes`/`no`, `true`/`false`) or a JSON boolean. */
export function parseBool(value: unknown, name: string): boolean {
  if (typeof value === "boolean") return value;
  if (value === "on" || value === "yes" || value === "true") return true;
  if (value === "off" || value === "no" || value === "false") return false;
  throw new QmpError(`Parameter '${name}' expects 'on' or 'off'`);
}
