/**
 * `postcopy-preempt` on a real RISC-V guest (memtouch): requested pages travel on a data channel
 * of their own, so a page fault does not wait behind the background pages queued on the main
 * channel. Same guest, link and switch with and without preempt: the fault latency is lower with
 * it, and both runs end with the output and exit code of an unmigrated run.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import {
  createLink,
  createMigrationManager,
  incoming,
  MigrationConfigError,
} from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { loadElf, riscvBackend } from "@ferry/riscv";
import { describe, expect, it } from "vitest";
import { postcopy } from "../src/index";

const MiB = 1024 * 1024;
const MS = 1_000_000;
const ELF = new Uint8Array(
  readFileSync(fileURLToPath(new URL("../../../examples/guests/memtouch.elf", import.meta.url))),
);
/** memtouch: 4 MiB working set, stride 4096, 6 passes, whole pages, no spin, print every pass. */
const ARGS = [4 * MiB, 4096, 6, 1024, 0, 1];
/**
 * Switch 30 ms in (inside the second pass, when the pages the guest goes on to touch are still
 * queued for the background scan); pre-copy at 16 MiB/s, post-copy unlimited over a 20 MiB/s link.
 */
const PARAMS = { "x-postcopy-after-ms": 30, "max-bandwidth": 16 * MiB, "downtime-limit": 10 };

function guest(s: VirtualScheduler): Machine {
  const m = createMachine({
    scheduler: s,
    cpu: riscvBackend({ mips: 100 }),
    vcpus: 1,
    memory: { size: 16 * MiB },
    bootArgs: ARGS,
  });
  m.reset(loadElf(m.memory, ELF).entry);
  return m;
}

interface Run {
  readonly output: string;
  readonly code: number | null;
  readonly info: Record<string, unknown>;
  readonly channelBytes: readonly number[];
}

async function migrated(preempt: boolean): Promise<Run> {
  const s = new VirtualScheduler();
  const src = guest(s);
  const dst = guest(s);
  let dstEnd: number | null = null;
  dst.events.on("shutdown", (e) => {
    if (e.kind !== "reset") dstEnd = e.code;
  });
  src.start();
  await s.run({ untilNs: 100 * MS });
  const mgr = createMigrationManager({ plugins: [precopy(), postcopy()] });
  mgr.setCapabilities({ "postcopy-ram": true, "postcopy-preempt": preempt });
  mgr.setParameters(PARAMS);
  // Both runs get the same link with one data channel; only preempt uses it.
  const link = createLink({ scheduler: s, bandwidth: 20 * MiB, latency: 1 * MS, channels: 1 });
  const inc = incoming({
    machine: dst,
    transport: link.destination,
    channels: [link.channels[0].destination],
    plugins: mgr.plugins,
  });
  const m = mgr.migrate({
    machine: src,
    transport: link.source,
    channels: [link.channels[0].source],
  });
  await s.run({
    untilNs: s.now() + 10_000 * MS,
    stopWhen: () => m.status === "completed" || m.status === "failed",
  });
  expect(m.error).toBeNull();
  expect(m.status).toBe("completed");
  expect(inc.status).toBe("completed");
  expect(dst.ram.missing!.count).toBe(0);
  await s.run({ untilNs: 20_000 * MS, stopWhen: () => dstEnd !== null });
  return {
    output: src.uartOutput() + dst.uartOutput(),
    code: dstEnd,
    info: m.info() as unknown as Record<string, unknown>,
    channelBytes: link.stats().channels.map((c) => c.forwardBytes),
  };
}

describe("postcopy-preempt (RISC-V memtouch)", () => {
  it("requested pages on their own channel: lower fault latency, same guest output", async () => {
    const m = guest(new VirtualScheduler());
    const r = await m.runUntilShutdown({ timeLimitNs: 10_000 * MS });
    const reference = { output: m.uartOutput(), code: r.code };

    const plain = await migrated(false);
    const pre = await migrated(true);
    for (const run of [plain, pre]) {
      expect(run.output).toBe(reference.output);
      expect(run.code).toBe(reference.code);
    }
    const ramOf = (x: Run) => x.info.ram as Record<string, number>;
    expect(ramOf(plain)["postcopy-requests"]).toBeGreaterThan(0);
    expect(ramOf(pre)["postcopy-requests"]).toBeGreaterThan(0);
    // Without preempt the data channel stays unused; with it, it carries the requested pages.
    expect(plain.channelBytes[1]).toBe(0);
    expect(plain.info["x-postcopy-preempt-pages"]).toBeUndefined();
    expect(pre.channelBytes[1]).toBeGreaterThan(0);
    expect(pre.info["x-postcopy-preempt-pages"]).toBeGreaterThan(0);
    expect(pre.info["x-postcopy-preempt-bytes"]).toBe(pre.channelBytes[1]);
    const latency = (x: Run) => x.info["postcopy-latency"] as number;
    // Deterministic (virtual time): 7.95 ms without preempt, 3.01 ms with it.
    expect(latency(plain)).toBeGreaterThan(5 * MS);
    expect(latency(pre)).toBeLessThan(latency(plain) / 2);
  });

  it("requires postcopy-ram, and a data channel", async () => {
    const mgr = createMigrationManager({ plugins: [precopy(), postcopy()] });
    expect(() => mgr.setCapabilities({ "postcopy-preempt": true })).toThrow(MigrationConfigError);
    mgr.setCapabilities({ "postcopy-ram": true, "postcopy-preempt": true });
    mgr.setParameters(PARAMS);
    const s = new VirtualScheduler();
    const src = guest(s);
    const dst = guest(s);
    src.start();
    await s.run({ untilNs: 100 * MS });
    const link = createLink({ scheduler: s, bandwidth: 20 * MiB, latency: 1 * MS });
    incoming({ machine: dst, transport: link.destination, plugins: mgr.plugins });
    const m = mgr.migrate({ machine: src, transport: link.source });
    await s.run({
      untilNs: 10_000 * MS,
      stopWhen: () => m.status === "completed" || m.status === "failed",
    });
    // Refused before the switch: the source keeps its guest.
    expect(m.status).toBe("failed");
    expect(m.error?.message).toMatch(/postcopy-preempt.*data channel/);
    expect(src.state).toBe("running");
  });
});
