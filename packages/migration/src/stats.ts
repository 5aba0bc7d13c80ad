/**
 * query-migrate style statistics, QEMU's HMP `info migrate` printout, and the time series.
 */
import type { MigrationStatus } from "./plugin";

/** RAM statistics (QEMU's MigrationStats, kebab-case field names). */
export interface RamStats {
  /** Stream bytes written so far. */
  readonly transferred: number;
  /** Dirty pages still to send × page size (omitted once completed). */
  readonly remaining?: number;
  /** Total guest RAM in bytes. */
  readonly total: number;
  /** Zero pages sent as ZERO records. */
  readonly duplicate: number;
  /** Pages sent raw. */
  readonly normal: number;
  /** `normal × page-size`. */
  readonly "normal-bytes": number;
  /** Dirty pages per second (omitted once completed). */
  readonly "dirty-pages-rate"?: number;
  /** Throughput in megabits per second. */
  readonly mbps: number;
  /** Number of dirty-log syncs. */
  readonly "dirty-sync-count": number;
  readonly "page-size": number;
  /** Pages sent per second (last measurement window). */
  readonly "pages-per-second": number;
  /** Bytes sent while the guest ran. */
  readonly "precopy-bytes": number;
  /** Bytes sent while the guest was stopped. */
  readonly "downtime-bytes": number;
  /** Bytes sent on the multifd data channels (with capability `multifd`; part of `transferred`). */
  readonly "multifd-bytes"?: number;
}

/** QEMU's MigrationInfo (kebab-case), plus sections contributed by plugins. */
export interface MigrationInfo {
  readonly status: MigrationStatus;
  /** ms since the migration started. */
  readonly "total-time"?: number;
  /** ms spent in setup. */
  readonly "setup-time"?: number;
  /** ms, while not completed. */
  readonly "expected-downtime"?: number;
  /** ms from source stop to destination resume, once completed. */
  readonly downtime?: number;
  readonly ram?: RamStats;
  /** Why it failed. */
  readonly "error-desc"?: string;
  /** Plugin sections (e.g. `xbzrle-cache`) and fields (e.g. `cpu-throttle-percentage`). */
  readonly [extra: string]: unknown;
}

/** One sample of the time series (per dirty sync, and per 100 ms bandwidth window). */
export interface TimeSample {
  /** `sync` (after a dirty-log sync) or `tick` (bandwidth window update). */
  readonly kind: "sync" | "tick";
  /** Virtual time since the migration started (ns). */
  readonly timeNs: number;
  /** Dirty bytes still to send. */
  readonly remainingBytes: number;
  /** Dirty rate (pages/s). */
  readonly dirtyRate: number;
  /** Measured transfer rate (bytes/s). */
  readonly transferRate: number;
  /** dirty-sync-count. */
  readonly iteration: number;
}

const kb = (bytes: number): number => Math.floor(bytes / 1024);

/** Print `info` like QEMU's HMP `info migrate` (one line per field, kbytes / pages). */
export function formatInfoMigrate(info: MigrationInfo): string {
  const lines: string[] = [`Migration status: ${info.status}`];
  if (info["error-desc"] !== undefined) lines.push(`error description: ${info["error-desc"]}`);
  if (info["total-time"] !== undefined) lines.push(`total time: ${info["total-time"]} ms`);
  if (info["expected-downtime"] !== undefined) {
    lines.push(`expected downtime: ${info["expected-downtime"]} ms`);
  }
  if (info.downtime !== undefined) lines.push(`downtime: ${info.downtime} ms`);
  if (info["setup-time"] !== undefined) lines.push(`setup: ${info["setup-time"]} ms`);
  const ram = info.ram;
  if (ram !== undefined) {
    lines.push(`transferred ram: ${kb(ram.transferred)} kbytes`);
    lines.push(`throughput: ${ram.mbps.toFixed(2)} mbps`);
    if (ram.remaining !== undefined) lines.push(`remaining ram: ${kb(ram.remaining)} kbytes`);
    lines.push(`total ram: ${kb(ram.total)} kbytes`);
    lines.push(`duplicate: ${ram.duplicate} pages`);
    lines.push(`normal: ${ram.normal} pages`);
    lines.push(`normal bytes: ${kb(ram["normal-bytes"])} kbytes`);
    lines.push(`dirty sync count: ${ram["dirty-sync-count"]}`);
    lines.push(`page size: ${kb(ram["page-size"])} kbytes`);
    lines.push(`pages-per-second: ${ram["pages-per-second"]}`);
    if (ram["dirty-pages-rate"]) lines.push(`dirty pages rate: ${ram["dirty-pages-rate"]} pages`);
    if (ram["precopy-bytes"]) lines.push(`precopy ram: ${kb(ram["precopy-bytes"])} kbytes`);
    if (ram["downtime-bytes"]) lines.push(`downtime ram: ${kb(ram["downtime-bytes"])} kbytes`);
    const pc = ram as unknown as Record<string, number | undefined>;
    if (pc["postcopy-requests"] !== undefined) {
      lines.push(`postcopy request count: ${pc["postcopy-requests"]}`);
    }
    if (pc["postcopy-bytes"] !== undefined) {
      lines.push(`postcopy ram: ${kb(pc["postcopy-bytes"])} kbytes`);
    }
    if (ram["multifd-bytes"] !== undefined) {
      lines.push(`multifd bytes: ${kb(ram["multifd-bytes"])} kbytes`);
    }
  }
  const known = new Set([
    "status",
    "error-desc",
    "total-time",
    "expected-downtime",
    "downtime",
    "setup-time",
    "ram",
  ]);
  for (const [key, value] of Object.entries(info)) {
    if (known.has(key)) continue;
    if (typeof value === "number") {
      lines.push(`${key.replace(/-/g, " ")}: ${fmt(value)}`);
    } else if (key === "xbzrle-cache" && value !== null && typeof value === "object") {
      const x = value as Record<string, number>;
      lines.push(`cache size: ${x["cache-size"] ?? 0} bytes`);
      lines.push(`xbzrle transferred: ${kb(x.bytes ?? 0)} kbytes`);
      lines.push(`xbzrle pages: ${x.pages ?? 0} pages`);
      lines.push(`xbzrle cache miss: ${x["cache-miss"] ?? 0} pages`);
      lines.push(`xbzrle cache miss rate: ${(x["cache-miss-rate"] ?? 0).toFixed(2)}`);
      lines.push(`xbzrle encoding rate: ${(x["encoding-rate"] ?? 0).toFixed(2)}`);
      lines.push(`xbzrle overflow: ${x.overflow ?? 0}`);
    } else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        lines.push(`${key.replace(/-/g, " ")} ${k.replace(/-/g, " ")}: ${String(v)}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
