/**
 * Resolve a module specifier the way an ESM `import` from a directory would: relative and
 * absolute paths against the directory, bare package names through `node_modules` folders up
 * the tree and the package's `exports` (conditions `import`, `node`, `default`), `module` or
 * `main`. Used to load plugins named in a config file.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** A module that cannot be resolved (the message says where it was looked for). */
export class ModuleResolveError extends Error {
  override readonly name = "ModuleResolveError";
}

const CONDITIONS = ["import", "node", "default"] as const;
const EXTENSIONS = ["", ".ts", ".js", ".mjs", "/index.ts", "/index.js"] as const;

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Pick the target of an `exports` value for our conditions (strings, condition maps, arrays). */
function exportTarget(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    for (const v of value) {
      const t = exportTarget(v);
      if (t !== undefined) return t;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    const map = value as Record<string, unknown>;
    for (const c of CONDITIONS) {
      if (c in map) {
        const t = exportTarget(map[c]);
        if (t !== undefined) return t;
      }
    }
  }
  return undefined;
}

function readPackageJson(dir: string): Record<string, unknown> {
  const file = join(dir, "package.json");
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new ModuleResolveError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The entry file of the package in `dir` for `subpath` (`.` or `./x`). */
function packageEntry(dir: string, subpath: string, spec: string): string {
  const pkg = existsSync(join(dir, "package.json")) ? readPackageJson(dir) : {};
  const exportsField = pkg.exports;
  if (exportsField !== undefined) {
    const isSubpathMap =
      exportsField !== null &&
      typeof exportsField === "object" &&
      !Array.isArray(exportsField) &&
      Object.keys(exportsField).some((k) => k.startsWith("."));
    const entry = isSubpathMap
      ? (exportsField as Record<string, unknown>)[subpath]
      : subpath === "."
        ? exportsField
        : undefined;
    const target = exportTarget(entry);
    if (target === undefined) {
      throw new ModuleResolveError(
        `${spec}: the package at ${dir} does not export ${JSON.stringify(subpath)} for import`,
      );
    }
    return resolve(dir, target);
  }
  if (subpath !== ".") return fileOrIndex(join(dir, subpath), spec);
  const main = typeof pkg.module === "string" ? pkg.module : pkg.main;
  return fileOrIndex(typeof main === "string" ? join(dir, main) : dir, spec);
}

function fileOrIndex(path: string, spec: string): string {
  for (const ext of EXTENSIONS) {
    if (isFile(path + ext)) return path + ext;
  }
  if (isDir(path) && existsSync(join(path, "package.json"))) return packageEntry(path, ".", spec);
  throw new ModuleResolveError(`${spec}: no file at ${path}`);
}

/**
 * The absolute file `spec` names when imported from a module in `fromDir`.
 * @throws ModuleResolveError when nothing is found (the message lists where it looked).
 */
export function resolveModule(spec: string, fromDir: string): string {
  if (spec.startsWith("file:")) return fileOrIndex(fileURLToPath(spec), spec);
  if (spec.startsWith("./") || spec.startsWith("../") || spec === "." || spec === "..") {
    return fileOrIndex(resolve(fromDir, spec), spec);
  }
  if (isAbsolute(spec)) return fileOrIndex(spec, spec);
  const parts = spec.split("/");
  const nameLength = spec.startsWith("@") ? 2 : 1;
  if (parts.length < nameLength || parts.slice(0, nameLength).some((p) => p === "")) {
    throw new ModuleResolveError(`${spec}: expected a package name or a path`);
  }
  const name = parts.slice(0, nameLength).join("/");
  const rest = parts.slice(nameLength).join("/");
  const subpath = rest === "" ? "." : `./${rest}`;
  const searched: string[] = [];
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    searched.push(join(dir, "node_modules"));
    if (isDir(candidate)) return packageEntry(candidate, subpath, spec);
    if (dirname(dir) === dir) break;
  }
  throw new ModuleResolveError(
    `${spec}: package not found in ${searched.length} node_modules folders from ${fromDir} up ` +
      `(${searched.slice(0, 3).join(", ")}${searched.length > 3 ? ", …" : ""})`,
  );
}
