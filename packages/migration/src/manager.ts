/**
 * The migration manager: loads plugins into a tsyringe container, owns the capability &
 * parameter registry, and starts migrations, each in its own child container.
 */
import "reflect-metadata";
import type { Scheduler } from "@ferry/core";
import { container as globalContainer, type DependencyContainer } from "tsyringe";
import { MigrationConfigError, MigrationError } from "./errors";
import {
  ConvergenceController,
  type FerryPlugin,
  type MigratableMachine,
  DirtyRateEstimatorToken,
  DirtyTrackerToken,
  LoggerToken,
  MachineToken,
  MigrationContextToken,
  MigrationSection,
  MigrationSessionToken,
  MigrationStrategy,
  PageChannels,
  PageCodec,
  resolveParts,
  SchedulerToken,
  StatsRegistryToken,
  TransportToken,
} from "./plugin";
import { type Logger, silentLogger } from "./logger";
import { createRegistry, type MigrationRegistry } from "./registry";
import { createRamRecordRegistry, type RamRecordRegistry } from "./stream/records";
import { type Migration, MigrationThread } from "./thread";
import type { OutgoingTransport } from "./transport/types";

/** Options of {@link MigrationManager.migrate}. */
export interface MigrateOptions {
  /** The running source machine. */
  readonly machine: MigratableMachine & { readonly scheduler?: Scheduler };
  /** Where the stream goes. */
  readonly transport: OutgoingTransport;
  /** The machine's scheduler (default: `machine.scheduler`). */
  readonly scheduler?: Scheduler;
  /** Stream writer buffer size (default 256 KiB). */
  readonly writeBufferBytes?: number;
  /** The logger of this migration (default: the manager's). */
  readonly logger?: Logger;
  /**
   * Data channels besides `transport` (e.g. a link's `channels[i].source`). Post-copy with
   * `postcopy-preempt` sends requested pages on the first.
   */
  readonly channels?: readonly OutgoingTransport[];
}

/** Plugins + registry + migrations. */
export interface MigrationManager extends MigrationRegistry {
  /** The loaded plugins. */
  readonly plugins: readonly FerryPlugin[];
  /** The manager's container (plugins' parts are registered here). */
  readonly container: DependencyContainer;
  /** The migration in progress, or null. */
  readonly active: Migration | null;
  /** Start migrating `machine` (one at a time). */
  migrate(options: MigrateOptions): Migration;
  /** Every RAM record type the loaded codecs own (for the incoming side). */
  recordTypes(): RamRecordRegistry;
}

/** Options of {@link createMigrationManager}. */
export interface MigrationManagerOptions {
  /** Plugins to load (e.g. `[precopy(), xbzrle()]`). */
  readonly plugins: readonly FerryPlugin[];
  /** Parent container (default: a child of tsyringe's global container). */
  readonly container?: DependencyContainer;
  /** The logger parts get by `LoggerToken` and the thread reports to (default: silent). */
  readonly logger?: Logger;
}

/** The record registry of the base types plus every type the plugins declare. */
export function recordTypesOf(plugins: readonly FerryPlugin[]): RamRecordRegistry {
  return createRamRecordRegistry(plugins.flatMap((p) => p.records ?? []));
}

/** Make a migration manager over `plugins`. */
export function createMigrationManager(options: MigrationManagerOptions): MigrationManager {
  const plugins = [...options.plugins];
  const names = new Set<string>();
  for (const p of plugins) {
    if (names.has(p.name)) throw new MigrationConfigError(p.name, "plugin loaded twice");
    names.add(p.name);
  }
  const container = (options.container ?? globalContainer).createChildContainer();
  for (const p of plugins) p.register(container);
  let active: MigrationThread | null = null;
  const running = (): boolean =>
    active !== null &&
    active.status !== "completed" &&
    active.status !== "failed" &&
    active.status !== "cancelled";
  const registry = createRegistry(plugins, running);
  const records = recordTypesOf(plugins);

  const migrate = (opts: MigrateOptions): Migration => {
    if (running()) {
      throw new MigrationError(`a migration is already active (status ${active!.status})`);
    }
    const scheduler = opts.scheduler ?? opts.machine.scheduler;
    if (scheduler === undefined) {
      throw new MigrationError(
        "migrate: no scheduler (pass `scheduler` or use a machine that has one)",
      );
    }
    const caps = registry.capabilities();
    const on = (cap: string | undefined): boolean => cap === undefined || caps[cap] === true;
    const thread = new MigrationThread({
      machine: opts.machine,
      scheduler,
      transport: opts.transport,
      capabilities: caps,
      parameters: registry.queryParameters(),
      writeBufferBytes: opts.writeBufferBytes ?? 1 << 18,
      registry,
      logger: opts.logger ?? options.logger ?? silentLogger,
      ...(opts.channels !== undefined ? { channels: opts.channels } : {}),
    });
    const child = container.createChildContainer();
    child.register(MigrationContextToken, { useValue: thread });
    child.register(MigrationSessionToken, { useValue: thread });
    child.register(SchedulerToken, { useValue: scheduler });
    child.register(MachineToken, { useValue: opts.machine });
    child.register(DirtyRateEstimatorToken, { useValue: thread.dirtyRate });
    child.register(TransportToken, { useValue: opts.transport });
    child.register(StatsRegistryToken, { useValue: thread.statsRegistry });
    child.register(DirtyTrackerToken, { useValue: thread.dirtyTracker });
    child.register(LoggerToken, { useValue: thread.logger });
    const strategies = resolveParts(child, MigrationStrategy).filter((s) => on(s.capability));
    const selected = strategies.filter((s) => s.capability !== undefined);
    if (selected.length > 1) {
      throw new MigrationConfigError(
        "",
        `capabilities ${selected.map((s) => `"${s.capability}"`).join(" and ")} each select a migration strategy`,
      );
    }
    const defaults = strategies.filter((s) => s.capability === undefined);
    const strategy = selected[0] ?? defaults[defaults.length - 1];
    if (strategy === undefined) {
      throw new MigrationConfigError("", "no migration strategy loaded (load e.g. precopy())");
    }
    const codecs = resolveParts(child, PageCodec)
      .filter((c) => on(c.capability))
      .sort((a, b) => a.order - b.order);
    const controllers = resolveParts(child, ConvergenceController)
      .filter((c) => on(c.capability))
      .map((c) => c.create(thread));
    const sections = resolveParts(child, MigrationSection)
      .filter((p) => on(p.capability))
      .map((p) => p.create(thread));
    const channelParts = resolveParts(child, PageChannels).filter((p) => on(p.capability));
    if (channelParts.length > 1) {
      throw new MigrationConfigError(
        "",
        `parts ${channelParts.map((p) => `"${p.name}"`).join(" and ")} each send pages on data channels`,
      );
    }
    if (channelParts.length === 1) thread.useChannels(channelParts[0].create(thread));
    thread.attach(codecs, controllers, sections);
    active = thread;
    thread.done = thread
      .runThread(() => strategy.run(thread))
      .finally(() => {
        if (active === thread) active = null;
        child.dispose();
      });
    return thread;
  };

  return {
    ...registry,
    // QEMU's migrate-set-parameters: allowed during a migration, and applied to it at once.
    setParameters(request) {
      if (running()) active!.setParameters(request);
      else registry.setParameters(request);
    },
    plugins,
    container,
    get active() {
      return running() ? active : null;
    },
    migrate,
    recordTypes: () => records,
  };
}
