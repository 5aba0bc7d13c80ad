/**
 * A guest fault (an access to unmapped or read-only memory) is a failed guest, exit 1, never
 * exit 70; other vCPU errors are ferry's bugs (exit 70). Checked where the CLI classifies how a
 * guest ended: `ferry run` (classifyRun) and the sides of `ferry restore` / `ferry migrate`.
 */
import { type Machine, VirtualScheduler } from "@ferry/core";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/config";
import { ExitCode } from "../../src/exit-codes";
import { buildSide } from "../../src/migrate/sides";
import { classifyRun } from "../../src/run/run-guest";

const config = parseConfigText(
  [
    "name: fault",
    "machine: { memory: 64KiB, ram-backend: array }",
    "workload: { writes-per-second: 1000, distribution: { kind: uniform } }",
  ].join("\n"),
);

describe("guest faults are failed guests", () => {
  it("ferry run: a guest fault is fail / exit 1; another vCPU error stays exit 70", () => {
    const message =
      "vCPU 0: MMIO store of 4 byte(s) at 0x40000000: no device or memory is mapped there";
    expect(
      classifyRun({ reason: "error", code: null, atNs: 5, message, guestFault: true }),
    ).toEqual({
      status: "fail",
      exitCode: ExitCode.Failure,
    });
    expect(
      classifyRun({
        reason: "error",
        code: null,
        atNs: 5,
        message: "vCPU 0: boom",
        guestFault: false,
      }),
    ).toEqual({ status: "error", exitCode: ExitCode.Internal });
  });

  it("restore / migrate sides: a guest fault ends the side as fail with the fault in one line", () => {
    for (const guestFault of [true, false]) {
      const side = buildSide(config, new VirtualScheduler(), null);
      (side.machine as unknown as Machine).events.emit("vcpu-error", {
        vcpu: 0,
        message: "MMIO load of 4 byte(s) at 0x40000000: no device or memory is mapped there",
        atNs: 7,
        guestFault,
      });
      const end = side.ended();
      expect(end?.status).toBe(guestFault ? "fail" : "error");
      expect(end?.message).toBe(
        `${guestFault ? "guest fault: " : ""}vCPU 0: MMIO load of 4 byte(s) at 0x40000000: no device or memory is mapped there`,
      );
      expect(end?.message).not.toMatch(/\n/);
    }
  });
});
