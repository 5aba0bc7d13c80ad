/** Text output of `ferry migrate`: the progress line and the report. */
import { formatInfoMigrate } from "@ferry/migration";
import type { MigrateProgress, MigrateReport } from "./run-migration";

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** One progress line (no newline): state, iteration, remaining, throughput, throttle. */
export function formatProgress(p: MigrateProgress): string {
  const throttle = p.throttlePercent !== undefined ? `  throttle ${p.throttlePercent}%` : "";
  const share = p.timeLimitNs > 0 ? Math.min(1, Math.max(0, p.virtualNs / p.timeLimitNs)) : 0;
  const filled = Math.round(share * PROGRESS_BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${"-".repeat(PROGRESS_BAR_WIDTH - filled)}]`;
  return (
    `ferry: migrate ${bar} ${(p.virtualNs / 1e9).toFixed(1)}/${(p.timeLimitNs / 1e9).toFixed(0)}s ` +
    `[${p.status}] iteration ${p.iteration}  remaining ${mib(p.remainingBytes)}  ` +
    `${p.mbps.toFixed(1)} Mbps${throttle}`
  );
}

/** Characters of the progress bar (virtual time against `run.time-limit`). */
const PROGRESS_BAR_WIDTH = 20;

function mark(ok: boolean | null): string {
  return ok === null ? "n/a" : ok ? "ok" : "MISMATCH";
}

function section(title: string, body: string): string {
  const text = body === "" ? "(none)\n" : body.endsWith("\n") ? body : `${body}\n`;
  return `--- ${title} ---\n${text}`;
}

/** The full text report: info migrate, guest output of both sides, verification. */
export function formatMigrateReport(r: MigrateReport): string {
  const v = r.verification;
  const parts: string[] = [];
  if (r.stats !== null) parts.push(section("info migrate", formatInfoMigrate(r.stats)));
  if (r.guestOutput.reference !== null) {
    parts.push(section("guest output: source, until switchover", r.guestOutput.source));
    parts.push(section("guest output: destination, after switchover", r.guestOutput.destination));
  }
  const short = (h: string | null): string => (h === null ? "none" : h.slice(0, 16));
  const lines = [
    `RAM at switchover (sha256): source ${short(v.sourceRamHash)}  destination ${short(v.destinationRamHash)}  ${mark(v.ramEqual)}`,
    `vCPU and device state:      ${mark(v.stateEqual)}`,
  ];
  if (v.continuationEqual !== null) {
    lines.push(
      `continuation = shadow source: ${mark(v.continuationEqual)} (shadow: ${v.shadow?.status ?? "not run"} code ${v.shadow?.guestCode ?? "-"})`,
    );
  }
  if (v.reference !== null) {
    lines.push(
      `guest output = unmigrated:  ${mark(v.outputEqual)} (${r.guestOutput.combined.length} bytes)`,
      `guest exit = unmigrated:    ${mark(v.exitEqual)} (migrated: ${v.migrated?.status} code ` +
        `${v.migrated?.guestCode}, unmigrated: ${v.reference.status} code ${v.reference.guestCode})`,
    );
  }
  lines.push(
    `work before / during / after migration: ${v.workBeforeMigration} / ${v.workDuringMigration} / ${v.workAfterMigration}`,
    `verified: ${v.verified ? "yes" : "no"}`,
  );
  parts.push(section("verification", lines.join("\n")));
  return parts.join("");
}

/** The one-line summary for stderr. */
export function formatMigrateSummary(name: string, r: MigrateReport): string {
  const extra = r.message !== undefined ? `: ${r.message}` : "";
  const timing =
    r.stats?.downtime !== undefined
      ? `, total ${r.stats["total-time"]} ms, downtime ${r.stats.downtime} ms`
      : "";
  return `ferry: ${name}: migration ${r.status}${timing}${extra} (exit ${r.exitCode}, ${r.wallMs} ms wall)\n`;
}
