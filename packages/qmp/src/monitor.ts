/**
 * A monitor: the QMP server with ferry's standard commands over a {@link VmControl} and a
 * {@link MigrationControl}, and their events turned into QMP events.
 */
import type { AnyQmpCommand } from "./command";
import { defineCommand } from "./command";
import type { MigrationControl, VmControl } from "./control";
import { dirtyLimitCommands } from "./dirty-limit-commands";
import { createDirtyRateMeter, type DirtyRateMeter } from "./dirty-rate";
import { runHmp } from "./hmp";
import { addressOf } from "./migration-uri";
import { postcopyCommands, resumeMigration } from "./postcopy-commands";
import { QMP_PACKAGE, QMP_VERSION } from "./protocol";
import { createQmpServer, type QmpServer, type QmpServerOptions } from "./server";
import { qmpSpecs } from "./specs";
import { throttleCommands } from "./throttle";

/** Options of {@link createMonitor}. */
export interface MonitorOptions {
  readonly vm: VmControl;
  readonly migration: MigrationControl;
  /** Extra commands (compose-API users may add their own). */
  readonly extraCommands?: readonly AnyQmpCommand[];
  /** Passed to the server. */
  readonly server?: Omit<QmpServerOptions, "commands">;
}

/** A monitor: its server (listen on as many endpoints as wanted) and the dirty-rate meter. */
export interface Monitor {
  readonly server: QmpServer;
  readonly dirtyRate: DirtyRateMeter;
  /** Close sessions and listeners, stop timers. */
  close(): Promise<void>;
}

/** The standard commands over `vm` and `migration`. */
export function standardCommands(
  vm: VmControl,
  migration: MigrationControl,
  dirty: DirtyRateMeter,
): AnyQmpCommand[] {
  const s = qmpSpecs;
  const list = [
    defineCommand(s["query-version"], () => ({ qemu: { ...QMP_VERSION }, package: QMP_PACKAGE })),
    defineCommand(s["query-status"], () => {
      const status = vm.runState();
      return { running: status === "running", status };
    }),
    defineCommand(s.stop, async () => {
      await vm.stop();
      return {};
    }),
    defineCommand(s.cont, () => {
      vm.cont();
      return {};
    }),
    defineCommand(s.quit, () => {
      vm.quit();
      return {};
    }),
    defineCommand(s.system_powerdown, () => {
      vm.powerdown();
      return {};
    }),
    defineCommand(s.system_reset, () => {
      vm.reset();
      return {};
    }),
    defineCommand(s["query-migrate"], () => migration.info()),
    defineCommand(s["query-migrate-capabilities"], () => migration.capabilities()),
    defineCommand(s["migrate-set-capabilities"], (a) => {
      migration.setCapabilities(a.capabilities);
      return {};
    }),
    defineCommand(s["query-migrate-parameters"], () => migration.parameters()),
    defineCommand(s["migrate-set-parameters"], (a) => {
      migration.setParameters(a);
      return {};
    }),
    defineCommand(s.migrate, (a) => {
      if (a.resume === true) resumeMigration(migration, addressOf(a, "migrate"));
      else migration.migrate(addressOf(a, "migrate"));
      return {};
    }),
    defineCommand(s["migrate-incoming"], async (a) => {
      await migration.incoming(addressOf(a, "migrate-incoming"), a["exit-on-error"] ?? true);
      return {};
    }),
    defineCommand(s.migrate_cancel, () => {
      migration.cancel();
      return {};
    }),
    defineCommand(s["migrate-continue"], (a) => {
      migration.continueFrom(a.state);
      return {};
    }),
    defineCommand(s["calc-dirty-rate"], (a) => {
      dirty.start({
        calcTime: a["calc-time"],
        unit: a["calc-time-unit"] ?? "second",
        samplePages: a["sample-pages"],
        mode: a.mode ?? "page-sampling",
      });
      return {};
    }),
    defineCommand(s["query-dirty-rate"], (a) => {
      const info = dirty.query();
      const unit = a["calc-time-unit"] ?? info["calc-time-unit"];
      if (unit === info["calc-time-unit"]) return info;
      const calc =
        unit === "second" ? Math.round(info["calc-time"] / 1000) : info["calc-time"] * 1000;
      return { ...info, "calc-time": calc, "calc-time-unit": unit };
    }),
    defineCommand(s["human-monitor-command"], (a) => runHmp(a["command-line"], vm, migration)),
    ...throttleCommands(vm.throttle),
    ...postcopyCommands(migration),
  ];
  return list as unknown as AnyQmpCommand[];
}

/** Make a monitor and wire the events. */
export function createMonitor(options: MonitorOptions): Monitor {
  const { vm, migration } = options;
  const dirtyRate = createDirtyRateMeter(
    () => vm.ramBlocks(),
    undefined,
    () => vm.dirtyTracking?.() ?? null,
  );
  const server = createQmpServer({
    ...options.server,
    commands: [
      ...standardCommands(vm, migration, dirtyRate),
      ...dirtyLimitCommands(vm),
      ...(options.extraCommands ?? []),
    ],
  });
  const onStop = (): void => server.emit("STOP");
  const onResume = (): void => server.emit("RESUME");
  const onShutdown = (guest: boolean, reason: string): void =>
    server.emit("SHUTDOWN", { guest, reason });
  const onReset = (guest: boolean, reason: string): void => server.emit("RESET", { guest, reason });
  const onPowerdown = (): void => server.emit("POWERDOWN");
  const onStatus = (status: string): void => {
    if (migration.eventsEnabled) server.emit("MIGRATION", { status });
  };
  const onPass = (pass: number): void => {
    if (migration.eventsEnabled) server.emit("MIGRATION_PASS", { pass });
  };
  const onDirty = (rate: number): void =>
    server.emit("DIRTY_RATE_COMPLETED", { "dirty-rate": rate });
  vm.events.on("stop", onStop);
  vm.events.on("resume", onResume);
  vm.events.on("shutdown", onShutdown);
  vm.events.on("reset", onReset);
  vm.events.on("powerdown", onPowerdown);
  migration.events.on("status", onStatus);
  migration.events.on("pass", onPass);
  dirtyRate.events.on("done", onDirty);
  return {
    server,
    dirtyRate,
    async close() {
      vm.events.off("stop", onStop);
      vm.events.off("resume", onResume);
      vm.events.off("shutdown", onShutdown);
      vm.events.off("reset", onReset);
      vm.events.off("powerdown", onPowerdown);
      migration.events.off("status", onStatus);
      migration.events.off("pass", onPass);
      dirtyRate.events.off("done", onDirty);
      dirtyRate.dispose();
      await server.close();
    },
  };
}
