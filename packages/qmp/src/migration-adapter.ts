/**
 * {@link MigrationControl} over today's `@ferry/migration` public API: a migration manager
 * (capability & parameter registry, `migrate`), `incoming`, the socket and file transports and
 * `formatInfoMigrate`. The only place the monitor touches the framework.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Scheduler } from "@ferry/core";
import {
  createMigrationManager,
  type FerryPlugin,
  fileSink,
  fileSource,
  incoming as startIncoming,
  type IncomingMigration,
  type IncomingResult,
  type IncomingTransport,
  type MigratableMachine,
  type GatherSpans,
  type Migration,
  type MigrationManager,
  type OutgoingTransport,
  runMachine,
  createChannelAcceptor,
  isChannelSocket,
  socketChannelSource,
  withSocketChannels,
} from "@ferry/migration";
import { EventEmitter } from "eventemitter3";
import type { MigrationAddress, MigrationControl, MigrationControlEvents } from "./control";
import { QmpError } from "./errors";
import {
  acceptIncomingChannel,
  connectSecured,
  incomingMain,
  openOutgoingChannel,
  secureAccepted,
} from "./net-channel";
import { netParametersOf, netParametersPlugin } from "./net-parameters";
import { PAUSED_BY_USER, type PostcopyControl } from "./postcopy-commands";
import { openPreemptChannel, peekChannelKind } from "./preempt-socket";
import type { JsonValue } from "./protocol";
import type { ObjectStore } from "./tls/objects";

/** Options of {@link createFerryMigrationControl}. */
export interface FerryMigrationControlOptions {
  /** The machine (source, or a created-but-not-started destination). */
  readonly machine: MigratableMachine & { readonly scheduler: Scheduler; readonly state: string };
  /** Plugins to load (the same set on both sides). */
  readonly plugins: readonly FerryPlugin[];
  /** This process waits for a migration (`--incoming`): `defer` waits for `migrate-incoming`. */
  readonly incoming?: "defer" | MigrationAddress;
  /** The initial `x-peer-timeout`: a peer silent for this long fails the migration (ms, default 30 000). */
  readonly peerTimeoutMs?: number;
  /** The process's objects (`--object`, `object-add`): TLS credentials and authz lists. */
  readonly objects?: ObjectStore;
  /** Called when an incoming migration ends (the CLI exits on failure, like QEMU). */
  readonly onIncomingEnd?: (result: IncomingResult, exitOnError: boolean) => void;
}

/** A MigrationControl with the extra views the VM needs. */
export interface FerryMigrationControl extends MigrationControl {
  /** The manager (for compose-API users). */
  readonly manager: MigrationManager;
  /** The outgoing migration in progress or last finished, if any. */
  readonly outgoing: Migration | null;
  /** Whether the destination starts the guest after loading (QEMU's autostart; `stop` clears it). */
  autostart: boolean;
  /** Post-copy's commands (`migrate-start-postcopy`, `migrate-recover`, `migrate` resume). */
  readonly postcopy: PostcopyControl;
}

/** The migration thread yields the event loop at least this often on the realtime scheduler (ms). */
export const YIELD_AFTER_MS = 2;

/**
 * The stream writer's buffer on a socket migration (bytes): full buffers go to the socket whole
 * (no copy), and fewer, larger writes cost the kernel less per byte than the 256 KiB default.
 */
export const SOCKET_WRITE_BUFFER_BYTES = 1 << 20;

/** Parameters whose values are a string or a boolean (`x-integrity`: `"auto"`, true, false). */
const STRING_OR_BOOLEAN: ReadonlySet<string> = new Set(["x-integrity"]);

const ACTIVE = new Set(["setup", "active", "device", "cancelling", "pre-switchover"]);

const describe = (a: MigrationAddress): string =>
  a.transport === "file"
    ? `file:${a.filename}`
    : a.type === "unix"
      ? `unix:${a.path}`
      : `${a.host}:${a.port}`;

/** Build the control. Call `incoming(...)` yourself for a `--incoming` address. */
export function createFerryMigrationControl(
  options: FerryMigrationControlOptions,
): FerryMigrationControl {
  const { machine, plugins } = options;
  // The `net` parameter set (tls-creds, tls-hostname, tls-authz, x-peer-timeout) configures the
  // socket channels (net-channel.ts); it is read when a connection is made.
  const manager = createMigrationManager({ plugins: [...plugins, netParametersPlugin()] });
  if (options.peerTimeoutMs !== undefined) {
    manager.setParameters({ "x-peer-timeout": options.peerTimeoutMs });
  }
  const net = () => netParametersOf(manager.queryParameters());
  const events = new EventEmitter<MigrationControlEvents>();
  let eventsCap = false;
  let outgoing: Migration | null = null;
  /** Status before the thread exists (connecting) or after a failure to start. */
  let preStatus: "none" | "setup" | "failed" | "cancelled" = "none";
  let preError = "";
  let cancelRequested = false;
  let streamHandedOver = false;
  let heldPaused = false;
  let incomingStatus: "none" | "setup" | "active" | "completed" | "failed" = "none";
  let incomingError = "";
  let incomingStarted = false;
  let listener: Server | null = null;
  /** The incoming migration (post-copy: its own status, `recover`). */
  let inc: IncomingMigration | null = null;
  let recovering = false;
  /** `migrate-start-postcopy` before the migration thread existed (still connecting). */
  let postcopyAsked = false;
  /** The outgoing migration's current connection (`migrate-pause` shuts it down). */
  let outTransport: OutgoingTransport | null = null;
  /** The incoming migration's current connections (`migrate-pause` shuts them down). */
  let inSockets: Socket[] = [];
  /** The incoming status `query-migrate` shows: post-copy's from the incoming migration itself. */
  const incomingView = (): string =>
    incomingStatus === "active" && inc !== null && inc.status.startsWith("postcopy")
      ? inc.status
      : incomingStatus;
  const expectsIncoming: MigrationControl["expectsIncoming"] =
    options.incoming === undefined ? "no" : options.incoming === "defer" ? "defer" : "listening";

  const setPre = (s: typeof preStatus): void => {
    preStatus = s;
    events.emit("status", s);
  };
  const outgoingStatus = (): string => (outgoing !== null ? outgoing.status : preStatus);
  const active = (): boolean => ACTIVE.has(outgoingStatus());

  /** The machine the thread drives: refuses to resume once the whole stream left (ack may be lost). */
  const guarded: MigratableMachine = {
    memory: machine.memory,
    vcpus: machine.vcpus,
    pause: () => machine.pause(),
    resume: () => {
      if (streamHandedOver) {
        heldPaused = true;
        return;
      }
      machine.resume();
    },
    get state() {
      return machine.state;
    },
    saveState: () => machine.saveState(),
    loadState: (s) => machine.loadState(s),
  };

  // On the realtime scheduler the migration thread only leaves the event loop when the socket
  // backs up or the rate limit sleeps; a fast peer and cheap pages (zero pages) would then keep
  // the monitor waiting for a whole pass. Report backpressure once the thread has held the loop
  // for YIELD_AFTER_MS, and let `drain` yield one macrotask: the monitor is never starved.
  const realtime = machine.scheduler.kind === "realtime";
  let lastYield = performance.now();
  let yieldMarked = false;
  const guardTransport = (t: OutgoingTransport): OutgoingTransport => ({
    get error() {
      return t.error;
    },
    get backedUp() {
      if (t.backedUp) return true;
      if (!realtime || performance.now() - lastYield <= YIELD_AFTER_MS) return false;
      // Any wait of the thread yields too (post-copy preempt polls the requests with short
      // sleeps while the main channel is backed up): the next macrotask counts as the yield.
      if (!yieldMarked) {
        yieldMarked = true;
        setImmediate(() => {
          yieldMarked = false;
          lastYield = performance.now();
        });
      }
      return true;
    },
    // Post-copy's page requests and recovery handshake travel on the socket's return path.
    ...(t.returnPath !== undefined ? { returnPath: t.returnPath } : {}),
    ...(t.name !== undefined ? { name: t.name } : {}),
    ...(t.realTime !== undefined ? { realTime: t.realTime } : {}),
    write: (chunk, accounted) => t.write(chunk, accounted),
    ...(t.writeOwned !== undefined
      ? { writeOwned: (chunk: Uint8Array, accounted?: number) => t.writeOwned!(chunk, accounted) }
      : {}),
    ...(t.writeGather !== undefined
      ? {
          writeGather: (own: Uint8Array, spans: GatherSpans, accounted?: number) =>
            t.writeGather!(own, spans, accounted),
        }
      : {}),
    drain: async () => {
      if (t.backedUp) await t.drain();
      else if (realtime) await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    },
    end: () => {
      // Every byte, the device state and EOF are now with the peer: from here the destination
      // may start the guest, so the source must not resume unless told the destination did not.
      streamHandedOver = true;
      return t.end();
    },
    abort: (reason) => t.abort(reason),
    ...(t.openChannels !== undefined
      ? { openChannels: (count: number) => t.openChannels!(count) }
      : {}),
  });

  const connect = (to: MigrationAddress): Promise<OutgoingTransport> => {
    if (to.transport === "file") {
      if (to.offset !== 0) {
        return Promise.reject(new Error(`file migration at offset ${to.offset} is not supported`));
      }
      return Promise.resolve().then(() => fileSink(to.filename));
    }
    // multifd: the data channels are more connections to the same address, each secured with
    // the same tls-creds / tls-hostname as the main one (QEMU's multifd over TLS)
    const multifd = manager.capabilities().multifd === true;
    const main = openOutgoingChannel(to, net(), options.objects);
    return multifd
      ? main.then((t) => withSocketChannels(t, () => connectSecured(to, net(), options.objects)))
      : main;
  };

  /** Capability `postcopy-preempt` (with `postcopy-ram`) is on. */
  const preemptOn = (): boolean => {
    const caps = manager.capabilities();
    return caps["postcopy-preempt"] === true && caps["postcopy-ram"] === true;
  };

  /**
   * The main connection and, with `postcopy-preempt`, the preempt channel: a second connection
   * to the same address (QEMU's), opened at the start and again with every recovery.
   */
  const connectAll = async (
    to: MigrationAddress,
  ): Promise<{ main: OutgoingTransport; channels: OutgoingTransport[] }> => {
    const wantPreempt = preemptOn() && to.transport === "socket";
    if (wantPreempt && manager.capabilities().multifd === true) {
      throw new Error(
        'capabilities "multifd" and "postcopy-preempt" together between processes are not supported',
      );
    }
    const main = await connect(to);
    if (!wantPreempt) return { main, channels: [] };
    try {
      return { main, channels: [await openPreemptChannel(to, net(), options.objects)] };
    } catch (e) {
      main.abort(e as Error);
      throw e;
    }
  };

  /** A migration's data channels it did not end itself (unused preempt channel): close them. */
  const closeChannels = (channels: readonly OutgoingTransport[]): void => {
    for (const c of channels) if (c.error === null) c.abort(new Error("migration ended"));
  };

  const control: FerryMigrationControl = {
    manager,
    events,
    expectsIncoming,
    autostart: true,
    get outgoing() {
      return outgoing;
    },
    get handedOver() {
      // Completed, or failed after the whole stream was handed over (the framework then keeps
      // the source paused because the destination may be running the guest).
      return (
        outgoing?.status === "completed" ||
        heldPaused ||
        (outgoing?.status === "failed" && outgoing.guestOwner !== "source")
      );
    },
    get eventsEnabled() {
      return eventsCap;
    },
    get status() {
      return incomingStatus !== "none" ? incomingView() : outgoingStatus();
    },

    capabilities() {
      return [
        ...manager.queryCapabilities().map((c) => ({ capability: c.name, state: c.state })),
        { capability: "events", state: eventsCap },
      ];
    },

    setCapabilities(list) {
      if (active() || incomingStatus === "active") {
        throw new QmpError("There's a migration process in progress");
      }
      const known = new Set(control.capabilities().map((c) => c.capability));
      const request: Record<string, boolean> = {};
      let events2 = eventsCap;
      list.forEach((c, i) => {
        if (!known.has(c.capability)) {
          throw new QmpError(
            `Parameter 'capabilities[${i}].capability' does not accept value '${c.capability}'`,
          );
        }
        if (c.capability === "events") events2 = c.state;
        else request[c.capability] = c.state;
      });
      try {
        manager.setCapabilities(request);
      } catch (e) {
        throw new QmpError((e as Error).message);
      }
      eventsCap = events2;
    },

    parameters() {
      return manager.queryParameters() as Record<string, JsonValue>;
    },

    setParameters(values) {
      const known = manager.queryParameters();
      for (const [key, value] of Object.entries(values)) {
        if (!(key in known)) throw new QmpError(`Parameter '${key}' is unexpected`);
        const current = known[key];
        const expected =
          typeof current === "number"
            ? Number.isInteger(current)
              ? "integer"
              : "number"
            : typeof current === "boolean"
              ? "boolean"
              : typeof current === "string"
                ? "string"
                : null;
        // `x-integrity` is `"auto"` or a boolean whatever its current value: the manager's own
        // check decides between them.
        const ok =
          expected === null ||
          (STRING_OR_BOOLEAN.has(key)
            ? typeof value === "string" || typeof value === "boolean"
            : expected === "integer"
              ? typeof value === "number"
              : typeof value === expected);
        if (!ok) {
          const name = STRING_OR_BOOLEAN.has(key) ? "string" : expected;
          throw new QmpError(`Invalid parameter type for '${key}', expected: ${name}`);
        }
      }
      try {
        manager.setParameters(values);
      } catch (e) {
        throw new QmpError((e as Error).message);
      }
    },

    info() {
      if (incomingStatus !== "none") {
        const view = incomingView();
        return {
          // post-copy on the destination: blocktime and fault latency (QEMU's fields)
          ...(inc !== null && (view.startsWith("postcopy") || view === "completed")
            ? (inc.info() as Record<string, JsonValue>)
            : {}),
          status: view,
          ...(incomingStatus === "failed" ? { "error-desc": incomingError } : {}),
        };
      }
      if (outgoing !== null) {
        const info = { ...outgoing.info() } as Record<string, JsonValue>;
        if (heldPaused && outgoing.status === "failed") {
          info["error-desc"] =
            `${String(info["error-desc"] ?? "migration failed")}; the whole stream was sent, so the ` +
            "destination may be running the guest: the source stays paused (postmigrate)";
        }
        return info;
      }
      if (preStatus === "none") return {};
      return {
        status: preStatus,
        ...(preStatus === "failed" ? { "error-desc": preError } : {}),
      };
    },

    migrate(to) {
      if (active()) throw new QmpError("There's a migration process in progress");
      if (expectsIncoming !== "no" && incomingStatus !== "completed") {
        throw new QmpError("Guest is waiting for an incoming migration");
      }
      if (control.handedOver) {
        throw new QmpError("Can't migrate the vm that was paused due to previous migration");
      }
      if (machine.state === "stopped" || machine.state === "created") {
        throw new QmpError("The guest is not running (it has shut down or never started)");
      }
      outgoing = null;
      cancelRequested = false;
      streamHandedOver = false;
      preError = "";
      setPre("setup");
      void connectAll(to).then(
        ({ main: transport, channels: dataChannels }) => {
          if (cancelRequested) {
            for (const c of dataChannels) c.abort(new Error("migration cancelled"));
            transport.abort(new Error("migration cancelled"));
            setPre("cancelled");
            return;
          }
          outTransport = transport;
          let m: Migration;
          try {
            m = manager.migrate({
              machine: guarded,
              transport: guardTransport(transport),
              scheduler: machine.scheduler,
              writeBufferBytes: SOCKET_WRITE_BUFFER_BYTES,
              ...(dataChannels.length > 0 ? { channels: dataChannels } : {}),
            });
          } catch (e) {
            for (const c of dataChannels) c.abort(e as Error);
            transport.abort(e as Error);
            preError = (e as Error).message;
            setPre("failed");
            return;
          }
          outgoing = m;
          void m.done.then(() => closeChannels(dataChannels));
          if (postcopyAsked) {
            postcopyAsked = false;
            m.startPostcopy();
          }
          m.events.on("state", (s) => {
            if (s !== "setup") events.emit("status", s);
          });
          m.events.on("sync", (st) => events.emit("pass", st.syncCount));
        },
        (e: Error) => {
          preError = e.message;
          setPre(cancelRequested ? "cancelled" : "failed");
        },
      );
    },

    async incoming(from, exitOnError = true) {
      if (expectsIncoming === "no") {
        throw new QmpError("'-incoming' was not specified on the command line");
      }
      if (incomingStarted) throw new QmpError("The incoming migration has already been started");
      incomingStarted = true;
      const setIn = (s: typeof incomingStatus): void => {
        incomingStatus = s;
        events.emit("status", s);
      };
      const run = (transport: IncomingTransport): void => {
        setIn("active");
        // Loaded first, announced `completed`, then started (QEMU's order: MIGRATION, then RESUME).
        // `x-integrity: false` here too makes the destination QEMU's: it refuses framing and
        // does not digest the stream (it says so first on the return path; the source then
        // checks the acknowledgement by byte count).
        const m = startIncoming({
          machine,
          transport,
          plugins,
          resume: false,
          multifdChannels: channels,
          integrity: manager.queryParameters()["x-integrity"] === false ? "off" : "accept",
          channels: earlyChannels.splice(0),
          // post-copy's states on the destination are MIGRATION events too (QEMU's)
          onStatus: (st) => {
            if (st.startsWith("postcopy")) events.emit("status", st);
          },
        });
        inc = m;
        void m.done.then((r) => {
          if (r.status === "completed") {
            setIn("completed");
            if (control.autostart) runMachine(machine);
          } else {
            incomingError = r.error?.message ?? "incoming migration failed";
            setIn("failed");
          }
          options.onIncomingEnd?.(r, exitOnError);
        });
      };
      // multifd (capability on here too, as QEMU requires): N more connections, the data
      // channels; read when the first connection arrives (set after -incoming, as in QEMU)
      const multifdChannels = (): number =>
        manager.capabilities().multifd === true
          ? (manager.queryParameters()["multifd-channels"] as number)
          : 0;
      let channels = 0;
      /** `postcopy-preempt` here: one more connection, the preempt channel. */
      let preempt = false;
      /** Preempt channels that arrived before the main connection was running. */
      const earlyChannels: IncomingTransport[] = [];
      if (from.transport === "file") {
        setIn("setup");
        run(fileSource(from.filename));
        return;
      }
      const server: Server = createServer();
      listener = server;
      await new Promise<void>((resolve, reject) => {
        server.once("error", (e) => {
          incomingStarted = false;
          reject(new QmpError(`Failed to bind socket for ${describe(from)}: ${e.message}`));
        });
        if (from.type === "unix") server.listen(from.path, () => resolve());
        else server.listen(from.port, from.host, () => resolve());
      });
      setIn("setup");
      const acceptor = createChannelAcceptor();
      let mainSeen = false;
      let preemptSeen = false;
      const accepted = (): void => {
        // One migration per listener, as QEMU: later connections are refused.
        if (mainSeen && acceptor.count >= channels && (preemptSeen || !preempt)) {
          server.close();
          listener = null;
        }
      };
      // Refused before any stream byte (TLS, credentials): the guest never loaded.
      const refused = (e: Error): void => {
        if (incomingStatus === "failed" || inc !== null) return;
        incomingError = e.message;
        setIn("failed");
        server.close();
        listener = null;
        options.onIncomingEnd?.({ status: "failed", error: e, bytes: 0, pages: 0 }, exitOnError);
      };
      const onMain = (socket: Socket): void => {
        mainSeen = true;
        inSockets.push(socket);
        accepted();
        acceptIncomingChannel(socket, from, net(), options.objects).then(
          (t) => run(acceptor.attach(t)),
          refused,
        );
      };
      /** With post-copy preempt: secure each connection (TLS), then tell it by its first bytes. */
      const dispatchPreempt = async (raw: Socket): Promise<void> => {
        let socket: Socket;
        try {
          socket = await secureAccepted(raw, from, net(), options.objects);
        } catch (e) {
          if (!mainSeen) refused(e as Error);
          return;
        }
        const kind = await peekChannelKind(socket);
        if (kind === "preempt") {
          if (preemptSeen) {
            socket.destroy();
            return;
          }
          preemptSeen = true;
          accepted();
          // it idles while no page is requested: no peer timeout on it
          socket.setTimeout(0);
          inSockets.push(socket);
          const ch = socketChannelSource(socket, `${describe(from)} preempt channel`);
          if (inc !== null) inc.addChannel(ch);
          else earlyChannels.push(ch);
          return;
        }
        if (mainSeen) {
          socket.destroy();
          return;
        }
        mainSeen = true;
        inSockets.push(socket);
        accepted();
        run(incomingMain(socket, from, net()));
      };
      let first = true;
      server.on("connection", (socket: Socket) => {
        if (first) {
          channels = multifdChannels();
          preempt = channels === 0 && preemptOn();
        }
        first = false;
        socket.pause();
        if (preempt) {
          void dispatchPreempt(socket);
          return;
        }
        if (channels === 0) {
          onMain(socket);
          return;
        }
        // With TLS every connection is secured first (QEMU's multifd over TLS): a data channel is
        // told from the main one by its first decrypted bytes. A peer refused before the main
        // connection fails the incoming migration (as a refused main connection does); one
        // refused later was told why and closed, and the migration goes on with its own channels
        // (a source whose channel is refused fails, and the destination with it).
        const tls = net()["tls-creds"] !== "";
        const secured = tls
          ? secureAccepted(socket, from, net(), options.objects)
          : Promise.resolve(socket);
        void secured.then(classify, (e: Error) => {
          if (!mainSeen) refused(e);
        });
      });
      const classify = (socket: Socket): void => {
        const tls = net()["tls-creds"] !== "";
        void isChannelSocket(socket).then((isChannel) => {
          if (!isChannel) {
            if (mainSeen) socket.destroy();
            else if (tls) {
              mainSeen = true;
              inSockets.push(socket);
              accepted();
              run(acceptor.attach(incomingMain(socket, from, net())));
            } else onMain(socket);
            return;
          }
          if (acceptor.count >= channels) {
            socket.destroy();
            return;
          }
          // a data channel may idle while the main stream works: no peer timeout on it
          socket.setTimeout(0);
          acceptor.offer(
            socketChannelSource(socket, `${describe(from)} channel ${acceptor.count}`),
          );
          accepted();
        });
      };
    },

    dispose() {
      listener?.close();
      listener = null;
    },

    setAutostart(on: boolean) {
      control.autostart = on;
    },

    cancel() {
      if (outgoing !== null) outgoing.cancel();
      else if (preStatus === "setup") cancelRequested = true;
    },

    continueFrom(state) {
      const current = control.status;
      if (outgoing === null || current !== state) {
        throw new QmpError(`Migration not in expected state: ${current}`);
      }
      try {
        outgoing.continueFrom(state as Migration["status"]);
      } catch (e) {
        throw new QmpError((e as Error).message);
      }
    },
    postcopy: {
      postcopyEnabled: () =>
        manager.queryCapabilities().some((c) => c.name === "postcopy-ram" && c.state),
      outgoingStatus,
      incomingStatus: () => (incomingStatus === "none" ? "none" : incomingView()),
      startPostcopy() {
        if (outgoing === null) {
          // still connecting: ask as soon as the migration exists
          if (preStatus === "setup") postcopyAsked = true;
          return;
        }
        // QEMU does not fail once the migration has left pre-copy (that would race).
        if (ACTIVE.has(outgoing.status) && outgoing.status !== "cancelling") {
          try {
            outgoing.startPostcopy();
          } catch {
            // past pre-copy meanwhile
          }
        }
      },
      resume(to) {
        const m = outgoing;
        if (m === null) throw new QmpError("Cannot resume if there is no paused migration");
        void connectAll(to).then(
          ({ main: t, channels: dataChannels }) => {
            try {
              outTransport = t;
              m.resume(guardTransport(t), dataChannels);
              void m.done.then(() => closeChannels(dataChannels));
            } catch (e) {
              for (const c of dataChannels) c.abort(e as Error);
              t.abort(e as Error);
            }
          },
          // the migration stays postcopy-paused; the operator may try another address
          () => {},
        );
      },
      pause() {
        // QEMU's qmp_migrate_pause: the source first, then the destination.
        const out = outgoingStatus();
        if (out === "postcopy-active" || out === "postcopy-recover") {
          outTransport?.abort(new Error(PAUSED_BY_USER));
          return true;
        }
        const view = incomingStatus === "none" ? "none" : incomingView();
        if (view === "postcopy-active" || view === "postcopy-recover") {
          for (const socket of inSockets) socket.destroy();
          return true;
        }
        return false;
      },
      async recover(at) {
        const m = inc;
        if (m === null || m.status !== "postcopy-paused") {
          throw new QmpError("Migrate recover can only be run when postcopy is paused.");
        }
        if (recovering) throw new QmpError("Migrate recovery is triggered already");
        if (at.transport === "file") throw new QmpError("migrate-recover needs a tcp or unix uri");
        recovering = true;
        const server: Server = createServer();
        try {
          await new Promise<void>((resolve, reject) => {
            server.once("error", (e) =>
              reject(new QmpError(`Failed to bind socket for ${describe(at)}: ${e.message}`)),
            );
            if (at.type === "unix") server.listen(at.path, () => resolve());
            else server.listen(at.port, at.host, () => resolve());
          });
        } catch (e) {
          recovering = false;
          throw e;
        }
        // The new connection (TLS too when `tls-creds` is set) and, with postcopy-preempt, the
        // re-established preempt channel: told apart by their first bytes.
        const wantPreempt = preemptOn();
        const fresh: Socket[] = [];
        const held: IncomingTransport[] = [];
        let mainDone = false;
        let preemptDone = !wantPreempt;
        const done = (): void => {
          if (mainDone && preemptDone) server.close();
        };
        server.on("connection", (raw: Socket) => {
          raw.pause();
          void (async () => {
            let socket: Socket;
            try {
              socket = await secureAccepted(raw, at, net(), options.objects);
            } catch {
              return; // refused peer (TLS): keep waiting for the source
            }
            const kind = wantPreempt ? await peekChannelKind(socket) : "main";
            if (kind === "preempt" && !preemptDone) {
              preemptDone = true;
              socket.setTimeout(0);
              fresh.push(socket);
              const ch = socketChannelSource(socket, `${describe(at)} preempt channel`);
              if (mainDone) m.addChannel(ch);
              else held.push(ch);
              done();
              return;
            }
            if (kind !== "main" || mainDone) {
              socket.destroy();
              return;
            }
            mainDone = true;
            recovering = false;
            fresh.push(socket);
            inSockets = fresh;
            try {
              m.recover(incomingMain(socket, at, net()), held.splice(0));
            } catch (e) {
              socket.destroy(e as Error);
            }
            done();
          })();
        });
      },
    },
  } as FerryMigrationControl;
  return control;
}
