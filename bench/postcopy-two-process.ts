/**
 * Post-copy page-fault latency between two real `ferry run --realtime` processes over loopback
 * TCP, without and with `postcopy-preempt`, driven through QMP like an operator would.
 *
 * Guest: memtouch writing one word every 64 KiB over 3/4 of a `FERRY_PC_MIB` MiB RAM (default
 * 128), paced at 50 MIPS: it hops across memory faster than the background push, so it faults on
 * pages far ahead of it. The source migrates with
 * `postcopy-ram` (and `postcopy-preempt`), `migrate-start-postcopy` right after `migrate`, so the
 * destination runs the guest while most pages are still to come and faults them in. Each
 * configuration runs `FERRY_PC_RUNS` times (default 3); printed per run: the destination's fault
 * latency mean / p99 / max (query-migrate `postcopy-latency`, `x-postcopy-latency-p99`, `-max`),
 * the source's `postcopy-requests`, pages sent on the preempt channel, the vCPU's blocktime, the
 * post-copy phase's wall time, and the load average at the start.
 *
 *   pnpm exec tsx bench/postcopy-two-process.ts
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { connectQmp, type QmpClient, type QmpSpecs, qmpSpecs } from "../packages/qmp/src/index";

const MIB = Number(process.env.FERRY_PC_MIB ?? 128);
const RUNS = Number(process.env.FERRY_PC_RUNS ?? 3);
const CONFIG = "examples/configs/memtouch.yaml";
/** memtouch: one word every 64 KiB over 3/4 of RAM, 20000 passes, paced at 50 MIPS (~12 s). */
const ARGS = [
  "--realtime",
  "--pace",
  "--set",
  "machine.mips=50",
  "--set",
  `machine.memory=${MIB}MiB`,
  "--set",
  `guest.args=[${(MIB * 3) / 4}MiB, 65536, 20000, 1, 0, 5000]`,
];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function ferry(argv: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...argv], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  return { child, stderr: () => err };
}

async function waitFor(what: () => boolean, ms: number, why: string): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error(`timed out: ${why}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Monitor = QmpClient<QmpSpecs>;

interface Row {
  readonly meanMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly requests: number;
  readonly preemptPages: number;
  readonly blockMs: number;
  readonly postcopyMs: number;
  readonly load: number;
}

async function once(preempt: boolean): Promise<Row> {
  const load = loadavg()[0];
  const dir = mkdtempSync(join(tmpdir(), "ferry-pc-bench-"));
  const port = await freePort();
  const dst = ferry([
    "run",
    CONFIG,
    ...ARGS,
    "--qmp",
    `unix:${dir}/d.sock`,
    "--incoming",
    `tcp:127.0.0.1:${port}`,
  ]);
  const src = ferry(["run", CONFIG, ...ARGS, "--qmp", `unix:${dir}/s.sock`]);
  try {
    await waitFor(() => src.stderr().includes(`listening on unix:${dir}/s.sock`), 90_000, "source");
    await waitFor(() => dst.stderr().includes("waiting for an incoming migration"), 90_000, "dest");
    const s: Monitor = await connectQmp({ kind: "unix", path: `${dir}/s.sock` }, qmpSpecs);
    const d: Monitor = await connectQmp({ kind: "unix", path: `${dir}/d.sock` }, qmpSpecs);
    const caps = {
      capabilities: [
        { capability: "postcopy-ram", state: true },
        { capability: "postcopy-preempt", state: preempt },
        { capability: "events", state: true },
      ],
    };
    await s.execute("migrate-set-capabilities", caps);
    await d.execute("migrate-set-capabilities", caps);
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    await s.execute("migrate-start-postcopy");
    const started = await s.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "postcopy-active",
      timeoutMs: 120_000,
    });
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => ["completed", "failed"].includes(String(e.data?.status)),
      timeoutMs: 300_000,
    });
    const info = (await s.execute("query-migrate")) as Record<string, unknown>;
    if (end.data?.status !== "completed") throw new Error(JSON.stringify(info));
    const dinfo = (await d.execute("query-migrate")) as Record<string, unknown>;
    const us = (e: { timestamp: { seconds: number; microseconds: number } }): number =>
      e.timestamp.seconds * 1e6 + e.timestamp.microseconds;
    const ram = info.ram as Record<string, number>;
    s.close();
    d.close();
    return {
      meanMs: (dinfo["postcopy-latency"] as number) / 1e6,
      p99Ms: (dinfo["x-postcopy-latency-p99"] as number) / 1e6,
      maxMs: (dinfo["x-postcopy-latency-max"] as number) / 1e6,
      requests: ram["postcopy-requests"],
      preemptPages: (info["x-postcopy-preempt-pages"] as number | undefined) ?? 0,
      blockMs: (dinfo["postcopy-vcpu-blocktime"] as number[])[0],
      postcopyMs: (us(end) - us(started)) / 1000,
      load,
    };
  } finally {
    src.child.kill("SIGKILL");
    dst.child.kill("SIGKILL");
  }
}

const f = (x: number): string => x.toFixed(1);
console.log(
  `post-copy between two processes over loopback: ${MIB} MiB guest, memtouch stride 64 KiB`,
);
console.log(
  "preempt | mean ms | p99 ms | max ms | requests | preempt pages | blocktime ms | post-copy ms | load",
);
for (const preempt of [false, true]) {
  for (let i = 0; i < RUNS; i++) {
    const r = await once(preempt);
    console.log(
      `${preempt ? "on " : "off"}     | ${f(r.meanMs)} | ${f(r.p99Ms)} | ${f(r.maxMs)} | ${r.requests} | ${r.preemptPages} | ${r.blockMs} | ${f(r.postcopyMs)} | ${r.load.toFixed(1)}`,
    );
  }
}
