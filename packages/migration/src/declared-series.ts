/**
 * Time series a plugin part declares (a controller's throttle, its per-vCPU dirty limits, a rate
 * it measures): the declaration ({@link SeriesDef}), the part-side interface
 * ({@link SeriesSource}) and the per-migration set the thread reads them through
 * ({@link DeclaredSeriesSet}). The framework never samples on its own: whoever charts a migration
 * (the CLI's reports and progress line) calls {@link DeclaredSeriesSet.sample} when it likes, and
 * reading a value must not change anything, so sampling never changes a migration's outcome.
 */
import { MigrationError } from "./errors";

/** How a series is drawn: a percentage (0–100), a linear or a logarithmic y axis. */
export type SeriesScale = "percent" | "linear" | "log";

/**
 * What a value is: a `gauge` is the value now (a throttle %, a limit); a `counter` is a
 * cumulative total (bytes, ns slept) that a report turns into a rate over each row's window.
 */
export type SeriesKind = "gauge" | "counter";

/** One declared time series. */
export interface SeriesDef {
  /**
   * Key, unique among the series of one migration (kebab-case; QEMU's field name where there is
   * one, e.g. `cpu-throttle-percentage`, else prefixed with the plugin's name).
   */
  readonly key: string;
  /** Short legend label (`throttle`, `dirty limit`). */
  readonly label: string;
  /**
   * Unit of the values (`%`, `bytes/s`, `bytes`, `MB/s`, `ns`, …). A report draws `bytes` and
   * `bytes/s` in MiB and MiB/s.
   */
  readonly unit: string;
  /** Axis scale (default `linear`). */
  readonly scale?: SeriesScale;
  /** Default `gauge`. */
  readonly kind?: SeriesKind;
  /** The value is one number per vCPU (index = vCPU index), drawn as one line per vCPU. */
  readonly perVcpu?: boolean;
}

/** A sampled value: a number, or one number per vCPU when the series is `perVcpu`. */
export type SeriesValue = number | readonly number[];

/** The values of a sample, by series key (a key left out has no value at that moment). */
export type SeriesValues = Readonly<Record<string, SeriesValue>>;

/**
 * A part that declares time series: {@link ConvergenceInstance} and {@link SectionSaver} may.
 * `series` is read once, when the migration starts; `seriesValues()` whenever a sample is taken
 * (at every dirty-log sync after the controllers acted, and between syncs), also after the
 * migration ended. It must be cheap and must not change any state.
 */
export interface SeriesSource {
  /** The series this part declares. */
  readonly series?: readonly SeriesDef[];
  /** Current values by key (counters: the total so far). */
  seriesValues?(): SeriesValues;
}

/** The declared series of one migration, in declaration order, and their current values. */
export interface DeclaredSeriesSet {
  /** Every declared series (every key once). */
  readonly defs: readonly SeriesDef[];
  /** Current values of every series that has one now. */
  sample(): Record<string, SeriesValue>;
}

const KEY = /^[a-z0-9][a-z0-9-]*$/;

function checkValue(def: SeriesDef, v: unknown): v is SeriesValue {
  if (def.perVcpu === true) return Array.isArray(v) && v.every((x) => typeof x === "number");
  return typeof v === "number";
}

/**
 * Collect the series of `parts` (parts without `series` are skipped).
 * @throws MigrationError when a key is malformed or declared twice (the migration does not start).
 */
export function declaredSeriesOf(parts: readonly SeriesSource[]): DeclaredSeriesSet {
  const defs: SeriesDef[] = [];
  const owners: { source: SeriesSource; defs: readonly SeriesDef[] }[] = [];
  const seen = new Set<string>();
  for (const part of parts) {
    const own = part.series ?? [];
    if (own.length === 0 || part.seriesValues === undefined) continue;
    for (const d of own) {
      if (!KEY.test(d.key)) {
        throw new MigrationError(
          `declared series "${d.key}": expected a kebab-case key (a-z, 0-9, "-")`,
        );
      }
      if (seen.has(d.key)) {
        throw new MigrationError(
          `declared series "${d.key}" is declared twice (prefix series keys with the plugin's name)`,
        );
      }
      seen.add(d.key);
      defs.push(d);
    }
    owners.push({ source: part, defs: own });
  }
  return {
    defs,
    sample() {
      const out: Record<string, SeriesValue> = {};
      for (const { source, defs: own } of owners) {
        const values = source.seriesValues!();
        for (const d of own) {
          const v = values[d.key];
          if (checkValue(d, v)) out[d.key] = Array.isArray(v) ? [...v] : v;
        }
      }
      return out;
    },
  };
}
