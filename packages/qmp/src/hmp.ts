/** `human-monitor-command`: the HMP `info` commands ferry answers, printed as QEMU prints them. */
import { formatInfoMigrate, type MigrationInfo } from "@ferry/migration";
import type { MigrationControl, VmControl } from "./control";

const UNITS: Readonly<Record<string, string>> = {
  "max-bandwidth": "bytes/second",
  "avail-switchover-bandwidth": "bytes/second",
  "downtime-limit": "ms",
  "xbzrle-cache-size": "bytes",
  "x-page-cost-ns": "ns",
};

/** Run one HMP command line; returns its output (lines end in CRLF, as QEMU's monitor buffer). */
export function runHmp(line: string, vm: VmControl, migration: MigrationControl): string {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((w) => w !== "");
  let out: string;
  if (words.length === 0) out = "";
  else if (words[0] !== "info") out = `unknown command: '${words[0]}'\n`;
  else {
    switch (words[1]) {
      case "status": {
        const s = vm.runState();
        out =
          s === "running"
            ? "VM status: running\n"
            : s === "paused"
              ? "VM status: paused\n"
              : `VM status: paused (${s})\n`;
        break;
      }
      case "migrate": {
        const info = migration.info();
        out = info.status === undefined ? "" : formatInfoMigrate(info as unknown as MigrationInfo);
        break;
      }
      case "migrate_capabilities":
        out = migration
          .capabilities()
          .map((c) => `${c.capability}: ${c.state ? "on" : "off"}\n`)
          .join("");
        break;
      case "migrate_parameters":
        out = Object.entries(migration.parameters())
          .map(([k, v]) => `${k}: ${String(v)}${UNITS[k] !== undefined ? ` ${UNITS[k]}` : ""}\n`)
          .join("");
        break;
      case undefined:
        out =
          "info: a subcommand is required (status, migrate, migrate_capabilities, migrate_parameters)\n";
        break;
      default:
        out = `unknown command: 'info ${words[1]}'\n`;
    }
  }
  return out.replace(/\r?\n/g, "\r\n");
}
