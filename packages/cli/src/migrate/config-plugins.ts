/**
 * Plugins named in a config file (`plugins: [name-or-path, …]`) or with `--plugin`: each is
 * imported as if from the config file's directory (flags: from the working directory). Its
 * default export is a plugin factory `(options?) => FerryPlugin` (called with no arguments), or
 * it has a named export `plugin` that is a `FerryPlugin` or such a factory. They are loaded after
 * the built-in plugins.
 */
import { pathToFileURL } from "node:url";
import type { FerryPlugin } from "@ferry/migration";
import type { FerryConfig } from "../config";
import { loadPlugins } from "./plugins";
import { ModuleResolveError, resolveModule } from "./resolve-module";

/** A plugin that cannot be resolved, imported or is not a plugin (exit code 2). */
export class PluginLoadError extends Error {
  override readonly name = "PluginLoadError";
  /** The plugin as named in the config or flag. */
  readonly plugin: string;
  constructor(plugin: string, message: string) {
    super(message);
    this.plugin = plugin;
  }
}

/** Makes fresh instances of a set of plugins (one call per migration manager). */
export type PluginSetFactory = () => FerryPlugin[];

/** Where a plugin name came from and where it is resolved from. */
export interface PluginSpec {
  /** Package name or path, as written. */
  readonly name: string;
  /** Directory it is imported from. */
  readonly fromDir: string;
  /** For messages: `config.yaml` or `--plugin`. */
  readonly origin: string;
}

/** True for an object with a plugin's shape (`name`, `capabilities`, `register`). */
export function isFerryPlugin(value: unknown): value is FerryPlugin {
  if (value === null || typeof value !== "object") return false;
  const p = value as Record<string, unknown>;
  return (
    typeof p.name === "string" && Array.isArray(p.capabilities) && typeof p.register === "function"
  );
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const keys = Object.keys(value as object);
    return `an object with ${keys.length === 0 ? "no keys" : `keys ${keys.slice(0, 6).join(", ")}`}`;
  }
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** A factory producing a checked plugin from one export (a factory or a plugin object). */
function factoryFrom(
  value: unknown,
  what: string,
  spec: PluginSpec,
): (() => FerryPlugin) | undefined {
  const fail = (message: string): never => {
    throw new PluginLoadError(
      spec.name,
      `plugin ${JSON.stringify(spec.name)} (${spec.origin}): ${message}`,
    );
  };
  // A plugin whose register() throws is a bad plugin (exit 2), not a ferry bug.
  const guarded = (plugin: FerryPlugin): FerryPlugin => ({
    ...plugin,
    register(container) {
      try {
        plugin.register(container);
      } catch (err) {
        fail(`its register() threw: ${errorText(err)}`);
      }
    },
  });
  if (isFerryPlugin(value)) {
    const checked = guarded(value);
    return () => checked;
  }
  if (typeof value !== "function") return undefined;
  const factory = value as () => unknown;
  return () => {
    let made: unknown;
    try {
      made = factory();
    } catch (err) {
      return fail(`its ${what} factory threw: ${errorText(err)}`);
    }
    if (!isFerryPlugin(made)) {
      return fail(
        `its ${what} is a function, but it returned ${describe(made)}; expected a FerryPlugin ` +
          "{ name, capabilities, register(container) }",
      );
    }
    return guarded(made);
  };
}

/** The message of something thrown, on one line and cut to a few hundred characters. */
function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replaceAll("\n", " ");
  return line.length <= 300
    ? line
    : `${line.slice(0, 300)}… (${line.length - 300} more characters)`;
}

/**
 * Import one plugin module and return a factory of checked instances. The factory is called
 * once here so a module that is not a plugin fails now, not in the middle of a run.
 * @throws PluginLoadError when it cannot be resolved or imported, or is not a plugin.
 */
export async function importPlugin(spec: PluginSpec): Promise<() => FerryPlugin> {
  let file: string;
  try {
    file = resolveModule(spec.name, spec.fromDir);
  } catch (err) {
    if (!(err instanceof ModuleResolveError)) throw err;
    throw new PluginLoadError(
      spec.name,
      `plugin ${JSON.stringify(spec.name)} (${spec.origin}): cannot be resolved from ${spec.fromDir}: ${err.message}`,
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new PluginLoadError(
      spec.name,
      `plugin ${JSON.stringify(spec.name)} (${spec.origin}): importing ${file} failed: ${errorText(err)}`,
    );
  }
  const factory =
    factoryFrom(mod.default, "default export", spec) ??
    factoryFrom(mod.plugin, 'export "plugin"', spec);
  if (factory === undefined) {
    throw new PluginLoadError(
      spec.name,
      `plugin ${JSON.stringify(spec.name)} (${spec.origin}): ${file} is not a plugin: expected a ` +
        'default export that is a plugin factory (options?) => FerryPlugin, or a named export "plugin" ' +
        `(a FerryPlugin or a factory), found default: ${describe(mod.default)}, plugin: ${describe(mod.plugin)}`,
    );
  }
  factory();
  return factory;
}

/** The plugin specs of a config (from its directory) and of `--plugin` flags (from `cwd`). */
export function pluginSpecs(
  config: FerryConfig,
  flags: readonly string[] = [],
  cwd: string = process.cwd(),
  configFile = "config",
): PluginSpec[] {
  const fromDir = config.configDir ?? cwd;
  return [
    ...config.plugins.map((name) => ({ name, fromDir, origin: `plugins in ${configFile}` })),
    ...flags.map((name) => ({ name, fromDir: cwd, origin: "--plugin" })),
  ];
}

/**
 * Import the plugins of `specs` and return a factory of the whole set: the built-ins
 * ({@link loadPlugins}) followed by these, fresh instances per call.
 * @throws PluginLoadError for the first plugin that cannot be loaded.
 */
export async function loadPluginSet(specs: readonly PluginSpec[]): Promise<PluginSetFactory> {
  const extra: (() => FerryPlugin)[] = [];
  for (const spec of specs) extra.push(await importPlugin(spec));
  return () => [...loadPlugins(), ...extra.map((f) => f())];
}
