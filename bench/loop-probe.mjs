// Event-loop stall probe. Imported as a preload (`node --import ./bench/loop-probe.mjs …`, with
// FERRY_LOOP_PROBE_OUT=FILE) it measures the process it runs in: a 1 ms timer records the gaps
// between its ticks, in wall time and in CPU time this process used meanwhile (a gap with little
// CPU is the OS not running the process — machine load —, a gap full of CPU is code holding the
// event loop). SIGUSR2 restarts the measurement; every 250 ms the figures so far are written to
// FILE as JSON. `startLoopProbe()` does the same in-process and returns { reset, report }.
import { renameSync, writeFileSync } from "node:fs";

/** Start measuring; returns reset() and report() -> { maxGapMs, maxCpuInGapMs, p99GapMs, ticks }. */
export function startLoopProbe() {
  let gaps = [];
  let maxCpu = 0;
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let lastHr = process.hrtime.bigint();
  /** The longest gaps: [start, end] in process.hrtime µs (the clock of V8's CPU profiles), ms. */
  let worst = [];
  const timer = setInterval(() => {
    const w = performance.now();
    const c = process.cpuUsage();
    const hr = process.hrtime.bigint();
    const gap = w - lastWall;
    gaps.push(gap);
    if (gap > 5) {
      worst.push([Number(lastHr / 1000n), Number(hr / 1000n), gap]);
      if (worst.length > 16) worst = worst.sort((a, b) => b[2] - a[2]).slice(0, 8);
    }
    lastHr = hr;
    maxCpu = Math.max(maxCpu, (c.user - lastCpu.user + c.system - lastCpu.system) / 1e3);
    lastWall = w;
    lastCpu = c;
  }, 1);
  timer.unref();
  return {
    reset() {
      gaps = [];
      worst = [];
      maxCpu = 0;
      lastWall = performance.now();
      lastCpu = process.cpuUsage();
    },
    report() {
      const s = [...gaps].sort((a, b) => a - b);
      return {
        maxGapMs: s.at(-1) ?? 0,
        p99GapMs: s[Math.min(s.length - 1, Math.floor(0.99 * s.length))] ?? 0,
        maxCpuInGapMs: maxCpu,
        ticks: s.length,
        worst: [...worst].sort((a, b) => b[2] - a[2]).slice(0, 8),
      };
    },
    stop() {
      clearInterval(timer);
    },
  };
}

const out = process.env.FERRY_LOOP_PROBE_OUT;
if (out !== undefined && out !== "") {
  const probe = startLoopProbe();
  process.on("SIGUSR2", () => probe.reset());
  setInterval(() => {
    // Whole files only: the reader never sees a half-written one.
    writeFileSync(`${out}.tmp`, JSON.stringify(probe.report()));
    renameSync(`${out}.tmp`, out);
  }, 250).unref();
}
