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

/** Chromium on `dir/report.html` with `args` (dump the DOM, take a screenshot). */
function chromium(dir: string, ...args: string[]) {
  return spawnSync(
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
}

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
    const p = chromium(dir, "--dump-dom");
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
    const shot = chromium(
      dir,
      "--hide-scrollbars",
      "--window-size=900,3000",
      `--screenshot=${png}`,
    );
    expect(shot.status, shot.stderr).toBe(0);
    const bytes = readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
    expect(bytes.length).toBeGreaterThan(50_000);
  }, 90_000);

  it("draws the series controllers declare: auto-converge's throttle, rate-converge's throttle and rates", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-chromium-declared-"));
    const io = captureIo();
    const code = await main(
      [
        "compare",
        join(root, "examples/configs/workload-rate-converge.yaml"),
        "--set",
        "plugins.0=../plugin-authoring/src/index.ts",
        "--strategies",
        "precopy+auto-converge",
        "precopy+rate-converge",
        "--report",
        dir,
      ],
      io,
    );
    expect(code).toBe(0);
    const p = chromium(dir, "--dump-dom");
    expect(p.status, p.stderr).toBe(0);
    const dom = p.stdout;
    expect(dom.match(/<svg/g) ?? []).toHaveLength(5);
    const figure = /<figure id="chart-throttle">([\s\S]*?)<\/figure>/.exec(dom)?.[1] ?? "";
    expect(figure).toContain("Convergence controller series");
    expect(figure).toContain("throttle (%)");
    expect(figure).toContain("value (MiB/s)");
    // legend entries: the strategy sets and rate-converge's rate series
    expect(figure).toContain(">precopy+auto-converge<");
    expect(figure).toContain(">precopy+rate-converge<");
    expect(figure).toContain(">estimated unthrottled dirty rate<");
    expect(figure).toContain(">measured bandwidth<");
    // drawn lines with hover titles for each strategy's series (regexes tested, not printed)
    const has = (re: RegExp): boolean => re.test(figure);
    expect(
      has(
        /<path[^>]*aria-label="precopy\+rate-converge · sync \d+ · t=[\d.]+ s · measured bandwidth: [\d.]+ MiB\/s"/,
      ),
    ).toBe(true);
    expect(
      has(
        /<title>precopy\+rate-converge · sync \d+ · t=[\d.]+ s · throttle: [1-9][\d.]* %<\/title>/,
      ),
    ).toBe(true);
    expect(
      has(
        /<title>precopy\+auto-converge · sync \d+ · t=[\d.]+ s · throttle: [1-9][\d.]* %<\/title>/,
      ),
    ).toBe(true);
    expect((figure.match(/<path[^>]*aria-roledescription="line mark"/g) ?? []).length).toBe(4);
  }, 90_000);
});
