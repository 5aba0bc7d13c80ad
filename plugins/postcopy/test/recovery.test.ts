/**
 * Post-copy failure and recovery on a real RISC-V guest (memtouch): the connection is cut in the
 * middle of post-copy; both sides report `postcopy-paused` (the source stays stopped, the
 * destination's vCPU stays parked on its missing page); `migrate-recover` on the destination and
 * `migrate … resume` on the source continue over a new link (RECV_BITMAP, RESUME, RESUME_ACK);
 * the migration completes and the guest ends with the output and exit code of an unmigrated run.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Machine, VirtualScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { createLink, createMigrationManager, incoming, MigrationError } from "@ferry/migration";
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

async function unmigrated(): Promise<{ output: string; code: number | null }> {
  const m = guest(new VirtualScheduler());
  const r = await m.runUntilShutdown({ timeLimitNs: 10_000 * MS });
  return { output: m.uartOutput(), code: r.code };
}

describe("post-copy: connection lost, then recovered (RISC-V memtouch)", () => {
  it("both sides pause; recover + resume over a new link; the guest ends as unmigrated", async () => {
    const reference = await unmigrated();
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
    mgr.setCapabilities({ "postcopy-ram": true });
    mgr.setParameters({
      "x-postcopy-after-passes": 1,
      "max-bandwidth": 16 * MiB,
      "downtime-limit": 10,
    });
    const link1 = createLink({ scheduler: s, bandwidth: 50 * MiB, latency: 1 * MS });
    const inc = incoming({ machine: dst, transport: link1.destination, plugins: mgr.plugins });
    const m = mgr.migrate({ machine: src, transport: link1.source });
    const states: string[] = [];
    m.events.on("state", (st) => states.push(st));
    await s.run({
      untilNs: s.now() + 5_000 * MS,
      stopWhen: () => inc.status === "postcopy-active",
    });
    expect(m.status).toBe("postcopy-active");
    expect(inc.status).toBe("postcopy-active");
    await s.run({ untilNs: s.now() + 5 * MS });
    expect(m.info().ram?.remaining).toBeGreaterThan(0);

    link1.cut();
    await s.run({
      untilNs: s.now() + 1_000 * MS,
      stopWhen: () => m.status === "postcopy-paused" && inc.status === "postcopy-paused",
    });
    expect(m.status).toBe("postcopy-paused");
    expect(inc.status).toBe("postcopy-paused");
    // QEMU shows why a post-copy migration paused (its error) in query-migrate's error-desc.
    expect(m.info()["error-desc"]).toBe("link connection dropped");
    // Neither side has the whole guest: the source stays stopped, the destination waits.
    const missing = dst.ram.missing!.count;
    expect(missing).toBeGreaterThan(0);
    await s.run({ untilNs: s.now() + 200 * MS });
    expect(src.state).toBe("paused");
    expect(dst.ram.missing!.count).toBe(missing);
    expect(dst.vcpus[0].activity).toBe("page-wait");
    m.cancel(); // refused in post-copy: there is no way back to the source
    expect(m.status).toBe("postcopy-paused");
    expect(() => m.startPostcopy()).toThrow(MigrationError);

    // QEMU's order: migrate-recover on the destination, then migrate resume=true on the source.
    const link2 = createLink({ scheduler: s, bandwidth: 50 * MiB, latency: 1 * MS });
    inc.recover(link2.destination);
    expect(inc.status).toBe("postcopy-recover");
    m.resume(link2.source);
    expect(() => m.resume(link2.source)).toThrow(MigrationError);
    await s.run({
      untilNs: s.now() + 5_000 * MS,
      stopWhen: () => m.status === "completed" || m.status === "failed",
    });
    expect(m.error).toBeNull();
    expect(m.status).toBe("completed");
    expect(states).toEqual([
      "setup",
      "active",
      "device",
      "postcopy-active",
      "postcopy-paused",
      "postcopy-recover",
      "postcopy-active",
      "completed",
    ]);
    expect(m.info()["x-postcopy-recoveries"]).toBe(1);
    expect(inc.status).toBe("completed");
    expect(dst.ram.missing!.count).toBe(0);
    await s.run({ untilNs: 10_000 * MS, stopWhen: () => dstEnd !== null });
    expect(src.uartOutput() + dst.uartOutput()).toBe(reference.output);
    expect(dstEnd).toBe(reference.code);
  });
});
