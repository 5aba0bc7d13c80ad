/**
 * The seed-specjbb reproduction benchmark: runs the 256 GiB scenario of
 * `examples/configs/seed-specjbb.yaml` through `bench/seed-scenario.ts`
 * (auto-converge off, `rfc-2013`, `qemu`, and xbzrle when the plugin is available) and prints
 * each run's query-migrate figures beside the published ones, with the wall time of each run.
 *
 *   npx tsx bench/seed-repro.ts                 (every mode, full scale)
 *   npx tsx bench/seed-repro.ts off rfc-2013    (chosen modes)
 *   SCALE=16 npx tsx bench/seed-repro.ts        (a reduced-size run: sizes and rates / 16)
 */
import { performance } from "node:perf_hooks";
import type { FerryPlugin } from "../packages/migration/src/index";
import { runSeedScenario, type SeedMode } from "./seed-scenario";

/** One row of the printed table. */
interface Row {
  readonly run: string;
  readonly status: string;
  readonly timeS: number;
  readonly transferredGB: number;
  readonly remainingGB: number | null;
  readonly dirtyRate: number | null;
  readonly downtimeS: number | null;
  readonly throttle: string;
  readonly wallS: number;
  readonly contentEqual: boolean | null;
}

async function loadXbzrle(): Promise<FerryPlugin | null> {
  try {
    const mod = (await import("../plugins/xbzrle/src/index")) as Record<string, unknown>;
    const factory = mod.xbzrle;
    return typeof factory === "function" ? (factory as () => FerryPlugin)() : null;
  } catch {
    return null;
  }
}

async function runOne(name: string, mode: SeedMode, scale: number, x: FerryPlugin | null) {
  const t0 = performance.now();
  const r = await runSeedScenario({ mode, scale, ...(x ? { xbzrle: x } : {}) });
  const wallS = (performance.now() - t0) / 1000;
  const ram = r.info.ram!;
  const ac = r.info["auto-converge"] as Record<string, number> | undefined;
  const row: Row = {
    run: name,
    status: r.info.status,
    timeS: (r.info["total-time"] ?? 0) / 1000,
    transferredGB: (ram.transferred * scale) / 1e9,
    remainingGB: ram.remaining === undefined ? null : (ram.remaining * scale) / 1e9,
    dirtyRate: ram["dirty-pages-rate"] === undefined ? null : ram["dirty-pages-rate"] * scale,
    downtimeS: r.info.downtime === undefined ? null : r.info.downtime / 1000,
    throttle: ac ? `${ac["max-throttle-percentage"]}% max, ${ac["throttle-actions"]} actions` : "-",
    wallS,
    contentEqual: r.contentEqual,
  };
  return row;
}

const PUBLISHED = [
  "published off : active after 1487 s, ~383 GB, remaining ~2.7 GB, dirty ~67,551 pages/s",
  "published on  : completed in ~241 s, ~28 GB, downtime ~6.4 s",
];

async function main(): Promise<void> {
  const scale = Number(process.env.SCALE ?? "1");
  const args = process.argv.slice(2);
  const all = ["off", "rfc-2013", "qemu", "xbzrle", "xbzrle+rfc-2013"];
  const wanted = args.length > 0 ? args : all;
  const x = wanted.some((w) => w.startsWith("xbzrle")) ? await loadXbzrle() : null;
  const f = (v: number | null, d = 1): string => (v === null ? "-" : v.toFixed(d));
  console.log(`seed-specjbb, scale 1/${scale}`);
  for (const p of PUBLISHED) console.log(p);
  console.log(
    "run | status | time s | transferred GB | remaining GB | dirty pages/s | downtime s | throttle | wall s | dst == src",
  );
  for (const w of wanted) {
    if (w.startsWith("xbzrle") && x === null) {
      console.log(`${w} | skipped: the xbzrle plugin factory is not available`);
      continue;
    }
    const mode: SeedMode = w === "xbzrle" ? "off" : (w.replace("xbzrle+", "") as SeedMode);
    const row = await runOne(w, mode, scale, w.startsWith("xbzrle") ? x : null);
    console.log(
      [
        row.run,
        row.status,
        f(row.timeS),
        f(row.transferredGB),
        f(row.remainingGB, 2),
        f(row.dirtyRate, 0),
        f(row.downtimeS, 2),
        row.throttle,
        f(row.wallS),
        String(row.contentEqual ?? "-"),
      ].join(" | "),
    );
  }
}

await main();
