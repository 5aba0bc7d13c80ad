/**
 * Post-copy between two real `ferry` processes through QMP: `migrate-start-postcopy` during the
 * migration over TCP, the destination runs the guest before it has every page (faulting the rest
 * in over the socket's return path), and ends it with the output and exit code of an unmigrated
 * run; the same with the connection cut mid-post-copy (both sides `postcopy-paused`), then
 * `migrate-recover` and `migrate … resume` over a new connection. Also QEMU's refusals of `migrate-start-postcopy`, `migrate-recover` and `migrate` resume.
 */
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  exitWithin,
  freePort,
  killAll,
  monitor,
  runFerrySync,
  socketDir,
  spawnFerry,
  TERMINAL,
  waitForSocket,
  waitForStderr,
} from "./qmp-helpers";

const CONFIG = "examples/configs/memtouch.yaml";
/** memtouch: 1 MiB working set, 30 passes, whole pages, print every 10. */
const GUEST = ["--set", "guest.args=[1MiB, 4096, 30, 1024, 0, 10]"];
/** Paced to 5 MIPS so the guest's length does not depend on the machine's load. */
const PACED = ["--realtime", "--pace", "--set", "machine.mips=5", ...GUEST];

afterEach(() => killAll());

async function startPair(args: readonly string[]) {
  const dir = socketDir();
  const port = await freePort();
  const srcSock = join(dir, "src.sock");
  const dstSock = join(dir, "dst.sock");
  const dst = spawnFerry([
    "run",
    CONFIG,
    ...args,
    "--qmp",
    `unix:${dstSock}`,
    "--incoming",
    `tcp:127.0.0.1:${port}`,
  ]);
  const src = spawnFerry(["run", CONFIG, ...args, "--qmp", `unix:${srcSock}`]);
  await waitForSocket(srcSock, src);
  await waitForStderr(dst, "waiting for an incoming migration");
  const s = await monitor(srcSock);
  const d = await monitor(dstSock);
  return { port, dst, src, s, d };
}

describe("post-copy between two ferry processes (QMP)", () => {
  it("migrate-start-postcopy: the destination faults pages in over TCP and ends the guest like an unmigrated run", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const { port, dst, src, s, d } = await startPair(PACED);

    // QEMU's refusals.
    await expect(s.execute("migrate-start-postcopy")).rejects.toThrow(
      "Enable postcopy with migrate_set_capability before the start of migration",
    );
    const caps = {
      capabilities: [
        { capability: "postcopy-ram", state: true },
        { capability: "events", state: true },
      ],
    };
    await s.execute("migrate-set-capabilities", caps);
    await d.execute("migrate-set-capabilities", caps);
    await expect(s.execute("migrate-start-postcopy")).rejects.toThrow(
      "Postcopy must be started after migration has been started",
    );
    await expect(
      s.execute("migrate", { uri: `tcp:127.0.0.1:${port}`, resume: true }),
    ).rejects.toThrow("Cannot resume if there is no paused migration");
    await expect(
      d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port + 1}` }),
    ).rejects.toThrow("Migrate recover can only be run when postcopy is paused.");

    // Slow pre-copy (it cannot converge), then the switch.
    await s.execute("migrate-set-parameters", { "max-bandwidth": 256 << 10 });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    await s.execute("migrate-start-postcopy");
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 120_000,
    });
    const info = (await s.execute("query-migrate")) as Record<string, unknown>;
    expect(end.data?.status, JSON.stringify(info)).toBe("completed");
    const statuses = s.received
      .filter((e) => e.event === "MIGRATION")
      .map((e) => String(e.data?.status));
    expect(statuses).toContain("postcopy-active");
    const ram = info.ram as Record<string, number>;
    expect(ram["postcopy-bytes"]).toBeGreaterThan(0);
    expect(info["postcopy-vcpu-blocktime"]).toBeDefined();
    // The destination's query-migrate carries its fault statistics. Whether the guest touched a
    // page before the background push delivered it depends on the machine's speed (a loaded CI
    // machine may deliver every page first), so the fault figures are checked when faults happened.
    const dinfo = (await d.execute("query-migrate")) as Record<string, unknown>;
    expect(dinfo.status).toBe("completed");
    expect(ram["postcopy-requests"]).toBeGreaterThanOrEqual(0);
    if (ram["postcopy-requests"] > 0) expect(dinfo["postcopy-latency"]).toBeGreaterThan(0);

    await d.waitEvent("SHUTDOWN", { timeoutMs: 120_000 });
    expect(await exitWithin(dst, 30_000)).toBe(0);
    await s.execute("quit");
    expect(await exitWithin(src, 30_000)).toBe(0);
    expect(src.stdout() + dst.stdout()).toBe(ref.stdout);
  }, 300_000);
  it("connection cut mid-post-copy: both sides pause; migrate-recover + migrate resume finish the guest", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const { port, dst, src, s, d } = await startPair(PACED);
    // A proxy between the two that forwards the stream slowly (16 KiB per 10 ms tick), so the
    // post-copy phase lasts long enough to cut it.
    const proxyPort = await freePort();
    const sockets: Socket[] = [];
    const proxy = createServer((c) => {
      const u = connect({ host: "127.0.0.1", port });
      sockets.push(c, u);
      const queue: Buffer[] = [];
      const tick = setInterval(() => {
        let budget = 16 << 10;
        while (budget > 0 && queue.length > 0) {
          const b = queue[0]!;
          const n = Math.min(budget, b.length);
          u.write(b.subarray(0, n));
          if (n === b.length) queue.shift();
          else queue[0] = b.subarray(n);
          budget -= n;
        }
      }, 10);
      c.on("data", (b) => queue.push(b));
      u.on("data", (b) => c.write(b));
      const stop = () => {
        clearInterval(tick);
        c.destroy();
        u.destroy();
      };
      c.on("close", stop);
      u.on("close", stop);
      c.on("error", () => {});
      u.on("error", () => {});
    });
    await new Promise<void>((r) => proxy.listen(proxyPort, "127.0.0.1", () => r()));
    try {
      const caps = {
        capabilities: [
          { capability: "postcopy-ram", state: true },
          { capability: "events", state: true },
        ],
      };
      await s.execute("migrate-set-capabilities", caps);
      await d.execute("migrate-set-capabilities", caps);
      await s.execute("migrate-set-parameters", { "max-bandwidth": 256 << 10 });
      await s.execute("migrate", { uri: `tcp:127.0.0.1:${proxyPort}` });
      await s.execute("migrate-start-postcopy");
      const until = async (what: () => Promise<boolean>, ms: number) => {
        const t0 = Date.now();
        while (!(await what())) {
          if (Date.now() - t0 > ms) throw new Error("timed out");
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const status = async (m: typeof s) =>
        String(((await m.execute("query-migrate")) as Record<string, unknown>).status);
      await until(async () => (await status(d)) === "postcopy-active", 30_000);
      expect(await status(s)).toBe("postcopy-active");
      for (const x of sockets) x.destroy();
      await until(async () => (await status(s)) === "postcopy-paused", 30_000);
      await until(async () => (await status(d)) === "postcopy-paused", 30_000);
      await expect(s.execute("migrate_cancel")).resolves.toEqual({});
      expect(await status(s)).toBe("postcopy-paused");

      const port2 = await freePort();
      await d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port2}` });
      await expect(d.execute("migrate-recover", { uri: `tcp:127.0.0.1:${port2}` })).rejects.toThrow(
        "Migrate recovery is triggered already",
      );
      await s.execute("migrate", { uri: `tcp:127.0.0.1:${port2}`, resume: true });
      const end = await s.waitEvent("MIGRATION", {
        match: (e) => TERMINAL.includes(String(e.data?.status)),
        timeoutMs: 120_000,
      });
      const info = (await s.execute("query-migrate")) as Record<string, unknown>;
      expect(end.data?.status, JSON.stringify(info)).toBe("completed");
      expect(info["x-postcopy-recoveries"]).toBe(1);
      const statuses = s.received
        .filter((e) => e.event === "MIGRATION")
        .map((e) => String(e.data?.status));
      expect(statuses).toContain("postcopy-paused");
      expect(statuses).toContain("postcopy-recover");

      await d.waitEvent("SHUTDOWN", { timeoutMs: 120_000 });
      expect(await exitWithin(dst, 30_000)).toBe(0);
      await s.execute("quit");
      expect(await exitWithin(src, 30_000)).toBe(0);
      expect(src.stdout() + dst.stdout()).toBe(ref.stdout);
    } finally {
      proxy.close();
      for (const x of sockets) x.destroy();
    }
  }, 300_000);
});
