/**
 * Sensitivity of the seed-specjbb reproduction to its fitted parameters (docs/results.md):
 * each fitted parameter at −20 % and +20 % of its value, everything else as calibrated, at 1/128
 * scale (`scaleSeedConfig`: the timeline of the full run), with auto-converge off and with the
 * `rfc-2013` policy. Prints a Markdown table.
 *
 *   npx tsx bench/seed-sensitivity.ts            (about 40 runs; SCALE=64 for closer to full size)
 */
import "reflect-metadata";
import { type FerryConfig, loadConfig, runMigration } from "@ferry/cli";
import { SEED_CONFIG_PATH, scaleSeedConfig } from "./seed-scenario";

/** A fitted parameter: its config path and calibrated value (full scale, config units). */
interface Fitted {
  readonly name: string;
  readonly path: string;
  readonly value: number;
  /** How to write a value as a `--set` override. */
  readonly format: (v: number) => string;
}

/** The parameters docs/results.md tags as fitted. */
export const FITTED: readonly Fitted[] = [
  {
    name: "link bandwidth (2112 Mbit/s)",
    path: "migration.link.bandwidth",
    value: 2112,
    format: (v) => `${Math.round(v)}Mbit/s`,
  },
  {
    name: "x-page-cost-ns (1900)",
    path: "migration.parameters.x-page-cost-ns",
    value: 1900,
    format: (v) => String(Math.round(v)),
  },
  {
    name: "hot-bytes (4 GiB)",
    path: "workload.distribution.hot-bytes",
    value: 4096,
    format: (v) => `${Math.round(v)}MiB`,
  },
  {
    name: "hot-share (0.97)",
    path: "workload.distribution.hot-share",
    value: 0.97,
    format: (v) => String(Math.min(1, v)),
  },
  {
    name: "writes-per-second (6250/vCPU)",
    path: "workload.writes-per-second",
    value: 6250,
    format: (v) => String(Math.round(v)),
  },
];

type Mode = "off" | "rfc-2013";

function configFor(mode: Mode, sets: readonly string[], scale: number): FerryConfig {
  const base = scaleSeedConfig(loadConfig(SEED_CONFIG_PATH, [...sets]), scale);
  return {
    ...base,
    migration: {
      ...base.migration,
      capabilities: { "auto-converge": mode === "rfc-2013" },
      parameters: { ...base.migration.parameters, "x-auto-converge-policy": "rfc-2013" },
    },
  };
}

interface Outcome {
  readonly status: string;
  readonly totalS: number;
  readonly gb: number;
  readonly downtimeS: number | null;
}

async function run(mode: Mode, sets: readonly string[], scale: number): Promise<Outcome> {
  const r = await runMigration(configFor(mode, sets, scale));
  const st = r.stats;
  return {
    status: r.status,
    totalS: (st?.["total-time"] ?? 0) / 1000,
    // Scaled back to full size: bytes scale with RAM.
    gb: ((st?.ram?.transferred ?? 0) * scale) / 1e9,
    downtimeS: st?.downtime === undefined ? null : st.downtime / 1000,
  };
}

const cell = (o: Outcome): string =>
  o.status === "completed"
    ? `${o.totalS.toFixed(0)} s, ${o.gb.toFixed(1)} GB, ${o.downtimeS?.toFixed(2)} s`
    : `${o.status} at ${o.totalS.toFixed(0)} s, ${o.gb.toFixed(0)} GB`;

async function main(): Promise<void> {
  const scale = Number(process.env.SCALE ?? 128);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`seed-specjbb sensitivity at 1/${scale} (transferred scaled to full size)\n`);
  out(
    "| parameter | value | off: status, time, transferred | rfc-2013: time, transferred, downtime |",
  );
  out("| --- | --- | --- | --- |");
  const [off, on] = [await run("off", [], scale), await run("rfc-2013", [], scale)];
  out(`| (as calibrated) | | ${cell(off)} | ${cell(on)} |`);
  for (const f of FITTED) {
    for (const factor of [0.8, 1.2]) {
      const sets = [`${f.path}=${f.format(f.value * factor)}`];
      const [a, b] = [await run("off", sets, scale), await run("rfc-2013", sets, scale)];
      out(
        `| ${f.name} | ${factor < 1 ? "−20 %" : "+20 %"} (${f.format(f.value * factor)}) | ${cell(a)} | ${cell(b)} |`,
      );
    }
  }
}

await main();
