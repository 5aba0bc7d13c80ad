/**
 * report.html in headless Chromium (Debian `chromium`), skipped when /usr/bin/chromium is absent.
 * Chromium loads the file offline and dumps the DOM it built: the five charts must be there as
 * SVG with their axis titles, legends and hover titles (nothing is drawn by scripts: there are
 * none); a screenshot of the page must be a non-trivial PNG.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { captureIo, main } from "../src";

const CHROMIUM = "/usr/bin/chromium";
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

describe.skipIf(!existsSync(CHROMIUM))("report.html in headless Chromium", () => {
  it("renders offline with five SVG charts, axis titles, legends and tooltips", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-chromium-"));
    const io = captureIo();
    const code = await main(
      [
        "compare",
        join(root, "examples/configs/workload-small.yaml"),
        "--strategies",
        "precopy",
        "precopy+xbzrle",
        "--param",
        "max-bandwidth=8MiB/s",
        "--report",
        dir,
      ],
      io,
    );
    expect(code).toBe(0);
    const chromium = (...args: string[]) =>
      spawnSync(
        CHROMIUM,
        [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--disable-extensions",
          "--disable-quic",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          `--user-data-dir=${join(dir, "chromium-profile")}`,
          ...args,
          pathToFileURL(join(dir, "report.html")).href,
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
    const p = chromium("--dump-dom");
    expect(p.status, p.stderr).toBe(0);
    const dom = p.stdout;
    expect(dom.match(/<svg/g) ?? []).toHaveLength(5);
    expect(dom).toContain("time since migration start (s)");
    expect(dom).toContain("remaining dirty memory (MiB)");
    expect(dom).toContain("switchover threshold (bandwidth × downtime-limit)");
    expect(dom).toContain(">precopy+xbzrle<");
    expect(dom).toContain(">bandwidth (transfer rate)<");
    expect(dom).toMatch(/<title>precopy · sync 1 · t=0\.000 s · remaining: 64\.00 MiB<\/title>/);
    const png = join(dir, "report.png");
    const shot = chromium("--hide-scrollbars", "--window-size=900,3000", `--screenshot=${png}`);
    expect(shot.status, shot.stderr).toBe(0);
    const bytes = readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
    expect(bytes.length).toBeGreaterThan(50_000);
  }, 90_000);
});
