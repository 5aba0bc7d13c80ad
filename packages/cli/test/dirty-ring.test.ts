import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { captureIo, type MigrateReport, main, parseConfigText } from "../src";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const config = (name: string): string => join(root, "examples/configs", `${name}.yaml`);

async function ferry(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

describe("machine.dirty-tracking: ring", () => {
  it("is validated and defaults to bitmap", () => {
    const base = "name: t\nguest: { elf: g }\n";
    expect(parseConfigText(base).machine.dirtyTracking).toEqual({ kind: "bitmap", ringSize: 4096 });
    expect(
      parseConfigText(`${base}machine: { dirty-tracking: ring, dirty-ring-size: 64 }\n`).machine
        .dirtyTracking,
    ).toEqual({ kind: "ring", ringSize: 64 });
    expect(() => parseConfigText(`${base}machine: { dirty-ring-size: 100 }\n`)).toThrow(
      /machine\.dirty-ring-size.*power of two/s,
    );
    expect(() => parseConfigText(`${base}machine: { dirty-tracking: pml }\n`)).toThrow(
      /machine\.dirty-tracking/,
    );
  });

  it("a real guest migrates with a 16-entry dirty ring and verifies", async () => {
    const r = await ferry(
      "migrate",
      config("multihart"),
      "--set",
      "machine.dirty-tracking=ring",
      "--set",
      "machine.dirty-ring-size=16",
      "--json",
    );
    const report = JSON.parse(r.out) as MigrateReport;
    expect(r.code).toBe(0);
    expect(report.status).toBe("completed");
    expect(report.verification).toMatchObject({
      verified: true,
      ramEqual: true,
      stateEqual: true,
      outputEqual: true,
    });
  });
});
