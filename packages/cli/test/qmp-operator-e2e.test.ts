/**
 * Operator control between two real `ferry` processes, driven only through QMP over unix sockets:
 * `max-bandwidth` raised while the migration runs, `pause-before-switchover` held until
 * `migrate-continue`, and ferry's external throttle. The destination finishes the guest like an
 * unmigrated run. Every wait is bounded.
 */
import { afterEach, describe, expect, it } from "vitest";
import { exitWithin, killAll, runFerrySync, startPair, TERMINAL } from "./qmp-helpers";

const CONFIG = "examples/configs/memtouch.yaml";
/** memtouch: 1 MiB working set, 120 passes, 64 words per page, print every 20. */
const GUEST = ["--set", "guest.args=[1MiB, 4096, 120, 64, 0, 20]"];
/** Paced to 5 MIPS so the guest's length (~3.7 s) does not depend on the machine's load. */
const PACED = ["--realtime", "--pace", "--set", "machine.mips=5", ...GUEST];

afterEach(() => killAll());

describe("operator control of a migration between two ferry processes", () => {
  it("raises max-bandwidth mid-migration, pauses before switchover, continues; the guest ends as unmigrated", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const { port, dst, src, s, d } = await startPair(CONFIG, PACED);

    // ferry's external throttle: set, queried, released (no migration needed)
    await s.execute("x-set-cpu-throttle", { percentage: 50 });
    expect((await s.execute("x-query-cpu-throttle"))["effective-percentage"]).toBe(50);
    await s.execute("x-set-cpu-throttle", { percentage: 0 });

    await s.execute("migrate-set-capabilities", {
      capabilities: [
        { capability: "events", state: true },
        { capability: "pause-before-switchover", state: true },
      ],
    });
    // 16 KiB/s: the bulk pass alone would outlast the guest
    await s.execute("migrate-set-parameters", { "max-bandwidth": 16 << 10, "downtime-limit": 300 });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    await s.waitEvent("MIGRATION", {
      match: (e) => e.data?.status === "active",
      timeoutMs: 10_000,
    });
    const slow = (await s.execute("query-migrate")) as { ram?: { transferred: number } };
    const changedAt = performance.now();
    await s.execute("migrate-set-parameters", { "max-bandwidth": 0 });
    expect((await s.execute("query-migrate-parameters"))["max-bandwidth"]).toBe(0);
    await s.waitEvent("MIGRATION", {
      match: (e) =>
        e.data?.status === "pre-switchover" || TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 30_000,
    });
    const paused = (await s.execute("query-migrate")) as {
      status: string;
      ram: { transferred: number };
    };
    const seconds = (performance.now() - changedAt) / 1000;
    expect(paused.status).toBe("pre-switchover");
    // unlimited from the change on: far faster than the 16 KiB/s before it
    const rate = (paused.ram.transferred - (slow.ram?.transferred ?? 0)) / seconds;
    expect(rate).toBeGreaterThan(4 * (16 << 10));
    expect(await s.execute("query-status")).toEqual({ running: false, status: "finish-migrate" });
    await s.execute("migrate-continue", { state: "pre-switchover" });
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 60_000,
    });
    expect(end.data?.status, JSON.stringify(await s.execute("query-migrate"))).toBe("completed");
    const events = s.received
      .filter((e) => e.event === "MIGRATION")
      .map((e) => String(e.data?.status));
    expect(events).toEqual(["setup", "active", "pre-switchover", "device", "completed"]);

    await d.waitEvent("SHUTDOWN", { timeoutMs: 60_000 });
    expect(await exitWithin(dst, 30_000)).toBe(0);
    await s.execute("quit");
    expect(await exitWithin(src, 30_000)).toBe(0);
    expect(src.stdout() + dst.stdout()).toBe(ref.stdout);
  }, 300_000);
});
