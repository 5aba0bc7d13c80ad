/**
 * The incoming side: a paused destination machine (same config, not started) loads the stream
 * and resumes only after EOF and a successful device-state load.
 */
import type { Scheduler } from "@ferry/core";
import { MigrationError, StreamError } from "./errors";
import {
  type FerryPlugin,
  type IncomingEnv,
  type MigratableMachine,
  runMachine,
  type SectionLoader,
} from "./plugin";
import { recordTypesOf } from "./manager";
import { MultifdReceiver } from "./multifd/receiver";
import { IntegrityDecoder, type IntegrityMode } from "./stream/integrity";
import { type ReaderSection, StreamReader, type ReceivedDeviceState } from "./stream/reader";
import type { RamRecordRegistry } from "./stream/records";
import type { IncomingTransport } from "./transport/types";

/** Options of {@link incoming}. */
export interface IncomingOptions {
  /** The destination: built from the same config, paused (not started). */
  readonly machine: MigratableMachine & { readonly scheduler?: Scheduler };
  readonly transport: IncomingTransport;
  /** Plugins whose codecs' record types to accept (default: base PAGE/ZERO only). */
  readonly plugins?: readonly FerryPlugin[];
  /** Record types to accept (overrides `plugins`). */
  readonly records?: RamRecordRegistry;
  /** Resume the machine after a successful load (default true). */
  readonly resume?: boolean;
  /**
   * Multifd: the number of data channels the source opens (its `multifd-channels`); they arrive
   * through `transport.onChannel`. Absent or 0 = no multifd (a sync point on the stream is refused).
   */
  readonly multifdChannels?: number;
  /**
   * Stream integrity framing (docs/stream-format.md): `accept` (default) reads framed and plain
   * streams, `require` refuses a plain one, `off` (QEMU-compatible) refuses a framed one. A
   * two-way transport announces the mode to the source (return-path `INTEGRITY` message).
   */
  readonly integrity?: IntegrityMode;
  /**
   * Data channels besides `transport` (e.g. a link's `channels[i].destination`). Each carries a
   * stream of RAM pages only (header, RAM setup, RAM PART sections, EOF), loaded as it arrives:
   * post-copy's preempt channel. While a block's missing-page map is armed a page lands only
   * where it is missing, so a page from either channel is placed once and never overwritten.
   */
  readonly channels?: readonly IncomingTransport[];
  /** Called on every status change after the start (QEMU's destination MIGRATION events). */
  readonly onStatus?: (status: IncomingStatus) => void;
}

/** Outcome of an incoming migration. */
export interface IncomingResult {
  readonly status: "completed" | "failed";
  /** The error when failed (a `StreamError` for bad streams). */
  readonly error?: Error;
  /** Stream bytes parsed. */
  readonly bytes: number;
  /** RAM records applied. */
  readonly pages: number;
  /** Virtual time when the machine resumed (completed only). */
  readonly resumedAtNs?: number;
}

/** Status of an incoming migration (QEMU's names for the post-copy ones). */
export type IncomingStatus =
  | "receiving"
  | "postcopy-active"
  | "postcopy-paused"
  | "postcopy-recover"
  | "completed"
  | "failed";

/** A running incoming migration. */
export interface IncomingMigration {
  /**
   * `receiving` until it ends; `postcopy-active` once post-copy runs the guest here;
   * `postcopy-paused` when the connection broke during post-copy (the guest keeps running, its
   * vCPUs parked on missing pages stay parked) until {@link IncomingMigration.recover}.
   */
  readonly status: IncomingStatus;
  /** Resolves when it ends (never rejects). */
  readonly done: Promise<IncomingResult>;
  /** Why the last connection failed, or null. */
  readonly error: Error | null;
  /**
   * QEMU's `migrate-recover`: continue a `postcopy-paused` migration on a new connection (the
   * source then resumes with `Migration.resume`). `channels`: the new connection's data channels
   * (post-copy's preempt channel, re-established). Throws `MigrationError` in any other state.
   */
  recover(transport: IncomingTransport, channels?: readonly IncomingTransport[]): void;
  /**
   * A data channel of the current connection that arrived after the main one (a preempt channel
   * on its own socket); loaded like `options.channels`. Closed at once when the migration is not
   * receiving.
   */
  addChannel(channel: IncomingTransport): void;
  /** Destination-side statistics (post-copy: blocktime and fault latency). */
  info(): Record<string, unknown>;
}

/** Rebuild a machine state object from device sections (each body is `{ [idstr]: value }`). */
export function assembleMachineState(devices: readonly ReceivedDeviceState[]): object {
  const state: Record<string, unknown> = {};
  for (const d of devices) {
    const keys = Object.keys(d.state);
    if (keys.length !== 1 || keys[0] !== d.idstr || d.instance !== 0) {
      throw new MigrationError(
        `device section "${d.idstr}" instance ${d.instance} must hold exactly {"${d.idstr}": …}, found keys [${keys.join(", ")}]`,
      );
    }
    state[d.idstr] = d.state[d.idstr];
  }
  return state;
}

/** Receive a migration into `machine`. */
export function incoming(options: IncomingOptions): IncomingMigration {
  const { machine } = options;
  let transport = options.transport;
  let status: IncomingStatus = "receiving";
  const setStatus = (next: IncomingStatus): void => {
    if (next === status) return;
    status = next;
    options.onStatus?.(next);
  };
  let lastError: Error | null = null;
  /** Post-copy started the guest before the end of the stream. */
  let guestStarted = false;
  const env: IncomingEnv = {
    get returnPath() {
      return transport.returnPath;
    },
    scheduler: machine.scheduler,
    startGuest(state) {
      try {
        machine.loadState(state);
      } catch (e) {
        throw new MigrationError(`device state rejected: ${(e as Error).message}`);
      }
      guestStarted = true;
      setStatus("postcopy-active");
      runMachine(machine);
    },
    resumed() {
      if (status === "postcopy-recover") setStatus("postcopy-active");
    },
    channels: options.channels ?? [],
  };
  const sections = new Map<string, ReaderSection>();
  const loaders: SectionLoader[] = [];
  for (const p of options.plugins ?? []) {
    for (const def of p.sections ?? []) {
      const loader = def.create(machine, env);
      loaders.push(loader);
      sections.set(def.idstr, { versions: def.versions, load: (c, ph) => loader.load(c, ph) });
    }
  }
  const blocks = machine.memory.ramRegions.filter((r) => !r.readonly);
  const channels = options.multifdChannels ?? 0;
  let receiver: MultifdReceiver | null = null;
  let mainEnded = false;
  const makeReader = (): StreamReader =>
    new StreamReader({
      sections,
      blocks,
      records: options.records ?? recordTypesOf(options.plugins ?? []),
      compact: transport.compact === true,
      ...(channels > 0 ? { onMultifdFlush: () => receiver?.mainFlush() } : {}),
    });
  const integrity = options.integrity ?? "accept";
  let reader = makeReader();
  let input = new IntegrityDecoder(reader, integrity);
  let bytes = 0;
  let pages = 0;
  let settle: (r: IncomingResult) => void = () => {};
  const done = new Promise<IncomingResult>((resolve) => {
    settle = resolve;
  });
  const fail = (error: Error): void => {
    if (status !== "receiving" && status !== "postcopy-active" && status !== "postcopy-recover") {
      return;
    }
    lastError = error;
    if (guestStarted) {
      // Post-copy: neither side has the whole guest. Wait for migrate-recover (QEMU's
      // postcopy_pause_incoming); the guest keeps running here.
      setStatus("postcopy-paused");
      bytes += reader.position;
      pages += reader.pages;
      transport.close();
      for (const ch of liveChannels) ch.close();
      liveChannels = [];
      return;
    }
    setStatus("failed");
    void receiver?.close();
    // Report the failure on the return path (a two-way transport), then refuse the stream.
    transport.returnPath?.send({ type: "error", message: error.message });
    transport.close();
    settle({
      status: "failed",
      error,
      bytes: bytes + reader.position,
      pages: pages + reader.pages,
    });
  };
  const receiving = (): boolean =>
    status === "receiving" || status === "postcopy-active" || status === "postcopy-recover";
  function finish(): void {
    if (!receiving()) return;
    try {
      input.end();
      if (!guestStarted) {
        const state = assembleMachineState(reader.devices);
        try {
          machine.loadState(state);
        } catch (e) {
          throw new StreamError(reader.position, `device state rejected: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      fail(e as Error);
      return;
    }
    setStatus("completed");
    // Acknowledge the switchover with what was loaded: the source accepts it only if this
    // accounts for every byte it sent (see return-path/ack.ts).
    const rp = transport.returnPath;
    if (rp !== undefined) {
      rp.send({ type: "switchover-ack", bytes: rp.received.bytes, digest: rp.received.digest });
    }
    if (!guestStarted && options.resume !== false) runMachine(machine);
    settle({
      status: "completed",
      bytes: bytes + reader.position,
      pages: pages + reader.pages + (receiver?.pages ?? 0),
      resumedAtNs: machine.scheduler?.now(),
    });
  }
  const attach = (t: IncomingTransport): void => {
    const r = reader;
    t.receive({
      data(chunk) {
        if (!receiving() || r !== reader) return;
        try {
          input.push(chunk);
        } catch (e) {
          fail(e as Error);
        }
      },
      end() {
        if (!receiving() || r !== reader) return;
        mainEnded = true;
        if (receiver === null || receiver.complete) {
          finish();
          return;
        }
        // the channels still apply pages: the transport acknowledges once this load settles
        return done.then(noop);
      },
      error(err) {
        if (r !== reader) return;
        fail(err);
      },
    });
  };
  /** The data channels of the current connection (closed when it breaks). */
  let liveChannels: IncomingTransport[] = [];
  /** A data channel: RAM pages only; its end is not the migration's end. */
  const attachChannel = (ch: IncomingTransport): void => {
    liveChannels.push(ch);
    const mine = reader;
    const r = new StreamReader({
      blocks: machine.memory.ramRegions.filter((x) => !x.readonly),
      records: options.records ?? recordTypesOf(options.plugins ?? []),
      compact: ch.compact === true,
    });
    // A channel of an older connection (before a recovery) no longer counts.
    let open = true;
    const current = (): boolean => open && mine === reader;
    ch.receive({
      data(chunk) {
        if (!current() || !receiving()) return;
        try {
          r.push(chunk);
        } catch (e) {
          open = false;
          fail(e as Error);
        }
      },
      end() {
        if (!current() || !receiving()) return;
        open = false;
        try {
          r.end();
        } catch (e) {
          fail(e as Error);
        }
      },
      error(err) {
        if (!current()) return;
        open = false;
        fail(err);
      },
    });
  };
  if (machine.state === "running") {
    fail(
      new MigrationError("incoming: the destination machine must not be running (build it paused)"),
    );
    return {
      status,
      done,
      error: lastError,
      recover() {
        throw new MigrationError("migrate-recover: this incoming migration failed");
      },
      addChannel(ch) {
        ch.close();
      },
      info: () => ({}),
    };
  }
  if (channels > 0) {
    if (transport.onChannel === undefined) {
      fail(new MigrationError("incoming: multifd needs a transport with data channels"));
      return {
        status,
        done,
        error: lastError,
        recover() {
          throw new MigrationError("migrate-recover: this incoming migration failed");
        },
        addChannel(ch) {
          ch.close();
        },
        info: () => ({}),
      };
    }
    receiver = new MultifdReceiver({
      channels,
      blocks,
      compact: transport.compact === true,
      compressions: (options.plugins ?? []).flatMap((p) => p.compressions ?? []),
      // real time: compressed packets are decompressed and applied on worker threads
      workers: machine.scheduler?.kind === "realtime" && transport.compact !== true,
      onError: (e) => fail(e),
      // the main stream's end waits for every channel (its pages load before the devices)
      onComplete: () => {
        if (mainEnded) finish();
      },
    });
    const r = receiver;
    transport.onChannel((c) => r.attach(c));
  }
  // Tell the source whether it may frame the stream (it waits for this only when it wants to).
  // In mode `off` (QEMU's stream) the destination does not digest it either; the source, told
  // so here, checks the switchover acknowledgement by byte count.
  if (integrity === "off") transport.returnPath?.countOnly?.();
  transport.returnPath?.send({ type: "integrity", mode: integrity });
  attach(transport);
  for (const ch of options.channels ?? []) attachChannel(ch);
  return {
    get status() {
      return status;
    },
    get error() {
      return lastError;
    },
    done,
    recover(next, nextChannels = []) {
      if (status !== "postcopy-paused") {
        throw new MigrationError(
          `migrate-recover: the incoming migration is ${status}; only a postcopy-paused one can recover`,
        );
      }
      transport = next;
      setStatus("postcopy-recover");
      reader = makeReader();
      input = new IntegrityDecoder(reader, integrity);
      attach(next);
      for (const ch of nextChannels) attachChannel(ch);
    },
    addChannel(ch) {
      if (!receiving()) {
        ch.close();
        return;
      }
      attachChannel(ch);
    },
    info() {
      const out: Record<string, unknown> = { status };
      for (const l of loaders) Object.assign(out, l.stats?.());
      return out;
    },
  };
}

function noop(): void {}
