/**
 * `migration.actions`: a scripted operator in virtual time. A timeline raising `max-bandwidth`
 * mid-migration raises the measured transfer rate from that moment, the external throttle and a
 * cancel fire at their times, everything is recorded in the report, and two runs of the same
 * config are byte-identical. Bad timelines are one-line errors naming the field.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, type MigrateReport, parseConfigText, runMigration } from "../src/index";

const CONFIG = `
name: timeline
machine: { vcpus: 2, memory: 16MiB, ram-backend: array, slice: 1ms }
workload:
  seed: 5
  writes-per-second: 20000
  distribution: { kind: uniform }
run: { time-limit: 6s, seed: 1 }
migration:
  start-after: 100ms
  link: { bandwidth: 1Gbit/s, latency: 1ms }
  parameters: { max-bandwidth: 4MiB/s, downtime-limit: 50ms }
  actions:
    - { at: 1500ms, set: { max-bandwidth: 16MiB/s } }
    - { pass: 2, throttle: 30 }
    - { at: 2500ms, do: continue }
    - { at: 3s, do: cancel }
`;

/** Bytes/s transferred between two times after the migration started (from the report series). */
function rate(r: MigrateReport, fromNs: number, toNs: number): number {
  const at = (t: number): number => {
    let best = r.series[0];
    for (const s of r.series) if (s.timeNs <= t) best = s;
    return best.transferredBytes;
  };
  return (at(toNs) - at(fromNs)) / ((toNs - fromNs) / 1e9);
}

describe("operator timeline from a config", () => {
  it("changes the transfer rate from the action on; deterministic; recorded", async () => {
    const run = () => runMigration(parseConfigText(CONFIG), { plugins: undefined });
    const a = await run();
    const MiB = 1024 * 1024;
    const before = rate(a, 500e6, 1500e6) / MiB;
    const after = rate(a, 1600e6, 2400e6) / MiB;
    // QEMU's limiter counts bytes per flush of 32 raw pages and ends a 100 ms window on the first
    // flush past max-bandwidth / 10: at 4 MiB/s 128 pages instead of 102 per window (~5 MiB/s).
    expect(before).toBeGreaterThanOrEqual(4);
    expect(before).toBeLessThan(6);
    expect(after).toBeGreaterThanOrEqual(16);
    expect(after).toBeLessThan(19);
    expect(a.status).toBe("cancelled");
    expect(a.actions.map((x) => [x.index, x.atNs, x.kind, x.result])).toEqual([
      [0, 1.5e9, "set", "ok"],
      [1, a.actions[1].atNs, "throttle", "ok"],
      [2, 2.5e9, "continue", "error"],
      [3, 3e9, "cancel", "ok"],
    ]);
    expect(a.actions[1].pass).toBe(2);
    expect(a.actions[1].atNs).toBeGreaterThan(1.5e9);
    expect(a.actions[0].value).toEqual({ "max-bandwidth": 16 * MiB });
    expect(a.actions[2].error).toBe("Migration not in expected state: active");
    // the external 30 % throttle from pass 2 on costs the guest work (the twin is not throttled)
    expect(a.workLost!.lostShare).toBeGreaterThan(0.05);
    const b = await run();
    const strip = (r: MigrateReport) => JSON.stringify({ ...r, wallMs: 0 });
    expect(strip(b)).toBe(strip(a));
  }, 60_000);

  it("pause-before-switchover held until a `do: continue`; verified like any switchover", async () => {
    const paused = CONFIG.replace(/ {2}parameters:[\s\S]*$/, "").concat(
      "  capabilities: { pause-before-switchover: true }\n",
      "  parameters: { max-bandwidth: 0, downtime-limit: 2000ms }\n",
    );
    const r = await runMigration(
      parseConfigText(paused.concat("  actions: [{ at: 2s, do: continue }]\n")),
    );
    expect(r.status).toBe("completed");
    expect(r.verification.verified).toBe(true);
    expect(r.verification.ramEqual).toBe(true);
    expect(r.actions.map((a) => [a.atNs, a.status, a.kind, a.result])).toEqual([
      [2e9, "pre-switchover", "continue", "ok"],
    ]);
    // the downtime runs from the stop of the vCPUs, through the pause
    expect(r.stats!.downtime!).toBeGreaterThan(1000);
    const held = await runMigration(
      parseConfigText(paused.replace("time-limit: 6s", "time-limit: 2s")),
    );
    expect(held.status).toBe("pre-switchover");
    expect(held.message).toMatch(/^paused before switchover at the time limit/);
  }, 60_000);

  it("refuses bad timelines with one-line errors naming the field", async () => {
    const bad = (actions: string): string => {
      try {
        parseConfigText(CONFIG.replace(/ {2}actions:[\s\S]*$/, `  actions: ${actions}\n`));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(bad("[{ set: { max-bandwidth: 1 } }]")).toMatch(
      /migration\.actions\.0\.at.*`at`.*`pass`/,
    );
    expect(bad("[{ at: 1s, pass: 2, do: cancel }]")).toMatch(/either `at` or `pass`/);
    expect(bad("[{ at: 1s }]")).toMatch(
      /migration\.actions\.0\.set.*one of `set`, `throttle` or `do`/,
    );
    expect(bad("[{ at: 1s, throttle: 100 }]")).toMatch(/migration\.actions\.0\.throttle.*0 to 99/);
    expect(bad("[{ at: 1s, do: pause }]")).toMatch(
      /migration\.actions\.0\.do.*"continue" or "cancel"/,
    );
    expect(bad("[{ at: soon, do: cancel }]")).toMatch(/migration\.actions\.0\.at/);
    expect(bad("[{ at: 1s, do: cancel, when: now }]")).toMatch(/migration\.actions\.0/);
    const config = parseConfigText(
      CONFIG.replace(
        / {2}actions:[\s\S]*$/,
        "  actions: [{ at: 1s, set: { max-bandwidth: -5 } }]\n",
      ),
    );
    await expect(runMigration(config)).rejects.toThrow(
      /^migration\.actions\[0\]\.set: max-bandwidth: /,
    );
  });
});
