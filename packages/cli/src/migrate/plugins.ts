/** The migration plugins `ferry` loads: every one whose factory its package exports. */
import type { FerryPlugin } from "@ferry/migration";
import * as autoConvergePkg from "@ferry/plugin-auto-converge";
import * as dirtyLimitPkg from "@ferry/plugin-dirty-limit";
import { postcopy } from "@ferry/plugin-postcopy";
import { precopy } from "@ferry/plugin-precopy";
import * as xbzrlePkg from "@ferry/plugin-xbzrle";

type PluginFactory = () => FerryPlugin;

/** The factory `name` of a plugin package, when the package exports it (plugins are optional). */
function factoryOf(pkg: object, name: string): PluginFactory | undefined {
  const f = (pkg as Record<string, unknown>)[name];
  return typeof f === "function" ? (f as PluginFactory) : undefined;
}

/**
 * Fresh instances of the available plugins: `precopy` and `postcopy` always, `xbzrle`,
 * `auto-converge` and `dirty-limit` when their packages export `xbzrle()` / `autoConverge()` /
 * `dirtyLimit()`.
 */
export function loadPlugins(): FerryPlugin[] {
  const plugins = [precopy()];
  const xbzrle = factoryOf(xbzrlePkg, "xbzrle");
  if (xbzrle) plugins.push(xbzrle());
  const autoConverge = factoryOf(autoConvergePkg, "autoConverge");
  if (autoConverge) plugins.push(autoConverge());
  const dirtyLimit = factoryOf(dirtyLimitPkg, "dirtyLimit");
  if (dirtyLimit) plugins.push(dirtyLimit());
  plugins.push(postcopy());
  return plugins;
}
