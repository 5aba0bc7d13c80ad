/** The migration plugins `ferry` loads: every one whose factory its package exports. */
import type { FerryPlugin } from "@ferry/migration";
import * as autoConvergePkg from "@ferry/plugin-auto-converge";
import * as dirtyLimitPkg from "@ferry/plugin-dirty-limit";
import * as multifdPkg from "@ferry/plugin-multifd";
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
 * `auto-converge`, `dirty-limit` and `multifd` when their packages export `xbzrle()` /
 * `autoConverge()` / `dirtyLimit()` / `multifd()`.
 */
export function loadPlugins(): FerryPlugin[] {
  const plugins = [precopy()];
  const xbzrle = factoryOf(xbzrlePkg, "xbzrle");
  if (xbzrle) plugins.push(xbzrle());
  const autoConverge = factoryOf(autoConvergePkg, "autoConverge");
  if (autoConverge) plugins.push(autoConverge());
  const dirtyLimit = factoryOf(dirtyLimitPkg, "dirtyLimit");
  if (dirtyLimit) plugins.push(dirtyLimit());
  const multifd = factoryOf(multifdPkg, "multifd");
  if (multifd) plugins.push(multifd());
  plugins.push(postcopy());
  return plugins;
}
