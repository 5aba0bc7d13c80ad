import { describe, expect, it } from "vitest";
import { createRfc2013Policy, DEFAULT_SETTINGS, type Evaluation } from "../src/index";
import { feed, MS } from "./sample";

const settings = { ...DEFAULT_SETTINGS, policy: "rfc-2013" as const };

describe("rfc-2013 policy", () => {
  it("fires on the 6th high period (post-increment > 4) and is sticky", () => {
    const p = createRfc2013Policy(settings);
    const sync = feed();
    const first = p.onSync(sync(1000, 8192, 10000)) as Evaluation; // establishes a dirty rate
    expect(first.high).toBe(false); // no previous dirty rate yet
    const fired: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      const e = p.onSync(sync(1000, 8192, 10000)) as Evaluation; // 8192 > 10000 / 2
      expect(e.high).toBe(true);
      fired.push(e.throttled);
    }
    expect(fired).toEqual([false, false, false, false, false, true, false]);
    expect(p.target()).toEqual({ kind: "fixed", sleepNs: 50 * MS, runNs: 25 * MS });
    expect(p.percentage()).toBe(67);
    // sticky: low periods never switch it off
    for (let i = 0; i < 5; i++) p.onSync(sync(1000, 0, 10000));
    expect(p.target().kind).toBe("fixed");
    expect(p.counters()).toMatchObject({ actions: 1, steps: 1, maxPct: 67, highPeriods: 7 });
  });

  it("low periods do not reset the count; the threshold is half of the bytes sent", () => {
    const p = createRfc2013Policy(settings);
    const sync = feed();
    p.onSync(sync(1000, 4096, 1000));
    let n = 0;
    for (let i = 0; i < 5; i++) {
      expect((p.onSync(sync(1000, 4097, 8192)) as Evaluation).high).toBe(true);
      expect((p.onSync(sync(1000, 4096, 8192)) as Evaluation).high).toBe(false); // not > 4096
      n++;
    }
    expect(n).toBe(5);
    expect(p.target().kind).toBe("off");
    expect((p.onSync(sync(1000, 4097, 8192)) as Evaluation).throttled).toBe(true);
  });

  it("requires a non-zero dirty rate in the previous period", () => {
    const p = createRfc2013Policy(settings);
    const sync = feed();
    // alternate: a period with nothing dirtied, then one with dirtying but previous rate 0
    for (let i = 0; i < 10; i++) {
      p.onSync(sync(1000, 0, 0));
      const e = p.onSync(sync(1000, 8192, 0)) as Evaluation;
      expect(e.high).toBe(false);
    }
    expect(p.target().kind).toBe("off");
    expect(p.counters().highPeriods).toBe(0);
  });

  it("uses the same >= 1 s gate with accumulation", () => {
    const p = createRfc2013Policy(settings);
    const sync = feed();
    expect(p.onSync(sync(300, 4096, 100))).toBeNull();
    expect(p.onSync(sync(300, 4096, 100))).toBeNull();
    const e = p.onSync(sync(400, 4096, 100)) as Evaluation;
    expect(e).toMatchObject({ dirtyBytes: 3 * 4096, xferBytes: 300, thresholdBytes: 150 });
  });

  it("custom sleep and run", () => {
    const p = createRfc2013Policy({ rfc2013SleepMs: 30, rfc2013RunMs: 10 });
    const sync = feed();
    for (let i = 0; i < 7; i++) p.onSync(sync(1000, 8192, 0));
    expect(p.target()).toEqual({ kind: "fixed", sleepNs: 30 * MS, runNs: 10 * MS });
    expect(p.percentage()).toBe(75);
  });
});
