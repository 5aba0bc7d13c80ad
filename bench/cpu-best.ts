/** CPU-time measurement for in-process benchmarks (the better figure on a loaded machine). */

/** The least CPU time (user + system, `process.cpuUsage`) of `runs` calls of `f`, in ms. */
export function cpuBest(f: () => void, runs: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t = process.cpuUsage();
    f();
    const d = process.cpuUsage(t);
    best = Math.min(best, (d.user + d.system) / 1000);
  }
  return best;
}
