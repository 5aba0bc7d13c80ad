/**
 * `ferry plugins`, `ferry capabilities`, `ferry params`: what the loaded plugins register, with
 * defaults, ranges and the providing plugin (QEMU's `query-migrate-capabilities` /
 * `query-migrate-parameters`), as a table or `--json`.
 */
import type { FerryPlugin } from "@ferry/migration";
import { type Command, parseCommandArgs, UsageError, writeJson } from "../command";
import { type FerryConfig, loadConfig } from "../config";
import { ExitCode } from "../exit-codes";
import {
  describeRegistered,
  formatCapabilities,
  formatParameters,
  formatPlugins,
  type Registered,
} from "../inspect/registered";
import { importPlugin, pluginSpecs } from "../migrate/config-plugins";
import { loadPlugins } from "../migrate/plugins";

const OPTIONS_HELP = `Arguments and options:
  config.yaml        Also load the plugins the config names (plugins:, from its directory).
  --plugin name      Also load a plugin (package name or path, from the working directory;
                     repeatable).
  --json             Print JSON instead of a table.
  -h, --help         Show this help.

Exit codes: 0 ok, 2 bad input (a plugin that cannot be loaded, an invalid config).
`;

/** The built-in plugins plus those a config and `--plugin` flags name, with their sources. */
export async function registeredFor(
  configFile: string | undefined,
  pluginFlags: readonly string[],
): Promise<Registered> {
  const config: FerryConfig | undefined =
    configFile !== undefined ? loadConfig(configFile) : undefined;
  const specs = pluginSpecs(
    config ?? ({ plugins: [] } as unknown as FerryConfig),
    pluginFlags,
    process.cwd(),
    configFile ?? "config",
  );
  const plugins: FerryPlugin[] = loadPlugins();
  const sources = new Map<string, string>();
  for (const spec of specs) {
    const plugin = (await importPlugin(spec))();
    sources.set(plugin.name, spec.name);
    plugins.push(plugin);
  }
  return describeRegistered(plugins, sources);
}

function registeredCommand(
  name: string,
  summary: string,
  help: string,
  pick: (r: Registered) => unknown,
  format: (r: Registered) => string,
): Command {
  const HELP = `Usage: ferry ${name} [config.yaml] [--plugin name]... [--json]

${help}

${OPTIONS_HELP}`;
  return {
    name,
    summary,
    help: HELP,
    async run(args, io) {
      const { values, positionals } = parseCommandArgs(
        args,
        { plugin: { type: "string", multiple: true } },
        HELP,
      );
      if (values.help) {
        io.out(HELP);
        return ExitCode.Ok;
      }
      if (positionals.length > 1) {
        throw new UsageError(
          `${name}: expected at most one config file, found ${positionals.length}`,
          HELP,
        );
      }
      const registered = await registeredFor(
        positionals[0],
        (values.plugin as string[] | undefined) ?? [],
      );
      if (values.json === true) writeJson(io, pick(registered));
      else io.out(format(registered));
      return ExitCode.Ok;
    },
  };
}

/** `ferry plugins`. */
export const pluginsCommand: Command = registeredCommand(
  "plugins",
  "list the migration plugins loaded and what each registers",
  "List the migration plugins (built-in ones, then those named by the config and --plugin)\n" +
    "with where each comes from and the capabilities, parameters and stream records it adds.",
  (r) => r.plugins,
  formatPlugins,
);

/** `ferry capabilities`. */
export const capabilitiesCommand: Command = registeredCommand(
  "capabilities",
  "list migration capabilities with defaults and the plugin providing each",
  "List every migration capability (QEMU's query-migrate-capabilities) with its default,\n" +
    "the capabilities it requires or conflicts with, and the plugin that provides it.\n" +
    "Turn one on with --capability name=on or migration.capabilities in a config.",
  (r) => r.capabilities,
  formatCapabilities,
);

/** `ferry params`. */
export const paramsCommand: Command = registeredCommand(
  "params",
  "list migration parameters with defaults, ranges, units and the plugin providing each",
  "List every migration parameter (QEMU's query-migrate-parameters) with its default, the\n" +
    "range or values it accepts, its unit and the plugin that provides it (core: the framework).\n" +
    "Set one with --param name=value or migration.parameters in a config.",
  (r) => r.parameters,
  formatParameters,
);
