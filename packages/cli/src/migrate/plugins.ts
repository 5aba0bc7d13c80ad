/** The migration plugins `ferry` loads: every one whose factory its package exports. */
import type { FerryPlugin } from "@ferry/migration";
import * as autoConvergePkg from "@ferry/plugin-auto-converge";
import * as multifdPkg from "@ferry/plugin-multifd";
import { precopy } from "@ferry/plugin-precopy";
import * as xbzrlePkg from "@ferry/plugin-xbzrle";

type PluginFactory = () => FerryPlugin;

/** The factory `name` of a plugin package, when the package exports it (plugins are optional). */
function factoryOf(pkg: object, name: string): PluginFactory | undefined {
  const f = (pkg as Record<string, unknown>)[name];
  return typeof f === "function" ? (f as PluginFactory) : undefined;
}

/**
 * Fresh instances of the available plugins: `precopy` always, `xbzrle`, `auto-converge` and
 * `multifd` when their packages export `xbzrle()` / `autoConverge()` / `multifd()`.
 */
export function loadPlugins(): FerryPlugin[] {
  const plugins = [precopy()];
  const xbzrle = factoryOf(xbzrlePkg, "xbzrle");
  if (xbzrle) plugins.push(xbzrle());
  const autoConverge = factoryOf(autoConvergePkg, "autoConverge");
  if (autoConverge) plugins.push(autoConverge());
  const multifd = factoryOf(multifdPkg, "multifd");
  if (multifd) plugins.push(multifd());
  return plugins;
}
