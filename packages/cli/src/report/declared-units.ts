/**
 * How a declared series' values are shown: `bytes` and `bytes/s` in MiB and MiB/s, other units as
 * declared; per-vCPU values as one figure when all vCPUs agree, else their range.
 */
import type { SeriesDef, SeriesValue } from "@ferry/migration";

const MIB = 2 ** 20;

/** The unit a series is drawn and printed in, and the factor from its declared unit. */
export function displayUnit(unit: string): { readonly unit: string; readonly divisor: number } {
  if (unit === "bytes") return { unit: "MiB", divisor: MIB };
  if (unit === "bytes/s") return { unit: "MiB/s", divisor: MIB };
  return { unit, divisor: 1 };
}

function number(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function withUnit(text: string, unit: string): string {
  return unit === "%" ? `${text}%` : `${text} ${unit}`;
}

/**
 * `label value unit` for a progress line: `throttle 45%`, `measured bandwidth 4.0 MiB/s`,
 * `dirty limit 1 MB/s (20 vCPUs)`, `dirty limit 1–5 MB/s (per vCPU)`. `rate`: the value is a
 * counter's rate, shown per second.
 */
export function formatDeclared(def: SeriesDef, value: SeriesValue, rate = false): string {
  const shown = displayUnit(def.unit);
  const unit = rate ? `${shown.unit}/s` : shown.unit;
  const scaled = (v: number): number => v / shown.divisor;
  if (typeof value === "number") return `${def.label} ${withUnit(number(scaled(value)), unit)}`;
  if (value.length === 0) return `${def.label} -`;
  const min = scaled(Math.min(...value));
  const max = scaled(Math.max(...value));
  if (min === max) {
    return `${def.label} ${withUnit(number(min), unit)} (${value.length} vCPUs)`;
  }
  return `${def.label} ${withUnit(`${number(min)}–${number(max)}`, unit)} (per vCPU)`;
}
