/**
 * report.html in headless Chromium (Debian `chromium`), skipped when /usr/bin/chromium is absent.
 * Chromium loads the file offline and dumps the DOM it built: the four charts must be there as
 * SVG with their axis titles and legends (nothing is drawn by scripts: there are none).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { captureIo, main } from "../src";

const CHROMIUM = "/usr/bin/chromium";
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

describe.skipIf(!existsSync(CHROMIUM))("report.html in headless Chromium", () => {
  it("renders offline with four SVG charts, axis titles and legends", async () => {
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
    expect(code).toBe(1);
    const p = spawnSync(
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
        "--dump-dom",
        pathToFileURL(join(dir, "report.html")).href,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(p.status, p.stderr).toBe(0);
    const dom = p.stdout;
    expect(dom.match(/<svg/g) ?? []).toHaveLength(4);
    expect(dom).toContain("time since migration start (s)");
    expect(dom).toContain("remaining dirty memory (MiB)");
    expect(dom).toContain(">precopy+xbzrle<");
    expect(dom).toContain(">transfer rate<");
  }, 90_000);
});
