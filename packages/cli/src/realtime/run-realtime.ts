/**
 * `ferry run --realtime`: the guest on the realtime scheduler with QMP monitors, as a source or
 * (with `--incoming`) as a destination that waits for a migration. The process ends when the
 * guest shuts down (its exit code), on `quit` (0), when an incoming migration fails (1, like
 * QEMU), or on SIGINT/SIGTERM (130).
 */
import { throttleControlFor } from "@ferry/core";
import {
  createFerryMigrationControl,
  createMonitor,
  createVmControl,
  formatEndpoint,
  type MigrationAddress,
  type Monitor,
  type MonitorOption,
  type ObjectStore,
  createObjectStore,
  objectCommands,
} from "@ferry/qmp";
import type { FerryConfig } from "../config";
import { ExitCode, type ExitCodeValue } from "../exit-codes";
import { loadPlugins } from "../migrate/plugins";
import { readGuestElf } from "../run/run-guest";
import { buildRealtimeMachine } from "./realtime-machine";

/** Options of {@link runRealtime}. */
export interface RealtimeRunOptions {
  readonly config: FerryConfig;
  readonly configFile: string;
  /** Monitors to open (at least zero; each its own listener, TCP ones optionally over TLS). */
  readonly qmp: readonly MonitorOption[];
  /** The process's objects (`--object`): TLS credentials, authz lists. Default: none. */
  readonly objects?: ObjectStore;
  /** Wait for an incoming migration instead of starting the guest. */
  readonly incoming?: "defer" | MigrationAddress;
  /** Pace vCPUs to the config's `mips`. */
  readonly pace: boolean;
  /** Guest UART output (flushed at newlines, pauses and the end). */
  readonly onOutput: (text: string) => void;
  /** Status lines for stderr (listening addresses, the end). */
  readonly onStatus: (line: string) => void;
  /** A peer silent this long fails the migration (ms). */
  readonly peerTimeoutMs?: number;
}

/** How a realtime run ended. */
export interface RealtimeRunResult {
  readonly status: "pass" | "fail" | "quit" | "incoming-failed" | "error" | "interrupted";
  readonly exitCode: ExitCodeValue;
  readonly guestCode: number | null;
  readonly message?: string;
}

/** Run until the end; resolves with the outcome once every monitor has been closed. */
export async function runRealtime(options: RealtimeRunOptions): Promise<RealtimeRunResult> {
  const { config, configFile } = options;
  const elf = readGuestElf(config, configFile);
  const rt = buildRealtimeMachine(config, elf, { pace: options.pace, configFile });
  const { machine, scheduler } = rt;

  let settle: (r: RealtimeRunResult) => void = () => {};
  const ended = new Promise<RealtimeRunResult>((resolve) => {
    settle = resolve;
  });
  let result: RealtimeRunResult | null = null;
  const finish = (r: RealtimeRunResult): void => {
    if (result !== null) return;
    result = r;
    settle(r);
  };

  // Guest output, flushed at newlines and whenever the machine changes state (so that the source
  // has written everything it ran before the destination takes over).
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    options.onOutput(Buffer.from(pending).toString("utf8"));
    pending = [];
  };
  machine.events.on("uart", (byte) => {
    pending.push(byte);
    if (byte === 10 || pending.length >= 4096) flush();
  });
  machine.events.on("state", flush);
  machine.events.on("shutdown", (e) => {
    flush();
    if (e.kind === "reset") return;
    const fail = e.kind === "fail" || e.code !== 0;
    // Let the SHUTDOWN event reach the monitors before the process ends.
    setImmediate(() =>
      finish({
        status: fail ? "fail" : "pass",
        exitCode: fail ? ExitCode.Failure : ExitCode.Ok,
        guestCode: e.code,
      }),
    );
  });
  // A guest fault is a failed guest (exit 1); any other vCPU error is a ferry bug (exit 70).
  machine.events.on("vcpu-error", (e) =>
    finish({
      status: e.guestFault ? "fail" : "error",
      exitCode: e.guestFault ? ExitCode.Failure : ExitCode.Internal,
      guestCode: null,
      message: `${e.guestFault ? "guest fault: " : ""}vCPU ${e.vcpu}: ${e.message}`,
    }),
  );

  const objects = options.objects ?? createObjectStore();
  const migration = createFerryMigrationControl({
    machine,
    objects,
    plugins: loadPlugins(),
    ...(options.incoming !== undefined ? { incoming: options.incoming } : {}),
    ...(options.peerTimeoutMs !== undefined ? { peerTimeoutMs: options.peerTimeoutMs } : {}),
    onIncomingEnd: (r, exitOnError) => {
      if (r.status === "completed") {
        options.onStatus(
          `ferry: incoming migration completed (${r.bytes} bytes, ${r.pages} pages)`,
        );
        return;
      }
      const message = `incoming migration failed: ${r.error?.message ?? "unknown error"}`;
      options.onStatus(`ferry: ${message}`);
      if (exitOnError) {
        setImmediate(() =>
          finish({
            status: "incoming-failed",
            exitCode: ExitCode.Failure,
            guestCode: null,
            message,
          }),
        );
      }
    },
  });
  const vm = createVmControl({
    machine,
    migration,
    reset: rt.reset,
    throttle: throttleControlFor(machine.vcpus, scheduler),
    quit: () => finish({ status: "quit", exitCode: ExitCode.Ok, guestCode: null }),
  });
  const monitor: Monitor = createMonitor({
    vm,
    migration,
    extraCommands: objectCommands(objects),
    server: {
      onInternalError: (e, cmd) =>
        options.onStatus(`ferry: internal error in ${cmd}: ${e.stack ?? e.message}`),
    },
  });
  const onSignal = (): void =>
    finish({ status: "interrupted", exitCode: ExitCode.Interrupted, guestCode: null });
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    for (const m of options.qmp) {
      const { tlsCreds, tlsAuthz } = m;
      const l = await monitor.server.listen(m.endpoint, {
        ...(tlsCreds !== undefined
          ? {
              tls: () => ({
                creds: objects.tlsCreds(tlsCreds, "server"),
                ...(tlsAuthz !== undefined ? { authz: objects.authz(tlsAuthz) } : {}),
              }),
            }
          : {}),
        onRefused: (reason) => options.onStatus(`ferry: QMP connection refused: ${reason}`),
        // The sockets on the monitor I/O thread: query-migrate answered while a migration holds
        // this event loop (a TLS monitor is served here).
        ioThread: tlsCreds === undefined,
      });
      const tls = tlsCreds !== undefined ? " (TLS)" : "";
      options.onStatus(`ferry: QMP monitor listening on ${formatEndpoint(l.endpoint)}${tls}`);
    }
    if (options.incoming === undefined) machine.start();
    else if (options.incoming === "defer") options.onStatus("ferry: waiting for migrate-incoming");
    else {
      await migration.incoming(options.incoming);
      options.onStatus("ferry: waiting for an incoming migration");
    }
  } catch (e) {
    finish({
      status: "error",
      exitCode: ExitCode.BadInput,
      guestCode: null,
      message: (e as Error).message,
    });
  }

  const r = await ended;
  flush();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  migration.cancel();
  migration.dispose();
  machine.stop();
  await monitor.close();
  scheduler.dispose();
  return r;
}
