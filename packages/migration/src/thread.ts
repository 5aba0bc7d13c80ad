/**
 * The migration thread: the session a strategy drives, composed of one-job modules — the
 * lifecycle (`lifecycle.ts`: checked statuses, the hand-over point, the failure outcome), the
 * page sender (`page-sender.ts`: bitmaps, sync, codec chain), the rate limiter
 * (`rate-limiter.ts`: QEMU's output-buffer flushes and 100 ms windows) and the statistics
 * (`statistics.ts`). This file sequences them: setup, iterations, switchover, the end.
 * Runs on the machine's Scheduler: it waits only with `scheduler.sleep` and transport drains.
 */
import { notifyAsyncWake, PAGE_SIZE, type Scheduler } from "@ferry/core";
import { MigrationCancelledError, MigrationError } from "./errors";
import { awaitSwitchoverAck } from "./return-path/ack";
import {
  type DeclaredSeriesSet,
  declaredSeriesOf,
  type SeriesDef,
  type SeriesValue,
} from "./declared-series";
import { createDirtyRateEstimator, type DirtyRateEstimatorFeed } from "./dirty-rate";
import type { DirtyTracker } from "./dirty-tracker";
import { type Logger, silentLogger } from "./logger";
import { createStatsRegistry, type StatsRegistryFeed } from "./stats-registry";
import {
  createLifecycle,
  failureOutcome,
  type GuestOwner,
  isTerminalStatus,
  verdictOf,
} from "./lifecycle";
import { type Observable, type ObserverFailure, ObserverHub } from "./observers";
import {
  checkContinue,
  createSwitchoverGate,
  frameworkEffects,
  PAUSE_BEFORE_SWITCHOVER,
} from "./operator";
import { MultifdSender } from "./multifd/sender";
import { PageSender } from "./page-sender";
import { createPreemptChannel, type PreemptChannel } from "./preempt-channel";
import type {
  ConvergenceInstance,
  MigratableMachine,
  MigrationSession,
  MigrationStatus,
  PageChannelPlan,
  PageCodec,
  PostcopySession,
  SectionSaver,
  StatsContribution,
  SyncStats,
} from "./plugin";
import { machineStateHandler } from "./sections/machine-state";
import { pluginSectionHandler } from "./sections/plugin-section";
import { type RamSection, ramSection } from "./sections/ram";
import type { SaveHandler } from "./sections/types";
import { BUFFER_DELAY_NS, createRateLimiter, type RateLimiter } from "./rate-limiter";
import { MigrationStatistics, type MigrationTimings, mergeContributions } from "./statistics";
import type { MigrationInfo, TimeSample } from "./stats";
import { IntegrityEncoder } from "./stream/integrity";
import { askDestination, type IntegrityParameter, integrityPlan } from "./stream/negotiate";
import { type ChunkSink, forEachGathered, type GatherSink, StreamWriter } from "./stream/writer";
import type { OutgoingTransport, SourceReturnPath } from "./transport/types";

/** The `x-page-cost-ns` debt is slept out in quanta of at least this much (ns). */
/** How long the source waits for the destination's switchover acknowledgement (transport clock). */
export const SWITCHOVER_ACK_TIMEOUT_NS = 30e9;

export const PAGE_COST_QUANTUM_NS = 1_000_000;

/** Typed events of a migration. Listeners are isolated: one that throws is reported in
 * {@link Migration.observerFailures} and changes nothing else. */
export interface MigrationEvents {
  readonly [event: string]: (...args: never[]) => void;
  /** The state changed. */
  state: (status: MigrationStatus, previous: MigrationStatus) => void;
  /** A dirty-log sync happened. */
  sync: (stats: SyncStats) => void;
  /** The migration completed (the destination has everything). */
  complete: (info: MigrationInfo) => void;
  /** The migration failed or was cancelled (the source keeps running). */
  failed: (error: Error) => void;
}

/** A running (or finished) outgoing migration. */
export interface Migration {
  /** Typed events (isolated observers: a throwing listener never changes the outcome). */
  readonly events: Observable<MigrationEvents>;
  /** Exceptions thrown by event listeners, in order (reported, otherwise ignored). */
  readonly observerFailures: readonly ObserverFailure[];
  /**
   * Who may run the guest: `source` until the end of stream is handed to the transport,
   * `handed-over` until the transport confirms delivery, then `destination`.
   */
  readonly guestOwner: GuestOwner;
  /** Current state. */
  readonly status: MigrationStatus;
  /** Why it failed, or null. */
  readonly error: Error | null;
  /** Resolves with the final info when it ends (any outcome; never rejects). */
  readonly done: Promise<MigrationInfo>;
  /**
   * Cancel; the source keeps running — unless the end of stream was already handed to the
   * transport and the destination may have started: then it ends `failed` with the source left
   * paused (see `guestOwner`). No effect once ended.
   */
  cancel(): void;
  /**
   * `migrate-set-parameters` while the migration runs (QEMU's `migrate_params_apply`): validates
   * `changes` with the manager's registry (nothing changes when refused: `MigrationConfigError`),
   * stores them (also for the next migration), updates the effective parameters and applies them
   * at once: `max-bandwidth` to the rate limiter's window, `downtime-limit` and
   * `avail-switchover-bandwidth` to the next threshold, and every active part's `onParameters`.
   */
  setParameters(changes: Readonly<Record<string, unknown>>): void;
  /** The effective parameters now (including live changes). */
  readonly parameters: Readonly<Record<string, unknown>>;
  /**
   * `migrate-continue`: leave the `pre-switchover` pause of capability `pause-before-switchover`.
   * Throws `MigrationError("Migration not in expected state: <status>")` when the migration is
   * not waiting in `state`.
   */
  continueFrom(state: MigrationStatus): void;
  /** query-migrate. */
  info(): MigrationInfo;
  /** Time series for plots. */
  readonly series: readonly TimeSample[];
  /** Time series declared by the active parts (controllers, sections), in declaration order. */
  readonly declaredSeries: readonly SeriesDef[];
  /**
   * Current values of the declared series, by key. Reading changes nothing, so sampling at any
   * moment never changes the migration.
   */
  sampleSeries(): Record<string, SeriesValue>;
  /** Precise timings. */
  timings(): MigrationTimings;
  /**
   * QEMU's `migrate-start-postcopy`: switch to post-copy at the strategy's next step. Throws a
   * `MigrationError` unless capability `postcopy-ram` is on and the migration is in pre-copy.
   */
  startPostcopy(): void;
  /**
   * QEMU's `migrate` with `resume: true`: continue a `postcopy-paused` migration over a new
   * connection. `channels` are the new connection's data channels (with `postcopy-preempt`, the
   * first becomes the new preempt channel, as QEMU re-establishes it; without, requested pages go
   * on the main channel). Throws a `MigrationError` in any other state.
   */
  resume(transport: OutgoingTransport, channels?: readonly OutgoingTransport[]): void;
}

/** Everything the thread needs, prepared by the manager. */
export interface ThreadSetup {
  readonly machine: MigratableMachine;
  readonly scheduler: Scheduler;
  readonly transport: OutgoingTransport;
  readonly capabilities: Readonly<Record<string, boolean>>;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly writeBufferBytes: number;
  /**
   * The manager's registry, for live parameter changes: `parseParameters` validates a request,
   * `setParameters` stores it. Without it, live changes are validated only by the parts.
   */
  readonly registry?: {
    parseParameters(request: Readonly<Record<string, unknown>>): Record<string, unknown>;
    setParameters(request: Readonly<Record<string, unknown>>): void;
  };
  /** Where the thread and the parts log (default silent). */
  readonly logger?: Logger;
  /** Data channels besides `transport` (post-copy preempt uses the first). */
  readonly channels?: readonly OutgoingTransport[];
}

/** The migration thread and session (one per migration). */
export class MigrationThread implements MigrationSession, Migration {
  readonly observerFailures: ObserverFailure[] = [];
  readonly events = new ObserverHub<MigrationEvents>((f) => this.observerFailures.push(f));
  readonly machine: MigratableMachine;
  readonly scheduler: Scheduler;
  readonly capabilities: Readonly<Record<string, boolean>>;
  parameters: Readonly<Record<string, unknown>>;
  readonly writer: StreamWriter;
  done: Promise<MigrationInfo> = Promise.resolve({ status: "none" });
  error: Error | null = null;
  guestOwner: GuestOwner = "source";

  /** The migration's dirty-rate estimator (fed at every sync, before the controllers). */
  readonly dirtyRate: DirtyRateEstimatorFeed = createDirtyRateEstimator();
  /** Where parts contribute query-migrate fields (merged after the built-in parts'). */
  readonly statsRegistry: StatsRegistryFeed = createStatsRegistry();
  /** The migration's dirty tracking, read-only (`DirtyTrackerToken`). */
  readonly dirtyTracker: DirtyTracker;
  /** The migration's logger (`LoggerToken`). */
  readonly logger: Logger;
  private readonly lifecycle = createLifecycle();
  private transport: OutgoingTransport;
  private channels: readonly OutgoingTransport[];
  private preemptChannel: PreemptChannel | null = null;
  /** Bytes written on preempt channels of connections before a post-copy recovery. */
  private preemptBytesBefore = 0;
  private readonly sender: PageSender;
  private postcopyAsked = false;
  private resumeWith: ((t: OutgoingTransport) => void) | null = null;
  private readonly limiter: RateLimiter;
  private readonly stats: MigrationStatistics;
  private controllers: ConvergenceInstance[] = [];
  /** The RAM section (first of {@link MigrationThread.sections}). */
  private readonly ram: RamSection;
  /** Every section in stream order: RAM, the plugin sections, the machine state. */
  private sections: SaveHandler[];
  private cancelRequested = false;
  private pausedByUs = false;
  private declared: DeclaredSeriesSet = declaredSeriesOf([]);
  private readonly gate = createSwitchoverGate();
  private readonly registry: ThreadSetup["registry"];
  private channelPlan: PageChannelPlan | null = null;
  private multifd: MultifdSender | null = null;
  /** Where the writer's chunks go: the transport, or the integrity framing in front of it. */
  private out: ChunkSink;
  /** Where the writer's gathered flushes go (the transport of the moment, see `gatherTo`). */
  private readonly gatherOut: GatherSink;
  /** The integrity framing, when the stream is framed (decided before the header). */
  private framing: IntegrityEncoder | null = null;
  /**
   * Inside a RAM part or the switchover's sections: pages are streaming and the part's end
   * flushes, so {@link MigrationThread.flow} need not hand a real-time transport partial buffers.
   */
  private streamingPages = false;

  constructor(setup: ThreadSetup) {
    this.registry = setup.registry;
    this.machine = setup.machine;
    this.scheduler = setup.scheduler;
    this.transport = setup.transport;
    this.channels = setup.channels ?? [];
    this.capabilities = setup.capabilities;
    this.parameters = setup.parameters;
    this.logger = setup.logger ?? silentLogger;
    // A transport that can keep the writer's full buffers takes them (no copy per chunk). The
    // transport is looked up at each chunk: a post-copy recovery replaces it.
    this.out = (chunk, accounted) => {
      const t = this.transport;
      if (t.writeOwned !== undefined) this.writer.replaceBuffer(t.writeOwned(chunk, accounted));
      else t.write(chunk, accounted);
    };
    this.writer = new StreamWriter(
      (chunk, accounted) => this.out(chunk, accounted),
      setup.writeBufferBytes,
    );
    this.gatherOut = (own, spans, accounted) => {
      const t = this.transport;
      if (t.writeGather !== undefined) t.writeGather(own, spans, accounted);
      else forEachGathered(own, spans, (src, off, len) => t.write(src.subarray(off, off + len)));
    };
    const p = setup.parameters;
    const now = setup.scheduler.now();
    this.limiter = createRateLimiter(
      {
        maxBandwidth: p["max-bandwidth"] as number,
        flushPages: (p["x-flush-pages"] as number | undefined) ?? undefined,
      },
      now,
    );
    this.sender = new PageSender(
      setup.machine.memory.ramRegions.filter((r) => !r.readonly),
      this.writer,
      this.limiter,
      {
        compact: setup.transport.compact === true,
        pageCostNs: (p["x-page-cost-ns"] as number | undefined) ?? 0,
      },
    );
    const sender = this.sender;
    this.dirtyTracker = {
      blocks: sender.blocks,
      logs: sender.blocks.map((b) => b.dirty),
      bitmaps: sender.bitmaps,
      pendingPages: () => sender.pending,
    };
    this.ram = ramSection(this.sender, {
      flow: () => this.flow(),
      payAllCost: () => this.payCost(true),
      drainChannels: async () => {
        if (this.multifd !== null) await this.multifd.finish();
      },
    });
    this.sections = [this.ram, machineStateHandler(setup.machine, () => this.sectionNames())];
    this.stats = new MigrationStatistics(now, this.sender.totalBytes, {
      downtimeLimitMs: p["downtime-limit"] as number,
      availSwitchoverBw: p["avail-switchover-bandwidth"] as number,
    });
  }

  get blocks(): MigrationSession["blocks"] {
    return this.sender.blocks;
  }

  get bitmaps(): MigrationSession["bitmaps"] {
    return this.sender.bitmaps;
  }

  get series(): readonly TimeSample[] {
    return this.stats.series;
  }

  /** The idstrs of every section but the machine state's. */
  private sectionNames(): string[] {
    return this.sections.slice(0, -1).map((s) => s.idstr);
  }

  /** Send pages on data channels (multifd) as `plan` says; called before the migration starts. */
  useChannels(plan: PageChannelPlan): void {
    this.channelPlan = plan;
  }

  /** Open the data channels and route every page through the multi-channel page sender. */
  private async openChannels(plan: PageChannelPlan): Promise<void> {
    const t = this.transport;
    if (t.openChannels === undefined) {
      throw new MigrationError(
        `capability "multifd" needs a transport with data channels, and ${this.transportName} has none (migrate over link, tcp or unix)`,
      );
    }
    const channels = await t.openChannels(plan.channels);
    this.checkpoint();
    // A deterministic migration id for the handshakes: "ferry-multifd" and the start time.
    const uuid = new Uint8Array(16);
    uuid.set(new TextEncoder().encode("ferry-mfd"));
    new DataView(uuid.buffer).setFloat64(8, this.now());
    this.multifd = new MultifdSender({
      channels,
      scheduler: this.scheduler,
      blocks: this.sender.blocks,
      compact: t.compact === true,
      pageCostNs: (this.parameters["x-page-cost-ns"] as number | undefined) ?? 0,
      compression: plan.compression,
      level: plan.level,
      uuid,
      writer: this.writer,
      onBytes: (n) => this.limiter.account(n),
      onError: (e) => t.abort(e),
      // worker threads (real time) sort the pages into zero and normal: count them as they do
      onPages: (zero, normal) => {
        this.sender.duplicate += zero;
        this.sender.normal += normal;
      },
    });
    this.sender.channels = this.multifd;
    // real time: the channels' worker threads start during setup (QEMU creates its threads there)
    await this.multifd.started();
    this.checkpoint();
  }

  /** Bytes sent so far: the main stream plus the data channels (QEMU's transferred). */
  private transferred(): number {
    return (
      this.writer.written +
      (this.multifd?.bytes ?? 0) +
      this.preemptBytesBefore +
      (this.preemptChannel?.written ?? 0)
    );
  }

  /** Install the active codecs (ordered), controllers and plugin sections. */
  attach(
    codecs: readonly PageCodec[],
    controllers: readonly ConvergenceInstance[],
    sections: readonly SectionSaver[] = [],
  ): void {
    this.sender.attach(codecs, this);
    this.controllers = [...controllers];
    const names = new Set<string>();
    for (const sec of sections) {
      const key = `${sec.idstr}/${sec.instance ?? 0}`;
      if (sec.idstr === "ram" || sec.idstr.length === 0 || names.has(key)) {
        throw new MigrationError(
          `section "${sec.idstr}" instance ${sec.instance ?? 0}: the idstr is reserved, empty or used twice`,
        );
      }
      names.add(key);
    }
    const all = this.sections;
    this.sections = [all[0], ...sections.map(pluginSectionHandler), all[all.length - 1]];
    this.declared = declaredSeriesOf([...this.controllers, ...sections]);
  }

  get declaredSeries(): readonly SeriesDef[] {
    return this.declared.defs;
  }

  sampleSeries(): Record<string, SeriesValue> {
    return this.declared.sample();
  }

  iterateSections(): void {
    for (const sec of this.sections) sec.iterate?.(this.writer);
  }

  sectionPendingBytes(): number {
    let n = 0;
    for (const sec of this.sections) if (sec !== this.ram) n += sec.pendingBytes?.() ?? 0;
    return n;
  }

  now(): number {
    return this.scheduler.now();
  }

  /** Current status (see `MIGRATION_TRANSITIONS`). */
  get status(): MigrationStatus {
    return this.lifecycle.status;
  }

  /** Move to `next` (checked against the transition table) and emit `state`. */
  setStatus(next: MigrationStatus): void {
    const prev = this.lifecycle.transition(next);
    if (prev !== next) {
      this.logger.debug("migration status", { status: next, previous: prev, t: this.now() });
      this.events.emit("state", next, prev);
    }
  }

  cancel(): void {
    if (isTerminalStatus(this.status) || this.cancelRequested) return;
    if (this.guestOwner === "destination") return;
    // Post-copy: the destination runs the guest and neither side has all of it: no way back.
    if (this.status.startsWith("postcopy-")) return;
    this.cancelRequested = true;
    if (this.status !== "none") this.setStatus("cancelling");
    this.transport.abort(new MigrationCancelledError());
    // QEMU's migrate_fd_cancel kicks a migration paused in pre-switchover out of its pause.
    this.releaseGate();
  }

  setParameters(changes: Readonly<Record<string, unknown>>): void {
    const parsed = this.registry ? this.registry.parseParameters(changes) : { ...changes };
    this.registry?.setParameters(parsed);
    if (isTerminalStatus(this.status)) return;
    this.parameters = Object.freeze({ ...this.parameters, ...parsed });
    const fx = frameworkEffects(parsed);
    if (fx.maxBandwidth !== undefined) this.limiter.setMaxBandwidth(fx.maxBandwidth);
    this.stats.setLimits(fx);
    this.sender.notifyParameters(parsed);
    for (const c of this.controllers) c.onParameters?.(parsed);
    for (const sec of this.sections) sec.onParameters?.(parsed);
  }

  continueFrom(state: MigrationStatus): void {
    checkContinue(this.status, state, this.gate.waiting);
    this.releaseGate();
  }

  /** Wake the thread waiting in pre-switchover (before the scheduler's next event). */
  private releaseGate(): void {
    const waiting = this.gate.waiting;
    this.gate.release();
    if (waiting) notifyAsyncWake(this.scheduler);
  }

  checkpoint(): void {
    if (this.cancelRequested) throw new MigrationCancelledError();
    const err = this.transport.error;
    if (err !== null) throw err;
  }

  // ---- setup and sync ----

  setup(): void {
    this.sender.start();
    const now = this.now();
    this.stats.begin(now);
    this.limiter.resetWindow(now);
    this.syncDirtyLog();
    for (const sec of this.sections) sec.setup?.(this.writer);
    this.flushOutput();
    this.stats.setupEndNs = this.now();
    // A cancel during setup (e.g. from a `state` or `sync` listener) ends it here.
    this.checkpoint();
    this.setStatus("active");
  }

  syncDirtyLog(): number {
    const counts = this.sender.sync();
    this.multifd?.markSync();
    const stats: SyncStats = this.stats.onSync(this.now(), counts, this.transferred());
    this.sender.notifySync(stats);
    this.dirtyRate.onSync(stats);
    for (const c of this.controllers) c.onSync(stats);
    this.events.emit("sync", stats);
    return counts.pending;
  }

  dirtyPages(): number {
    return this.sender.pending;
  }

  thresholdBytes(): number {
    return this.stats.thresholdBytes;
  }

  // ---- sending ----

  beginRamPart(): void {
    this.ram.beginPart(this.writer);
    this.streamingPages = true;
  }

  endRamPart(): void {
    this.streamingPages = false;
    this.ram.endPart(this.writer);
    this.flushOutput();
  }

  sendNextDirtyPage(): boolean {
    return this.sender.sendNext();
  }

  /** Flush the writer to the transport and the modelled output buffer (everything is counted). */
  private flushOutput(): void {
    this.writer.flush();
    this.limiter.flush(this.transferred());
    this.sender.resync();
  }

  // ---- rate limiting and bandwidth ----

  rateExceeded(): boolean {
    if (this.status === "device") return false;
    return this.limiter.exceeded();
  }

  async rateLimit(): Promise<void> {
    this.checkpoint();
    if (this.rateExceeded()) {
      const wait = this.limiter.windowStartNs + BUFFER_DELAY_NS - this.now();
      if (wait > 0) await this.scheduler.sleep(wait);
      this.checkpoint();
    }
    this.stats.updateCounters(
      this.now(),
      this.limiter,
      this.sender.duplicate + this.sender.normal,
      this.sender.pending,
    );
  }

  async flow(): Promise<void> {
    this.checkpoint();
    // Hand everything written so far to the transport: on the virtual clock its occupancy at
    // every wait then does not depend on how records are laid out in the buffer (compact and full
    // paths time alike). A real-time transport (a socket) streaming pages gets full buffers
    // instead (the end of the part flushes, and so does any wait below): a socket write costs CPU.
    if (this.transport.realTime !== true || !this.streamingPages) this.writer.flush();
    await this.payCost();
    if (this.multifd !== null) {
      // every multifd channel busy: wait for the first to be free (QEMU's channels_ready)
      this.writer.flush();
      await this.multifd.ready();
      this.checkpoint();
    }
    // (The transport is read again after the waits: a post-copy recovery replaces it.)
    if (this.transport.backedUp) {
      this.writer.flush();
      await this.transport.drain();
    }
    this.checkpoint();
  }

  /**
   * Sleep out the `x-page-cost-ns` cost of the pages sent since the last payment, once it reaches
   * {@link PAGE_COST_QUANTUM_NS} (or always, with `all`): fewer, longer sleeps keep a 256 GiB
   * bulk pass cheap in wall time, at the price of running up to one quantum ahead.
   */
  private async payCost(all = false): Promise<void> {
    const sender = this.sender;
    if (!all && sender.costDebtNs < PAGE_COST_QUANTUM_NS) return;
    const debt = Math.floor(sender.costDebtNs);
    if (debt <= 0) return;
    sender.costDebtNs -= debt;
    // (A real-time transport gets what the writer holds before the thread sleeps.)
    this.writer.flush();
    await this.scheduler.sleep(debt);
    this.checkpoint();
  }

  // ---- switchover ----

  async complete(): Promise<void> {
    this.checkpoint();
    const pauseFirst = this.capabilities[PAUSE_BEFORE_SWITCHOVER] === true;
    if (!pauseFirst) this.setStatus("device");
    const stats = this.stats;
    stats.stopNs = this.now();
    stats.stopBytes = this.transferred();
    this.pausedByUs = true;
    await this.machine.pause();
    this.checkpoint();
    if (pauseFirst) {
      // QEMU's migration_maybe_pause: vCPUs stopped (downtime runs), wait for migrate-continue.
      this.setStatus("pre-switchover");
      await this.gate.wait();
      this.checkpoint();
      this.setStatus("device");
    }
    this.syncDirtyLog();
    const w = this.writer;
    this.streamingPages = true;
    for (const sec of this.sections) {
      const pending = sec.complete(w);
      if (pending !== undefined) await pending;
    }
    this.streamingPages = false;
    w.eof();
    this.flushOutput();
    this.framing?.finish();
    // From here the destination may load the whole stream and run the guest.
    this.guestOwner = "handed-over";
    await this.transport.end();
    this.checkpoint();
    stats.downtimeNs = this.now() - stats.stopNs;
    if (this.capabilities["switchover-ack"] === true) {
      // Completed only once the destination accounts for every byte sent (count and digest).
      await awaitSwitchoverAck(this.returnPath(), this.transportName, SWITCHOVER_ACK_TIMEOUT_NS);
      this.checkpoint();
    }
    this.guestOwner = "destination";
    stats.sample("sync", this.now(), this.sender.pending);
  }

  /** True when the stream is integrity-framed (parameter `x-integrity`, decided at setup). */
  get integrity(): boolean {
    return this.framing !== null;
  }

  /**
   * Decide on integrity framing before the header and put it between writer and transport. Waits
   * only when it must ask the destination (`x-integrity: true` on a two-way transport).
   */
  private async startIntegrity(): Promise<void> {
    const param = (this.parameters["x-integrity"] as IntegrityParameter | undefined) ?? "auto";
    const plan = integrityPlan(param, this.transport);
    if (plan === "plain") return;
    if (plan === "ask") {
      const on = await askDestination(this.transport, this.scheduler, SWITCHOVER_ACK_TIMEOUT_NS);
      this.checkpoint();
      if (!on) return;
    }
    const t = this.transport;
    this.framing = new IntegrityEncoder((chunk, accounted) => t.write(chunk, accounted));
    this.out = this.framing.write;
  }

  private get transportName(): string {
    return this.transport.name ?? "transport";
  }

  /** The transport's return path; refuses a one-way transport for capability `cap`. */
  private returnPath(cap = "switchover-ack"): SourceReturnPath {
    const rp = this.transport.returnPath;
    if (rp === undefined) {
      throw new MigrationError(
        `capability "${cap}" needs a return path, and ${this.transportName} is one-way (migrate over link, tcp or unix, or turn "${cap}" off)`,
      );
    }
    return rp;
  }

  // ---- post-copy ----

  startPostcopy(): void {
    if (this.capabilities["postcopy-ram"] !== true) {
      throw new MigrationError(
        'migrate-start-postcopy: enable capability "postcopy-ram" before the migration starts',
      );
    }
    const s = this.status;
    if (s !== "none" && s !== "setup" && s !== "active") {
      throw new MigrationError(`migrate-start-postcopy: the migration is ${s}, not in pre-copy`);
    }
    this.postcopyAsked = true;
  }

  resume(transport: OutgoingTransport, channels: readonly OutgoingTransport[] = []): void {
    if (this.status !== "postcopy-paused" || this.resumeWith === null) {
      throw new MigrationError(
        `migrate resume: the migration is ${this.status}; only a postcopy-paused migration can resume`,
      );
    }
    const go = this.resumeWith;
    this.resumeWith = null;
    this.channels = channels;
    go(transport);
  }

  /** The post-copy mechanisms (see {@link PostcopySession}). */
  readonly postcopy: PostcopySession = ((t: MigrationThread): PostcopySession => ({
    get requested(): boolean {
      return t.postcopyAsked;
    },
    get status(): MigrationStatus {
      return t.status;
    },
    stop: async () => {
      this.checkpoint();
      this.setStatus("device");
      this.stats.stopNs = this.now();
      this.stats.stopBytes = this.writer.written;
      this.pausedByUs = true;
      await this.machine.pause();
      this.checkpoint();
      this.syncDirtyLog();
      this.sender.zeroOrRawOnly();
    },
    started: () => {
      this.flushOutput();
      // The destination may run the guest once the package arrives: the source never resumes.
      this.guestOwner = "handed-over";
      this.stats.downtimeNs = this.now() - (this.stats.stopNs ?? this.now());
      this.setStatus("postcopy-active");
    },
    sendPage: (blockIndex, page) => this.sender.sendPending(blockIndex, page),
    openPreempt: () => {
      const ch = this.channels[0];
      const open = this.preemptChannel;
      if (open !== null && open.transport === ch) return open;
      if (ch === undefined) {
        throw new MigrationError(
          'capability "postcopy-preempt" needs a data channel for the preempt channel (none was given)',
        );
      }
      // After a recovery: a new preempt channel on the new connection's first data channel.
      this.preemptBytesBefore += open?.written ?? 0;
      this.preemptChannel = createPreemptChannel(ch, this.sender.blocks, (w, b, p) =>
        this.sender.sendPendingVia(w, b, p),
      );
      return this.preemptChannel;
    },
    complete: async () => {
      const w = this.writer;
      // RAM's END (nothing should be left; whatever is goes now), then every plugin section's
      // END or FULL chunk; the machine state (the last section) already went in the package.
      const sections = this.sections;
      for (let i = 0; i < sections.length - 1; i++) {
        const pending = sections[i].complete(w);
        if (pending !== undefined) await pending;
      }
      w.eof();
      this.flushOutput();
      await this.transport.end();
      this.checkpoint();
      if (this.capabilities["switchover-ack"] === true) {
        await awaitSwitchoverAck(this.returnPath(), this.transportName, SWITCHOVER_ACK_TIMEOUT_NS);
        this.checkpoint();
      }
      this.guestOwner = "destination";
      this.stats.sample("sync", this.now(), this.sender.pending);
    },
    get transport(): OutgoingTransport {
      return t.transport;
    },
    restart: () => {
      this.setStatus("postcopy-recover");
      this.restartStream();
    },
    resumed: () => {
      this.sender.recount();
      this.setStatus("postcopy-active");
    },
    pause: (error) => {
      this.error = error;
      // The preempt channel belongs to the broken connection: close it too (QEMU shuts both).
      const pre = this.preemptChannel?.transport;
      if (pre !== undefined && pre.error === null) pre.abort(error);
      this.setStatus("postcopy-paused");
      return new Promise<OutgoingTransport>((resolve) => {
        this.resumeWith = (next) => {
          this.error = null;
          this.transport = next;
          this.writer.reset();
          resolve(next);
        };
      });
    },
  }))(this);

  /**
   * After a recovery: the new connection's stream starts over (header, RAM setup, the plugin
   * sections' START chunks); the RAM bitmaps say what is still to send.
   */
  private restartStream(): void {
    this.writer.header();
    const sections = this.sections;
    for (let i = 0; i < sections.length - 1; i++) sections[i].setup?.(this.writer);
    this.flushOutput();
  }

  // ---- lifecycle ----

  /** Run `body` (the strategy) as the migration thread; cleans up on every outcome. */
  async runThread(body: () => Promise<void>): Promise<MigrationInfo> {
    // Start from a scheduler event, so the caller can subscribe to events first and every
    // continuation of this async thread runs inside the scheduler's deterministic order.
    await this.scheduler.sleep(0);
    try {
      this.checkpoint();
      for (const cap of ["return-path", "switchover-ack"]) {
        if (this.capabilities[cap] === true) this.returnPath(cap);
      }
      this.setStatus("setup");
      this.checkpoint();
      const integrity =
        (this.parameters["x-integrity"] as IntegrityParameter | undefined) ?? "auto";
      // `false` is QEMU's stream: no framing, and no digest of it on the source either (the
      // switchover acknowledgement is then checked by byte count; TCP and TLS check the bytes).
      if (integrity === false) this.transport.returnPath?.countOnly?.();
      if (integrityPlan(integrity, this.transport) !== "plain") await this.startIntegrity();
      // Unframed to a transport that gathers: raw pages go to it by reference (no copy).
      if (this.framing === null && this.transport.writeGather !== undefined) {
        this.writer.gatherTo(this.gatherOut, this.writer.buf.length / PAGE_SIZE);
      }
      this.writer.header();
      if (this.channelPlan !== null) await this.openChannels(this.channelPlan);
      await body();
      if (this.stats.downtimeNs === null) {
        throw new MigrationError("the migration strategy returned without completing");
      }
      this.stats.endNs = this.now();
      this.sender.stop();
      this.setStatus("completed");
      this.finish();
      const info = this.info();
      this.events.emit("complete", info);
      return info;
    } catch (e) {
      const err = e instanceof Error ? e : new MigrationError(String(e));
      const cancelled = this.cancelRequested;
      const outcome = failureOutcome(
        cancelled ? new MigrationCancelledError() : err,
        cancelled,
        this.guestOwner,
        verdictOf(this.transport.error, this.transport.peer),
      );
      this.error = outcome.error;
      if (this.transport.error === null) this.transport.abort(this.error);
      this.sender.stop();
      if (this.pausedByUs && outcome.resumeSource) {
        this.pausedByUs = false;
        if (this.machine.state === undefined || this.machine.state === "paused") {
          this.machine.resume();
        }
      }
      this.stats.endNs = this.now();
      if (outcome.status === "cancelled" && this.status !== "none") this.setStatus("cancelling");
      this.setStatus(outcome.status);
      this.finish();
      this.events.emit("failed", this.error);
      return this.info();
    }
  }

  private finish(): void {
    // multifd's worker threads end with the migration, whatever its outcome
    void this.multifd?.close();
    for (const c of this.controllers) {
      try {
        c.onEnd(this.status);
      } catch {
        // a controller failing to clean up must not hide the outcome
      }
    }
    for (const sec of this.sections) {
      try {
        sec.dispose?.();
      } catch {
        // cleanup never changes the outcome
      }
    }
  }

  timings(): MigrationTimings {
    return this.stats.timings(this.now());
  }

  info(): MigrationInfo {
    const parts = [];
    const sender = this.sender;
    sender.codecStats((c) => parts.push(c));
    for (const c of this.controllers) parts.push(c.stats?.());
    for (const sec of this.sections) if (sec !== this.ram) parts.push(sec.stats?.());
    this.statsRegistry.collect((c) => parts.push(c));
    const multifd = this.multifd;
    if (multifd !== null) parts.push(multifdStats(multifd));
    const info = this.stats.info({
      status: this.status,
      nowNs: this.now(),
      written: this.transferred(),
      pendingPages: sender.pending,
      duplicate: sender.duplicate,
      normal: sender.normal,
      error: this.error,
      extra: mergeContributions(parts),
    });
    if (multifd === null || info.ram === undefined) return info;
    return { ...info, ram: { ...info.ram, "multifd-bytes": multifd.bytes } };
  }
}

/** ferry's `x-multifd` section: per-channel bytes and the compression ratio. */
function multifdStats(m: MultifdSender): StatsContribution {
  const section: Record<string, number> = {
    channels: m.channelStats().length,
    syncs: m.syncs,
    "compression-ratio":
      m.compressedDataBytes === 0
        ? 1
        : Math.round((m.rawDataBytes / m.compressedDataBytes) * 1000) / 1000,
  };
  for (const [i, c] of m.channelStats().entries()) {
    section[`channel-${i}-bytes`] = c.bytes;
    section[`channel-${i}-busy-ms`] = Math.round(c.busyNs / 1e6);
  }
  return { "x-multifd": section };
}
