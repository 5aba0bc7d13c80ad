/** Text output of `ferry migrate`: the progress line and the report. */
import { formatInfoMigrate } from "@ferry/migration";
import { formatDeclared } from "../report/declared-units";
import type { GuestWorkLost, MigrateProgress, MigrateReport } from "./run-migration";

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The controller slot of the progress line: the series the active controllers declare (e.g.
 * `throttle 45%  measured bandwidth 4.0 MiB/s`), else `cpu-throttle-percentage` when reported.
 */
function controllerSlot(p: MigrateProgress): string {
  if (p.declared !== undefined && p.declared.length > 0) {
    return `  ${p.declared.map((r) => formatDeclared(r.def, r.value)).join("  ")}`;
  }
  return p.throttlePercent !== undefined ? `  throttle ${p.throttlePercent}%` : "";
}

/**
 * One progress line (no newline): state, iteration, remaining, throughput, the controllers'
 * series (throttle), and whether it converges.
 */
export function formatProgress(p: MigrateProgress): string {
  const throttle = controllerSlot(p);
  const share = p.timeLimitNs > 0 ? Math.min(1, Math.max(0, p.virtualNs / p.timeLimitNs)) : 0;
  const filled = Math.round(share * PROGRESS_BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${"-".repeat(PROGRESS_BAR_WIDTH - filled)}]`;
  const time = `${(p.virtualNs / 1e9).toFixed(1)}/${(p.timeLimitNs / 1e9).toFixed(0)}s`;
  if (p.phase === "destination") {
    const work =
      p.destinationWork !== undefined
        ? `: ${p.destinationWork.done} ${p.destinationWork.unit} since it resumed`
        : "";
    return `ferry: migrate ${bar} ${time} [completed after ${p.iteration} iterations] destination running the guest on${work}`;
  }
  return (
    `ferry: migrate ${bar} ${time} ` +
    `[${p.status}] iteration ${p.iteration}  remaining ${mib(p.remainingBytes)}  ` +
    `${p.mbps.toFixed(1)} Mbps${throttle}${convergence(p)}`
  );
}

/**
 * Whether the migration is converging, from what QEMU measures: the pending set against the
 * switchover threshold (bandwidth × downtime-limit) and the dirty rate against the bandwidth.
 */
export function convergenceVerdict(p: MigrateProgress): string {
  if (p.status !== "active") return p.status;
  const dirty = p.dirtyBytesPerSec ?? 0;
  const bw = p.bandwidthBytesPerSec ?? 0;
  if (
    p.thresholdBytes !== undefined &&
    p.thresholdBytes > 0 &&
    p.remainingBytes <= p.thresholdBytes
  )
    return "below threshold: switchover next";
  if (dirty === 0 || bw === 0) return "measuring";
  return dirty < bw
    ? "converging (dirty rate < bandwidth)"
    : "NOT converging (dirty rate ≥ bandwidth)";
}

function convergence(p: MigrateProgress): string {
  if (p.thresholdBytes === undefined) return "";
  const rate = (b: number | undefined) => `${((b ?? 0) / 2 ** 20).toFixed(1)} MiB/s`;
  const downtime =
    p.expectedDowntimeMs !== undefined
      ? `  expected downtime ${Math.round(p.expectedDowntimeMs)}/${p.downtimeLimitMs ?? 0} ms`
      : "";
  return (
    `  threshold ${mib(p.thresholdBytes)}  dirty ${rate(p.dirtyBytesPerSec)} vs ` +
    `bandwidth ${rate(p.bandwidthBytesPerSec)}${downtime}  sent ${mib(p.transferredBytes ?? 0)}` +
    `  → ${convergenceVerdict(p)}`
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
  if (r.stats !== null) {
    parts.push(section("info migrate", formatInfoMigrate(r.stats) + notesOf(r)));
  }
  if (r.guestOutput.reference !== null) {
    parts.push(section("guest output: source, until switchover", r.guestOutput.source));
    parts.push(section("guest output: destination, after switchover", r.guestOutput.destination));
  }
  const short = (h: string | null): string => (h === null ? "none" : h.slice(0, 16));
  const lines = [
    v.destinationRamHash === "postcopy"
      ? `RAM at the end (post-copy): pages the destination did not write = source at switch ${short(v.sourceRamHash)}  ${mark(v.ramEqual)}`
      : `RAM at switchover (sha256): source ${short(v.sourceRamHash)}  destination ${short(v.destinationRamHash)}  ${mark(v.ramEqual)}`,
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
  const unit = r.workLost?.unit ?? "work";
  lines.push(
    `${unit} before / during / after migration: ${v.workBeforeMigration} / ${v.workDuringMigration} / ${v.workAfterMigration}`,
    `verified: ${v.verified ? "yes" : "no"}`,
  );
  parts.push(section("verification", lines.join("\n")));
  if (r.workLost !== null) parts.push(section("guest work lost", formatWorkLost(r.workLost)));
  if (r.actions.length > 0) parts.push(section("operator actions", formatActions(r.actions)));
  return parts.join("");
}

/** One line per fired operator action: time after the migration started, pass, what, outcome. */
export function formatActions(actions: MigrateReport["actions"]): string {
  return `${actions
    .map((a) => {
      const what =
        a.kind === "set"
          ? `set ${JSON.stringify(a.value)}`
          : a.kind === "throttle"
            ? `throttle ${String(a.value)}%`
            : a.kind;
      const outcome = a.result === "ok" ? "ok" : `refused: ${a.error ?? ""}`;
      return `+${(a.atNs / 1e9).toFixed(3)} s  pass ${a.pass}  ${a.status}  ${what}  ${outcome}`;
    })
    .join("\n")}\n`;
}

/** Units of the `info migrate` lines that need one explained (appended under the stats). */
function notesOf(r: MigrateReport): string {
  const notes: string[] = [];
  const text = r.stats === null ? "" : formatInfoMigrate(r.stats);
  if (/throttled (ns|ms)/.test(text)) {
    notes.push(
      `(throttled ns/ms: time the vCPUs slept for the throttle, summed over all ${r.vcpus} vCPUs)`,
    );
  }
  if (/pages-per-second: 0\b/.test(text)) {
    notes.push(
      "(pages-per-second: pages sent per second over the last completed 100 ms bandwidth " +
        "window; 0 when the migration ended within its first window)",
    );
  }
  return notes.length === 0 ? "" : `${notes.join("\n")}\n`;
}

/** The guest-work-lost section: the work the migration cost the guest, with its unit. */
export function formatWorkLost(w: GuestWorkLost): string {
  const s = (ns: number): string => `${(ns / 1e9).toFixed(3)} s`;
  return (
    `${w.lost} ${w.unit} (${(w.lostShare * 100).toFixed(1)} % of the ${w.reference} the ` +
    `unmigrated twin did from ${s(w.spanStartNs)} to ${s(w.spanEndNs)} of virtual time; ` +
    `the migrated guest did ${w.migrated})\n`
  );
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
