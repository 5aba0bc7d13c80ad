/**
 * The plugin API: what a plugin is, the parts it binds into the tsyringe container, and the
 * shared tokens. A plugin imports only `@ferry/migration` and `@ferry/core`.
 *
 * Parts are plain objects registered with `container.register(Token, { useValue })` or
 * `{ useFactory: (c) => part }`. The framework resolves them from a fresh child container for
 * every migration (factories run again, so per-migration state cannot leak), keeps only the
 * parts whose `capability` is on (no `capability` = always active) and then calls their
 * `create…(ctx)` / `run(session)` methods. Factories must be cheap and side-effect free.
 */
import type {
  AddressSpace,
  DirtyBitmap,
  PreRunHook,
  RamRegion,
  Scheduler,
  VcpuCore,
} from "@ferry/core";
import type { SeriesSource } from "./declared-series";
import type { DirtyRateEstimator } from "./dirty-rate";
import type { DirtyTracker } from "./dirty-tracker";
import type { Logger } from "./logger";
import type { StatsRegistry } from "./stats-registry";
import type { PreemptChannel } from "./preempt-channel";
import type {
  DestinationReturnPath,
  IncomingTransport,
  OutgoingTransport,
} from "./transport/types";
import type { DependencyContainer, InjectionToken } from "tsyringe";
import type { z } from "zod";
import type { MultifdCompression } from "./multifd/compression";
import type { RamRecordType } from "./stream/records";
import type { StreamWriter } from "./stream/writer";

/** One capability a plugin adds (QEMU's names, e.g. `xbzrle`, `auto-converge`). */
export interface CapabilityDef {
  readonly name: string;
  readonly description: string;
  /** Default state (QEMU: all off). */
  readonly default: boolean;
  /** Capabilities that must also be on when this one is on. */
  readonly requires?: readonly string[];
  /** Capabilities that must be off when this one is on. */
  readonly conflicts?: readonly string[];
}

/** A zod object schema of parameters; every field has a default. */
export type ParameterSchema = z.ZodObject<z.ZodRawShape>;

/** A migration plugin, as made by its factory (`precopy()`, `xbzrle({…})`). */
export interface FerryPlugin {
  /** Package-like name, e.g. `precopy`. */
  readonly name: string;
  /** Capabilities it adds (may be empty). */
  readonly capabilities: readonly CapabilityDef[];
  /** Its parameters (QEMU names, kebab-case keys) with defaults, or undefined. */
  readonly parameters?: ParameterSchema;
  /**
   * RAM record types its codecs emit (flag bit + decoder). Destinations accept them whether or
   * not the capability is on there, like QEMU.
   */
  readonly records?: readonly RamRecordType[];
  /**
   * Destination halves of the sections its {@link MigrationSection} parts send (by idstr).
   * Destinations load them whether or not the capability is on there, like `records`.
   */
  readonly sections?: readonly SectionLoaderDef[];
  /**
   * Multifd compression methods it provides (`multifd-compression` values). Destinations decode
   * them whether or not the capability is on there, like `records`.
   */
  readonly compressions?: readonly MultifdCompression[];
  /** Bind its parts under {@link MigrationStrategy}, {@link PageCodec}, {@link ConvergenceController}. */
  register(container: DependencyContainer): void;
}

/** A vCPU as migration sees it (core's `Vcpu` fits): pre-run hooks and kick. */
export interface MigratableVcpu {
  /** Add a hook run before every guest entry; returns its remover. */
  addPreRunHook(hook: PreRunHook): () => void;
  /** End the current run early so hooks are re-evaluated at once. */
  kick(): void;
  /** The engine, when exposed (for work-done statistics). */
  readonly core?: VcpuCore;
}

/** A machine as migration sees it (core's `Machine` fits). */
export interface MigratableMachine {
  /** Guest-physical memory; its `ramRegions` are the migrated RAM blocks. */
  readonly memory: AddressSpace;
  /** The vCPUs (for convergence controllers' hooks). */
  readonly vcpus: readonly MigratableVcpu[];
  /** Stop every vCPU (resolves when all are out of the guest). */
  pause(): Promise<void> | void;
  /** Let the vCPUs of a paused machine run again. */
  resume(): void;
  /** Start a created (never started) machine; used by the incoming side when present. */
  start?(): void;
  /** Lifecycle state (`created`, `running`, `paused`, `stopped`) when the machine reports one. */
  readonly state?: string;
  /** Every vCPU's and device's state as plain JSON-compatible data. */
  saveState(): object;
  /** Restore `saveState` output (validates; throws a clear error). */
  loadState(state: object): void;
}

/**
 * Let `machine` run: `start()` a created machine, `resume()` a paused one (machines that report no
 * `state` are resumed). Returns false when it was in neither state.
 */
export function runMachine(machine: MigratableMachine): boolean {
  if (machine.state === "created" && machine.start) {
    machine.start();
    return true;
  }
  if (machine.state === undefined || machine.state === "paused") {
    machine.resume();
    return true;
  }
  return false;
}

/** What every per-migration part is given. */
export interface MigrationContext {
  readonly machine: MigratableMachine;
  readonly scheduler: Scheduler;
  /** The RAM blocks migrated, in map order. */
  readonly blocks: readonly RamRegion[];
  /** Effective capabilities for this migration. */
  readonly capabilities: Readonly<Record<string, boolean>>;
  /** Effective parameters for this migration (validated, defaults applied). */
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** Statistics of one dirty-log sync, given to the `sync` event, codecs and controllers. */
export interface SyncStats {
  /** Virtual time of the sync (ns). */
  readonly nowNs: number;
  /** dirty-sync-count after this sync (1 = the setup sync). */
  readonly syncCount: number;
  /**
   * Pages newly set in the migration bitmap by this sync (QEMU's `new_dirty = bits &
   * ~migration_bitmap`): pages dirtied since the previous sync that were not already pending.
   * This is what QEMU's dirty-pages-rate and auto-converge's trigger count.
   */
  readonly dirtyPagesPeriod: number;
  /** Pages set in the dirty log at this sync, pending or not (every dirtied page). */
  readonly loggedPagesPeriod?: number;
  /** `dirtyPagesPeriod × PAGE_SIZE`. */
  readonly dirtyBytesPeriod: number;
  /** Stream bytes written since the previous sync. */
  readonly bytesSentPeriod: number;
  /** Length of the period (ns). */
  readonly periodNs: number;
  /** Dirty rate in pages/s (QEMU-style estimate over periods of ≥ 1 s; 0 until known). */
  readonly dirtyRate: number;
  /** Dirty pages pending after the sync, in bytes. */
  readonly remainingBytes: number;
}

/** Extra statistics a part contributes to query-migrate (a top-level field or a section). */
export type StatsContribution = Readonly<Record<string, number | Readonly<Record<string, number>>>>;

/**
 * The page the codec chain is asked to encode. One object per migration, reused for every page
 * (do not keep it).
 */
export interface PageRef {
  /** The RAM block. */
  block: RamRegion;
  /** Index of the block in `MigrationContext.blocks`. */
  blockIndex: number;
  /** Page index inside the block. */
  page: number;
  /** Byte offset inside the block (`page × PAGE_SIZE`). */
  offset: number;
  /** Global page number across all blocks (cache keys). */
  key: number;
  /**
   * Bytes holding the page content at `bytesOffset` (the RAM itself or a scratch copy). For a
   * versioned (synthetic) block the page is materialized into a reused scratch page only when an active codec
   * reads bytes (`PageCodec.readsBytes`); a zero version points at a shared all-zero page.
   */
  bytes: Uint8Array;
  bytesOffset: number;
  /** The page's version when the block's backend keeps versions (`RamBackend.versioned`), else -1. */
  version: number;
}

/** The per-migration source half of a codec. */
export interface PageEncoder {
  /**
   * Encode the page or decline. To encode: `out.ramRecord(page.block, page.offset, flag)` then
   * append the payload (`out.ensure(n)` + `out.buf`/`out.pos`, or `out.u8/be16/bytes`), and
   * return true. Return false (having written nothing) to let the next codec try.
   */
  encode(page: PageRef, out: StreamWriter): boolean;
  /**
   * An earlier codec in the chain encoded `page` (e.g. as a zero page), so this one was not
   * asked: a codec with a page cache must update it to follow the destination's content (QEMU's
   * `xbzrle_cache_zero_page`).
   */
  skipped?(page: PageRef): void;
  /** Called after each dirty-log sync. */
  onSync?(stats: SyncStats): void;
  /** Statistics to merge into query-migrate. */
  stats?(): StatsContribution;
  /**
   * `migrate-set-parameters` changed parameters while the migration runs (validated values, only
   * the changed keys; `MigrationContext.parameters` already holds the new values). Apply the ones
   * that are live in QEMU (e.g. `xbzrle-cache-size`: a new, empty cache of the new size).
   */
  onParameters?(changed: Readonly<Record<string, unknown>>): void;
  /** The migration ended (any outcome). */
  dispose?(): void;
}

/**
 * A page codec part. The chain is ordered by `order` (zero-page 0, xbzrle 100, …); the raw PAGE
 * record is the built-in fallback. A codec that emits its own record type declares that type in
 * its plugin's `records`, so destinations can decode it.
 */
export interface PageCodec {
  readonly name: string;
  /** Capability enabling it, or undefined for always. */
  readonly capability?: string;
  /** Position in the chain (lower first). */
  readonly order: number;
  /** How query-migrate counts its pages: zero pages are `duplicate`, raw are `normal`. */
  readonly counts: "duplicate" | "normal" | "other";
  /**
   * Whether its encoder reads `PageRef.bytes` (default true). A codec that decides from the
   * backend alone (zero-page: `isZeroPage`) says false, so synthetic pages need not be
   * materialized for it.
   */
  readonly readsBytes?: boolean;
  /** Build the per-migration encoder (source side). */
  createEncoder(ctx: MigrationContext): PageEncoder;
}

/**
 * A convergence controller's per-migration instance. It may declare time series (its throttle,
 * per-vCPU limits, what it measures: {@link SeriesSource}) for reports and progress displays.
 */
export interface ConvergenceInstance extends SeriesSource {
  /** Observe each sync's statistics; may add vCPU pre-run hooks and kick vCPUs. */
  onSync(stats: SyncStats): void;
  /** The migration ended (any outcome): remove every hook added. */
  onEnd(status: MigrationStatus): void;
  /** Statistics to merge into query-migrate (e.g. `cpu-throttle-percentage`). */
  stats?(): StatsContribution;
  /**
   * `migrate-set-parameters` changed parameters while the migration runs (QEMU's
   * `migrate_params_apply`): `changed` holds the validated new values of the changed keys only
   * (`MigrationContext.parameters` already holds them). React at once, e.g. auto-converge takes
   * new `cpu-throttle-*` values from its next step, dirty-limit applies a new `vcpu-dirty-limit`.
   */
  onParameters?(changed: Readonly<Record<string, unknown>>): void;
}

/** A convergence controller part (auto-converge, dirty-limit, …). */
export interface ConvergenceController {
  readonly name: string;
  /** Capability enabling it, or undefined for always. */
  readonly capability?: string;
  /** Build the per-migration instance. */
  create(ctx: MigrationContext): ConvergenceInstance;
}

/**
 * The source half of a migration section (QEMU's `SaveVMHandlers`), made per migration. On the
 * stream each chunk is a QEMU section (START / PART / END, or one FULL) with the section's own
 * idstr, instance and version, whose body is `be32 len` + the bytes returned here, then a footer.
 *
 * - An **iterative** section has `setup`: its START chunk is sent at setup, a PART chunk after
 *   each RAM iteration in which `iterate` returns bytes, and its END chunk (`complete`) at
 *   switchover with the vCPUs stopped.
 * - A **stop-and-copy** section (no `setup`) sends one FULL chunk (`complete`) at switchover.
 *
 * It may declare time series ({@link SeriesSource}) like a convergence controller.
 */
export interface SectionSaver extends SeriesSource {
  /** Section name on the stream (1–255 bytes UTF-8; not `ram`, not a machine-state key). */
  readonly idstr: string;
  /** Instance number (default 0). */
  readonly instance?: number;
  /** Section version; the destination's loader must accept it. */
  readonly version: number;
  /** START chunk body (iterative sections only). */
  setup?(): Uint8Array;
  /** PART chunk body for this iteration, or null when there is nothing to send now. */
  iterate?(): Uint8Array | null;
  /**
   * Bytes this section still has to send (QEMU's `state_pending_estimate`); added to RAM's
   * pending bytes in the switchover decision.
   */
  pendingBytes?(): number;
  /** END chunk body (iterative) or FULL chunk body (stop-and-copy), with the vCPUs stopped. */
  complete(): Uint8Array;
  /** Statistics to merge into query-migrate. */
  stats?(): StatsContribution;
  /** `migrate-set-parameters` changed parameters while the migration runs (the changed keys only). */
  onParameters?(changed: Readonly<Record<string, unknown>>): void;
  /** The migration ended (any outcome). */
  dispose?(): void;
}

/** A section part (token {@link MigrationSection}). */
export interface MigrationSection {
  readonly name: string;
  /** Capability enabling it, or undefined for always. */
  readonly capability?: string;
  /** Build the per-migration saver (source side). */
  create(ctx: MigrationContext): SectionSaver;
}

/** Which chunk of a section the destination is loading. */
export type SectionPhase = "start" | "part" | "end" | "full";

/** The destination half of a section, made per incoming migration. */
export interface SectionLoader {
  /** Apply one chunk (throw a clear error to refuse the stream; the destination then does not start). */
  load(chunk: Uint8Array, phase: SectionPhase): void;
  /** Destination-side statistics (merged into the incoming migration's `info()`). */
  stats?(): Readonly<Record<string, unknown>>;
}

/**
 * What the incoming side gives a section loader besides the machine. Post-copy uses all of it;
 * an ordinary section needs none.
 */
export interface IncomingEnv {
  /** The destination's return path on the current connection (absent on a one-way transport). */
  readonly returnPath: DestinationReturnPath | undefined;
  /** The destination's scheduler, when the machine exposes one. */
  readonly scheduler: Scheduler | undefined;
  /**
   * Load `state` (a `saveState()` object) into the machine and run the guest now, before the end
   * of the stream (post-copy's RUN). At the end of the stream the incoming side then loads no
   * device state and starts nothing. Throws when the machine refuses the state.
   */
  startGuest(state: object): void;
  /** A recovered post-copy migration runs again (state `postcopy-active`). */
  resumed(): void;
  /** The incoming data channels (`incoming({ channels })`; post-copy preempt uses the first). */
  readonly channels: readonly IncomingTransport[];
}

/** How a plugin declares a section it can load (see {@link FerryPlugin.sections}). */
export interface SectionLoaderDef {
  readonly idstr: string;
  /** Versions it accepts. */
  readonly versions: readonly number[];
  /** Make the loader for one incoming migration into `machine`. */
  create(machine: MigratableMachine, env: IncomingEnv): SectionLoader;
}

/**
 * QEMU's migration states. `pre-switchover` and `postcopy-active` are in the transition table
 * for strategies that use them (pause-before-switchover, post-copy); pre-copy goes
 * none → setup → active → device → completed.
 */
export type MigrationStatus =
  | "none"
  | "setup"
  | "active"
  | "pre-switchover"
  | "device"
  | "postcopy-active"
  | "postcopy-paused"
  | "postcopy-recover-setup"
  | "postcopy-recover"
  | "completed"
  | "failed"
  | "cancelling"
  | "cancelled";

/**
 * What the framework gives a strategy: the migration thread's mechanisms. The strategy owns the
 * policy (what to send when, when to switch over).
 */
export interface MigrationSession extends MigrationContext {
  /** The stream writer (bytes go to the transport). */
  readonly writer: StreamWriter;
  /** Per-block migration dirty bitmaps (bit set = page still to send). */
  readonly bitmaps: readonly DirtyBitmap[];
  /** Current virtual time (ns). */
  now(): number;
  /** Setup: start dirty logging, mark every page dirty (first sync), send the RAM setup section, go `active`. */
  setup(): void;
  /** Sync the dirty log into the bitmaps (emits `sync`, informs codecs and controllers); returns pending dirty pages. */
  syncDirtyLog(): number;
  /** Pending dirty pages in the bitmaps. */
  dirtyPages(): number;
  /** QEMU's `threshold_size` in bytes (0 until a bandwidth was measured). */
  thresholdBytes(): number;
  /** Open a RAM PART section. */
  beginRamPart(): void;
  /** Close it: EOS + footer. */
  endRamPart(): void;
  /**
   * Send the next dirty page after the cursor (wrapping once), clearing its bit. Returns false
   * when no dirty page is left.
   */
  sendNextDirtyPage(): boolean;
  /** True when the current 100 ms window's allowance (`max-bandwidth/10`) is used up. */
  rateExceeded(): boolean;
  /** Sleep out the window when over the allowance; every 100 ms update bandwidth and threshold. */
  rateLimit(): Promise<void>;
  /**
   * Flush and wait while the transport is backed up (call every few pages). Everything written
   * is handed to the transport, except pages of an open RAM part on a real-time transport (a
   * socket), which get full buffers: the part's end, and any wait here, flush them.
   */
  flow(): Promise<void>;
  /**
   * Switch over: state `device`, pause vCPUs, final sync, send all remaining pages ignoring the
   * rate limit, then device/CPU state and EOF, and wait until everything is delivered.
   */
  complete(): Promise<void>;
  /** Throw if the migration was cancelled or the transport failed. */
  checkpoint(): void;
  /** Send a PART chunk of every iterative plugin section that has something to send. */
  iterateSections(): void;
  /** Bytes the plugin sections still have to send (their `pendingBytes` estimates). */
  sectionPendingBytes(): number;
  /** The post-copy mechanisms (used by the post-copy strategy; see docs/postcopy.md). */
  readonly postcopy: PostcopySession;
}

/**
 * What the framework gives a post-copy strategy (QEMU's `postcopy_start` and the post-copy part
 * of the migration thread). The strategy sends its own commands through its plugin section.
 */
export interface PostcopySession {
  /** True once `migrate-start-postcopy` was asked for (`Migration.startPostcopy()`). */
  readonly requested: boolean;
  /** The migration's status now. */
  readonly status: MigrationStatus;
  /** Stop for the switch: state `device`, the vCPUs stop, the final dirty-log sync. */
  stop(): Promise<void>;
  /**
   * The package (device state and RUN) is written: flush it; from now the destination may run
   * the guest and the source never resumes. State `postcopy-active`; the downtime ends here.
   */
  started(): void;
  /** Send a still-pending page now (a page request); false when it was already sent. */
  sendPage(blockIndex: number, page: number): boolean;
  /**
   * The preempt channel (QEMU's `postcopy-preempt`) on the migration's first data channel,
   * opened at the first call. Throws a `MigrationError` when the migration has no data channel.
   */
  openPreempt(): PreemptChannel;
  /** Every page is sent: RAM END, the plugin sections' END chunks, EOF; wait for delivery. */
  complete(): Promise<void>;
  /** The outgoing transport now in use (recovery replaces it). */
  readonly transport: OutgoingTransport;
  /**
   * The connection broke during post-copy: state `postcopy-paused` (the source stays stopped)
   * until `resume` hands over a new transport. Resolves with it.
   */
  pause(error: Error): Promise<OutgoingTransport>;
  /**
   * Recovery on the new connection: state `postcopy-recover`; the stream starts over (header,
   * RAM setup, the plugin sections' START chunks).
   */
  restart(): void;
  /** Recovery done (the strategy rewrote the bitmaps): recount the pending pages, `postcopy-active`. */
  resumed(): void;
}

/**
 * How a migration's pages leave on data channels (multifd), as a {@link PageChannels} part decides
 * for one migration.
 */
export interface PageChannelPlan {
  /** Data channels to open (`multifd-channels`). */
  readonly channels: number;
  /** The `multifd-compression` method, or null for none. */
  readonly compression: MultifdCompression | null;
  /** Its level. */
  readonly level: number;
}

/**
 * A page-channels part (token {@link PageChannels}; at most one active): when active, the
 * framework opens the transport's data channels and sends every page through the multi-channel
 * page sender (`multifd/sender.ts`) instead of the main stream's codec chain.
 */
export interface PageChannels {
  readonly name: string;
  /** Capability enabling it (`multifd`), or undefined for always. */
  readonly capability?: string;
  /** The plan for one migration. */
  create(ctx: MigrationContext): PageChannelPlan;
}

/** A strategy part: exactly one drives a migration. */
export interface MigrationStrategy {
  readonly name: string;
  /** Capability selecting it, or undefined for the default (capability-free) strategy. */
  readonly capability?: string;
  /** Drive the migration to completion (`session.complete()`), or throw. */
  run(session: MigrationSession): Promise<void>;
}

/** Token of {@link MigrationStrategy} parts. */
export const MigrationStrategy: InjectionToken<MigrationStrategy> = "ferry:MigrationStrategy";
/** Token of {@link PageCodec} parts (many). */
export const PageCodec: InjectionToken<PageCodec> = "ferry:PageCodec";
/** Token of {@link ConvergenceController} parts (many). */
export const ConvergenceController: InjectionToken<ConvergenceController> =
  "ferry:ConvergenceController";
/** Token of {@link PageChannels} parts (at most one active). */
export const PageChannels: InjectionToken<PageChannels> = "ferry:PageChannels";
/** Token of {@link MigrationSection} parts (many). */
export const MigrationSection: InjectionToken<MigrationSection> = "ferry:MigrationSection";
/**
 * Token of the per-migration {@link MigrationContext}, bound in each migration's child container
 * (source side only), so part factories can resolve it.
 */
export const MigrationContextToken: InjectionToken<MigrationContext> = "ferry:MigrationContext";

/** Token of the per-migration {@link MigrationSession} (bound in each migration's child container). */
export const MigrationSessionToken: InjectionToken<MigrationSession> = "ferry:MigrationSession";
/** Token of the migrated machine's {@link Scheduler} (per migration). */
export const SchedulerToken: InjectionToken<Scheduler> = "ferry:Scheduler";
/** Token of the migrated {@link MigratableMachine} (per migration). */
export const MachineToken: InjectionToken<MigratableMachine> = "ferry:Machine";
/**
 * Token of the migration's `DirtyRateEstimator` (per migration; see `dirty-rate.ts`): one
 * estimator fed by the thread at every sync, shared by every plugin that needs the dirty rate.
 */
export const DirtyRateEstimatorToken: InjectionToken<DirtyRateEstimator> =
  "ferry:DirtyRateEstimator";
/**
 * Token of the migration's {@link StatsRegistry} (per migration): parts contribute query-migrate
 * fields through it.
 */
export const StatsRegistryToken: InjectionToken<StatsRegistry> = "ferry:StatsRegistry";
/** Token of the migration's {@link DirtyTracker} (per migration): blocks, dirty logs, bitmaps. */
export const DirtyTrackerToken: InjectionToken<DirtyTracker> = "ferry:DirtyTracker";
/**
 * Token of the {@link Logger} (per migration): the manager's `logger` option, silent by default.
 */
export const LoggerToken: InjectionToken<Logger> = "ferry:Logger";
/** Token of the migration's outgoing transport (main channel; its `returnPath` when two-way). */
export const TransportToken: InjectionToken<OutgoingTransport> = "ferry:Transport";

/** Resolve every part registered under `token` (empty when none). */
export function resolveParts<T>(container: DependencyContainer, token: InjectionToken<T>): T[] {
  return container.isRegistered(token, true) ? container.resolveAll(token) : [];
}
