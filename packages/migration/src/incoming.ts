/**
 * The incoming side: a paused destination machine (same config, not started) loads the stream
 * and resumes only after EOF and a successful device-state load.
 */
import type { Scheduler } from "@ferry/core";
import { MigrationError, StreamError } from "./errors";
import { type FerryPlugin, type MigratableMachine, runMachine } from "./plugin";
import { recordTypesOf } from "./manager";
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
   * Stream integrity framing (docs/stream-format.md): `accept` (default) reads framed and plain
   * streams, `require` refuses a plain one, `off` (QEMU-compatible) refuses a framed one. A
   * two-way transport announces the mode to the source (return-path `INTEGRITY` message).
   */
  readonly integrity?: IntegrityMode;
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

/** A running incoming migration. */
export interface IncomingMigration {
  /** `receiving` until it ends. */
  readonly status: "receiving" | "completed" | "failed";
  /** Resolves when it ends (never rejects). */
  readonly done: Promise<IncomingResult>;
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
  const { machine, transport } = options;
  const sections = new Map<string, ReaderSection>();
  for (const p of options.plugins ?? []) {
    for (const def of p.sections ?? []) {
      const loader = def.create(machine);
      sections.set(def.idstr, { versions: def.versions, load: (c, ph) => loader.load(c, ph) });
    }
  }
  const reader = new StreamReader({
    sections,
    blocks: machine.memory.ramRegions.filter((r) => !r.readonly),
    records: options.records ?? recordTypesOf(options.plugins ?? []),
    compact: transport.compact === true,
  });
  const integrity = options.integrity ?? "accept";
  const input = new IntegrityDecoder(reader, integrity);
  let status: IncomingMigration["status"] = "receiving";
  let settle: (r: IncomingResult) => void = () => {};
  const done = new Promise<IncomingResult>((resolve) => {
    settle = resolve;
  });
  const fail = (error: Error): void => {
    if (status !== "receiving") return;
    status = "failed";
    // Report the failure on the return path (a two-way transport), then refuse the stream.
    transport.returnPath?.send({ type: "error", message: error.message });
    transport.close();
    settle({ status, error, bytes: reader.position, pages: reader.pages });
  };
  if (machine.state === "running") {
    fail(
      new MigrationError("incoming: the destination machine must not be running (build it paused)"),
    );
    return { status, done };
  }
  // Tell the source whether it may frame the stream (it waits for this only when it wants to).
  transport.returnPath?.send({ type: "integrity", mode: integrity });
  transport.receive({
    data(chunk) {
      if (status !== "receiving") return;
      try {
        input.push(chunk);
      } catch (e) {
        fail(e as Error);
      }
    },
    end() {
      if (status !== "receiving") return;
      try {
        input.end();
        const state = assembleMachineState(reader.devices);
        try {
          machine.loadState(state);
        } catch (e) {
          throw new StreamError(reader.position, `device state rejected: ${(e as Error).message}`);
        }
      } catch (e) {
        fail(e as Error);
        return;
      }
      status = "completed";
      // Acknowledge the switchover with what was loaded: the source accepts it only if this
      // accounts for every byte it sent (see return-path/ack.ts).
      const rp = transport.returnPath;
      if (rp !== undefined) {
        rp.send({ type: "switchover-ack", bytes: rp.received.bytes, digest: rp.received.digest });
      }
      if (options.resume !== false) runMachine(machine);
      settle({
        status,
        bytes: reader.position,
        pages: reader.pages,
        resumedAtNs: machine.scheduler?.now(),
      });
    },
    error(err) {
      fail(err);
    },
  });
  return {
    get status() {
      return status;
    },
    done,
  };
}
