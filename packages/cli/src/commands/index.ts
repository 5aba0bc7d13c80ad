/** Every `ferry` command, in help order. Add a command by writing its module and listing it here. */
import type { Command } from "../command";
import { compareCommand } from "./compare";
import { configCommand } from "./config";
import { dirtyRateCommand } from "./dirty-rate";
import { isaTestCommand } from "./isa-test";
import { migrateCommand } from "./migrate";
import { capabilitiesCommand, paramsCommand, pluginsCommand } from "./registered";
import { runCommand } from "./run";
import { restoreCommand, snapshotCommand } from "./snapshot";

/** The commands `ferry` dispatches to. */
export const commands: readonly Command[] = [
  runCommand,
  migrateCommand,
  compareCommand,
  dirtyRateCommand,
  snapshotCommand,
  restoreCommand,
  configCommand,
  pluginsCommand,
  capabilitiesCommand,
  paramsCommand,
  isaTestCommand,
];
