/** Helpers for the two-process QMP tests: spawn `ferry run --realtime`, wait for sockets, free ports. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectQmp, type QmpClient, type QmpSpecs, qmpSpecs } from "@ferry/qmp";

/** A running `ferry` child process. */
export interface FerryProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  readonly hasExited: () => boolean;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<FerryProcess>();

/** Start `ferry <argv>` (the real binary under tsx). */
export function spawnFerry(argv: readonly string[]): FerryProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let done = false;
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => {
      done = true;
      resolve(code ?? signal ?? -1);
    }),
  );
  const p: FerryProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    hasExited: () => done,
    kill: (signal = "SIGKILL") => {
      if (!done) child.kill(signal);
    },
  };
  running.add(p);
  void exited.then(() => running.delete(p));
  return p;
}

/** Kill every child still running (afterEach). */
export function killAll(): void {
  for (const p of running) p.kill("SIGKILL");
}

/** Run `ferry <argv>` to the end (the unmigrated reference). */
export function runFerrySync(argv: readonly string[]): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const r = spawnSync(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh directory for sockets. */
export function socketDir(): string {
  return mkdtempSync(join(tmpdir(), "ferry-qmp-e2e-"));
}

/** Wait until the child says its monitor on `path` listens (the file alone appears before listen()). */
export async function waitForSocket(path: string, proc: FerryProcess, ms = 90_000): Promise<void> {
  const until = Date.now() + ms;
  while (!existsSync(path) || !proc.stderr().includes(`listening on unix:${path}`)) {
    if (proc.hasExited()) throw new Error(`ferry exited before listening: ${proc.stderr()}`);
    if (Date.now() > until) throw new Error(`no socket ${path} after ${ms} ms: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Wait until `text` appears on the process's stderr. */
export async function waitForStderr(proc: FerryProcess, text: string, ms = 90_000): Promise<void> {
  const until = Date.now() + ms;
  while (!proc.stderr().includes(text)) {
    if (proc.hasExited()) throw new Error(`ferry exited before "${text}": ${proc.stderr()}`);
    if (Date.now() > until) throw new Error(`no "${text}" after ${ms} ms: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP port free right now on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Connect a typed client to a child's monitor. */
export function monitor(path: string): Promise<QmpClient<QmpSpecs>> {
  return connectQmp({ kind: "unix", path }, qmpSpecs, { timeoutMs: 15_000 });
}

/** Resolve with the exit code, or reject after `ms`. */
export function exitWithin(proc: FerryProcess, ms: number): Promise<number | string> {
  return Promise.race([
    proc.exited,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`ferry did not exit within ${ms} ms: ${proc.stderr()}`)),
        ms,
      ),
    ),
  ]);
}

/** Terminal MIGRATION statuses. */
export const TERMINAL = ["completed", "failed", "cancelled"];

/**
 * A destination waiting on TCP (`--incoming`) and a source: two `ferry run <config> …args`
 * processes with a QMP monitor each on a unix socket; resolves once both monitors are connected.
 * `sides` adds arguments to one side only (e.g. its TLS credentials: `--object …`).
 */
export async function startPair(
  config: string,
  args: readonly string[],
  sides: { readonly src?: readonly string[]; readonly dst?: readonly string[] } = {},
) {
  const dir = socketDir();
  const port = await freePort();
  const srcSock = join(dir, "src.sock");
  const dstSock = join(dir, "dst.sock");
  const dst = spawnFerry([
    "run",
    config,
    ...args,
    ...(sides.dst ?? []),
    "--qmp",
    `unix:${dstSock}`,
    "--incoming",
    `tcp:127.0.0.1:${port}`,
  ]);
  const src = spawnFerry([
    "run",
    config,
    ...args,
    ...(sides.src ?? []),
    "--qmp",
    `unix:${srcSock}`,
  ]);
  await waitForSocket(srcSock, src);
  await waitForStderr(dst, "waiting for an incoming migration");
  const s = await monitor(srcSock);
  const d = await monitor(dstSock);
  return { port, dst, src, s, d };
}
