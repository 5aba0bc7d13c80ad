/**
 * Multifd between two real `ferry run --realtime` processes driven through QMP: the source opens
 * the main connection plus `multifd-channels` data connections to the destination's one incoming
 * port, which tells them apart by their handshake; pages travel zlib-compressed on the channels;
 * the destination finishes the guest like an unmigrated run.
 */
import { afterEach, describe, expect, it } from "vitest";
import { exitWithin, killAll, runFerrySync, startPair, TERMINAL } from "./qmp-helpers";

const CONFIG = "examples/configs/memtouch.yaml";
const GUEST = ["--set", "guest.args=[1MiB, 4096, 120, 64, 0, 20]"];
const PACED = ["--realtime", "--pace", "--set", "machine.mips=5", ...GUEST];

afterEach(() => killAll());

describe("multifd between two ferry processes over QMP", () => {
  it("migrates over TCP with 4 zlib channels; the destination finishes it like an unmigrated run", async () => {
    const ref = runFerrySync(["run", CONFIG, ...GUEST]);
    expect(ref.status, ref.stderr).toBe(0);
    const { port, dst, src, s, d } = await startPair(CONFIG, PACED);

    // QEMU's rule: capability and channel count set on both sides
    const caps = {
      capabilities: [
        { capability: "multifd", state: true },
        { capability: "events", state: true },
      ],
    };
    const params = { "multifd-channels": 4, "multifd-compression": "zlib" };
    for (const m of [s, d]) {
      await m.execute("migrate-set-capabilities", caps);
      await m.execute("migrate-set-parameters", params);
    }
    await s.execute("migrate-set-parameters", { "max-bandwidth": 4 << 20, "downtime-limit": 300 });
    await s.execute("migrate", { uri: `tcp:127.0.0.1:${port}` });
    const end = await s.waitEvent("MIGRATION", {
      match: (e) => TERMINAL.includes(String(e.data?.status)),
      timeoutMs: 60_000,
    });
    const info = (await s.execute("query-migrate")) as Record<string, unknown>;
    expect(end.data?.status, JSON.stringify(info)).toBe("completed");
    const ram = info.ram as Record<string, number>;
    expect(ram["multifd-bytes"]).toBeGreaterThan(0);
    const mfd = info["x-multifd"] as Record<string, number>;
    expect(mfd.channels).toBe(4);
    for (let i = 0; i < 4; i++) expect(mfd[`channel-${i}-bytes`]).toBeGreaterThan(0);

    await d.waitEvent("SHUTDOWN", { timeoutMs: 60_000 });
    expect(await exitWithin(dst, 30_000)).toBe(0);
    await s.execute("quit");
    expect(await exitWithin(src, 30_000)).toBe(0);
    expect(src.stdout() + dst.stdout()).toBe(ref.stdout);
  }, 300_000);
});
