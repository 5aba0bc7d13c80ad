/**
 * Linux boot time on ferry: `npx tsx bench/linux-boot.ts [config]` (default
 * examples/configs/linux.yaml). Boots the kernel and prints the wall time, virtual time and
 * instructions until /init's banner appears on the console, and until power-off. (Wall-clock
 * reads are fine here: this is the host benchmark, not simulated code.)
 */
import "reflect-metadata";
import { buildGuestMachine, loadConfig, readGuestElf } from "../packages/cli/src/index";

const file = process.argv[2] ?? "examples/configs/linux.yaml";
const overrides = process.argv.slice(3).map((a) => a.replace(/^--set=?/, ""));
const config = loadConfig(file, overrides);
const { machine, scheduler } = buildGuestMachine(config, readGuestElf(config, file));
const BANNER = "ferry-linux-init:";
let text = "";
let atInit: { wallMs: number; virtualMs: number; instructions: number } | null = null;
const t0 = performance.now();
machine.events.on("uart", (b) => {
  if (atInit !== null) return;
  text += String.fromCharCode(b);
  if (text.endsWith(BANNER)) {
    atInit = {
      wallMs: performance.now() - t0,
      virtualMs: scheduler.now() / 1e6,
      instructions: machine.workDone(),
    };
  }
});
const r = await machine.runUntilShutdown({ timeLimitNs: config.run.timeLimitNs });
const wallMs = performance.now() - t0;
const fmt = (x: { wallMs: number; virtualMs: number; instructions: number }): string =>
  `${(x.wallMs / 1000).toFixed(2)} s wall, ${x.virtualMs.toFixed(1)} ms virtual, ${(x.instructions / 1e6).toFixed(1)} M instructions (${(x.instructions / x.wallMs / 1000).toFixed(1)} MIPS)`;
if (atInit !== null) console.log(`to /init:   ${fmt(atInit)}`);
else console.log("to /init:   banner never appeared");
console.log(
  `power-off:  ${fmt({ wallMs, virtualMs: r.atNs / 1e6, instructions: machine.workDone() })} (${r.reason}, code ${r.code})`,
);
