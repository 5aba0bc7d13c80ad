/**
 * Live migration over loopback TCP between real processes, and the monitor's latency meanwhile.
 *
 * The source runs in this process: the idle RISC-V guest (WFI + timer ticks) on the realtime
 * scheduler with a 1 GiB RAM whose every page is filled with non-zero data, a QMP monitor on a
 * unix socket, `max-bandwidth` 0 (unlimited). The destination is a real `ferry run --realtime
 * --incoming` process with the same config. A probe in a third process (bench/qmp-probe.mjs) sends
 * `query-migrate` every 10 ms and times each answer. Printed: stream GB/s (1 GB = 1e9 bytes:
 * ram.transferred / total-time), total time, and query-migrate latency p50/p99/max — plain TCP
 * and TLS (tls-creds-x509 from packages/qmp/test/fixtures/tls).
 *
 *   npx vitest bench --run bench/net-migration.bench.ts   (FERRY_NET_BENCH_MIB=1024, FERRY_NET_BENCH_BW=0)
 * (This module is the run; the .bench.ts file repeats it and prints the figures.)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../packages/cli/src/config/index";
import { loadPlugins } from "../packages/cli/src/migrate/plugins";
import { buildRealtimeMachine } from "../packages/cli/src/realtime/realtime-machine";
import { readGuestElf } from "../packages/cli/src/run/run-guest";
import { type LoopStall, startLoopProbe } from "./loop-probe.mjs";
import { usageDelta, usageOf } from "./proc-usage";
import {
  connectQmp,
  createFerryMigrationControl,
  createMonitor,
  createObjectStore,
  createVmControl,
  qmpSpecs,
} from "../packages/qmp/src/index";

export const MIB = Number(process.env.FERRY_NET_BENCH_MIB ?? 1024);
const CONFIG = "examples/configs/idle.yaml";
/**
 * FERRY_NET_BENCH_TICK_US: the idle guest's timer period (µs, default 10000). Each tick the guest
 * prints a line: at 1 ms (the figures of 2026-11-27) 1000 lines a second go to the console, CPU
 * the migration thread on the same event loop does not get.
 */
const TICK_US = Number(process.env.FERRY_NET_BENCH_TICK_US ?? 10000);
/**
 * FERRY_NET_BENCH_LOOP=1: both sides also measure their event-loop stalls (bench/loop-probe.mjs:
 * a 1 ms timer and a getrusage call per tick, a few % of a core on each side), printed per run.
 */
export const LOOP_PROBES = process.env.FERRY_NET_BENCH_LOOP === "1";
/** FERRY_NET_BENCH_IO_THREAD=0: the source's monitor served on the main thread (no I/O thread). */
const IO_THREAD = process.env.FERRY_NET_BENCH_IO_THREAD !== "0";
const SETS = [
  `machine.memory=${MIB}MiB`,
  `guest.args=[100000000, ${TICK_US}]`,
  ...(process.env.FERRY_NET_BENCH_PREALLOC === "0" ? [] : ["machine.mem-prealloc=true"]),
];
/** FERRY_NET_BENCH_PROF=DIR: write the destination's CPU profile there. */
const PROF = process.env.FERRY_NET_BENCH_PROF;
const profile = PROF !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${PROF}`] : [];
/** FERRY_NET_BENCH_BW: `max-bandwidth` in bytes/s (default 0 = unlimited). */
const BANDWIDTH = Number(process.env.FERRY_NET_BENCH_BW ?? 0);
/** How long the probe measures before the migration starts (ms). */
const BASELINE_MS = 3000;
const TLS = resolve("packages/qmp/test/fixtures/tls");

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

function waitFor(child: ChildProcess, text: string): Promise<void> {
  return new Promise((res, rej) => {
    let err = "";
    const t = setTimeout(() => rej(new Error(`no "${text}" in 120 s: ${err}`)), 120_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes(text)) {
        clearTimeout(t);
        res();
      }
    });
  });
}

export const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** One migration; returns GB/s, total ms and the probe's latencies. */
export async function migrateOnce(tls: boolean, integrity: boolean | "auto" = "auto") {
  const config = loadConfig(CONFIG, SETS);
  const rt = buildRealtimeMachine(config, readGuestElf(config, CONFIG), { pace: false });
  const { machine } = rt;
  // Every page non-zero (random data: nothing to gain from zero-page detection).
  const ram = machine.memory.ramRegions[0]!;
  const chunk = new Uint8Array(1 << 20);
  // (The guest lives in the first MiBs and keeps its stack at the top: both left alone.)
  for (let off = 16 << 20; off < ram.size - (16 << 20); off += chunk.length) {
    randomFillSync(chunk);
    ram.backend.write(off, chunk.subarray(0, Math.min(chunk.length, ram.size - off)));
  }
  const objects = createObjectStore();
  if (tls) objects.addText(`tls-creds-x509,id=tls0,dir=${TLS}/good,endpoint=client`);
  const migration = createFerryMigrationControl({ machine, plugins: loadPlugins(), objects });
  const vm = createVmControl({ machine, migration, reset: rt.reset, quit: () => {} });
  const monitor = createMonitor({ vm, migration });
  const dir = mkdtempSync(join(tmpdir(), "ferry-net-bench-"));
  const srcSock = join(dir, "src.sock");
  // As `ferry run --qmp unix:…` does: the monitor's sockets on its I/O thread.
  await monitor.server.listen({ kind: "unix", path: srcSock }, { ioThread: IO_THREAD });
  machine.start();

  const port = await freePort();
  const dstSock = join(dir, "dst.sock");
  const dstArgs = ["run", CONFIG, ...SETS.flatMap((s) => ["--set", s]), "--realtime"];
  dstArgs.push("--qmp", `unix:${dstSock}`, "--incoming", `tcp:127.0.0.1:${port}`);
  if (tls) dstArgs.push("--object", `tls-creds-x509,id=tls0,dir=${TLS}/good,endpoint=server`);
  // Both sides measure their longest event-loop stalls during the migration (bench/loop-probe.mjs).
  const dstLoop = join(dir, "dst-loop.json");
  const dst = spawn(
    process.execPath,
    [
      ...profile,
      "--import",
      "tsx",
      ...(LOOP_PROBES ? ["--import", "./bench/loop-probe.mjs"] : []),
      "packages/cli/src/bin.ts",
      ...dstArgs,
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        FERRY_LOOP_PROBE_OUT: dstLoop,
      },
    },
  );
  // The destination never outlives the bench (a failed run included).
  const killDst = (): void => {
    // (Not once it was told to end: it writes its CPU profile on the way out.)
    if (dst.exitCode === null && !dst.killed) dst.kill("SIGKILL");
  };
  process.once("exit", killDst);
  await waitFor(dst, "waiting for an incoming migration");
  if (tls || integrity === false) {
    // The destination's parameters: TLS credentials; x-integrity false makes it QEMU's (no
    // framing, no digest of the stream).
    const d = await connectQmp({ kind: "unix", path: dstSock }, qmpSpecs);
    await d.execute("migrate-set-parameters", {
      ...(tls ? { "tls-creds": "tls0" } : {}),
      ...(integrity === false ? { "x-integrity": false } : {}),
    });
    d.close();
  }
  const s = await connectQmp({ kind: "unix", path: srcSock }, qmpSpecs, { timeoutMs: 60_000 });
  await s.execute("migrate-set-capabilities", {
    capabilities: [{ capability: "events", state: true }],
  });
  await s.execute("migrate-set-parameters", {
    "max-bandwidth": BANDWIDTH,
    "x-integrity": integrity,
    ...(tls ? { "tls-creds": "tls0" } : {}),
  });
  const probe = spawn(process.execPath, ["bench/qmp-probe.mjs", srcSock, "10"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let probeOut = "";
  probe.stdout!.on("data", (b: Buffer) => {
    probeOut += b.toString();
  });
  // Baseline: the same probe for BASELINE_MS before the migration (guest running, no migration).
  const idleCpu0 = process.cpuUsage();
  const idleWall0 = performance.now();
  await new Promise((r) => setTimeout(r, BASELINE_MS));
  const idleCpu = process.cpuUsage(idleCpu0);
  /** CPU share of the idle source (guest, monitor) before the migration: ms of CPU per s of wall. */
  const idleCpuPerS =
    ((idleCpu.user + idleCpu.system) / 1e3 / (performance.now() - idleWall0)) * 1e3;
  probe.kill("SIGUSR2");
  if (LOOP_PROBES) dst.kill("SIGUSR2");
  const srcLoop = LOOP_PROBES ? startLoopProbe() : null;
  const cpu0 = process.cpuUsage();
  const srcUse0 = usageOf("self");
  const dstUse0 = usageOf(dst.pid!);
  await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
  const end = await s.waitEvent("MIGRATION", {
    match: (e) => ["completed", "failed", "cancelled"].includes(String(e.data?.status)),
    timeoutMs: 600_000,
  });
  const srcCpu = process.cpuUsage(cpu0);
  const srcUse = usageDelta(srcUse0, usageOf("self"));
  const dstUse = usageDelta(dstUse0, usageOf(dst.pid!));
  const srcStall = srcLoop?.report() ?? null;
  srcLoop?.stop();
  await new Promise((r) => setTimeout(r, 300));
  const dstStall = LOOP_PROBES ? (JSON.parse(readFileSync(dstLoop, "utf8")) as LoopStall) : null;
  const info = (await s.execute("query-migrate")) as Record<string, unknown>;
  probe.stdin!.end();
  await new Promise((r) => probe.once("exit", r));
  const { latenciesMs: latencies, baselineMs: baseline } = JSON.parse(probeOut) as {
    latenciesMs: number[];
    baselineMs: number[];
  };
  s.close();
  machine.stop();
  await monitor.close();
  rt.scheduler.dispose();
  dst.kill("SIGTERM");
  if (end.data?.status !== "completed") {
    throw new Error(`migration ${String(end.data?.status)}: ${String(info["error-desc"])}`);
  }
  const ramInfo = info.ram as { transferred: number };
  const totalMs = info["total-time"] as number;
  return {
    gbps: ramInfo.transferred / (totalMs * 1e6),
    totalMs,
    /** QEMU's setup-time and downtime (ms), and the passes. */
    setupMs: info["setup-time"] as number,
    downtimeMs: info.downtime as number,
    passes: (info.ram as { "dirty-sync-count"?: number })["dirty-sync-count"] ?? 0,
    latencies,
    baseline,
    srcCpuMs: (srcCpu.user + srcCpu.system) / 1e3,
    /** Both processes' CPU time (user, system) and minor page faults during the migration. */
    srcUse,
    dstUse,
    idleCpuPerS,
    srcStall,
    dstStall,
  };
}
