/**
 * Profiling aid: one in-process migration over loopback TCP (real sockets, both machines in this
 * process), every page non-zero, max-bandwidth unlimited. Prints GB/s and the longest event-loop
 * stall. Run: node --cpu-prof --import tsx bench/net-profile.ts  (FERRY_NET_PROF_MIB, default 128)
 */
import { randomFillSync } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type Machine, RealtimeScheduler } from "@ferry/core";
import { createMachine } from "@ferry/riscv";
import { connectSocket, createMigrationManager, incoming, listenSocket } from "@ferry/migration";
import { precopy } from "@ferry/plugin-precopy";
import { uniformDirtier } from "@ferry/sim";

const MIB = Number(process.env.FERRY_NET_PROF_MIB ?? 128);

function machine(s: RealtimeScheduler): Machine {
  return createMachine({
    scheduler: s,
    cpu: uniformDirtier({ writesPerSecond: 1000, footprintPages: 16, seed: 9 }),
    vcpus: 1,
    memory: { size: MIB << 20 },
  });
}

const s = new RealtimeScheduler();
const src = machine(s);
const dst = machine(s);
const chunk = new Uint8Array(1 << 20);
for (let off = 0; off < MIB << 20; off += chunk.length) {
  randomFillSync(chunk);
  src.ram.backend.write(off, chunk);
}
src.start();
const listener = await listenSocket({ host: "127.0.0.1", port: 0 });
const accepted = listener.accept();
const out = await connectSocket(listener.address);
const inc = incoming({ machine: dst, transport: await accepted, resume: false });
const mgr = createMigrationManager({ plugins: [precopy()] });
mgr.setParameters({ "max-bandwidth": 0 });
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
// The longest stretch between two ticks of a 1 ms timer, in wall time and in CPU time used by
// this process meanwhile: wall >> CPU means the OS did not run us (load), not that we held the loop.
let lastWall = performance.now();
let lastCpu = process.cpuUsage();
let maxWall = 0;
let maxCpu = 0;
let maxCpuAt = 0;
const tick = setInterval(() => {
  const w = performance.now();
  const c = process.cpuUsage();
  maxWall = Math.max(maxWall, w - lastWall);
  const used = (c.user - lastCpu.user + c.system - lastCpu.system) / 1e3;
  if (used > maxCpu) {
    maxCpu = used;
    maxCpuAt = w;
  }
  lastWall = w;
  lastCpu = c;
}, 1);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const m = mgr.migrate({ machine: src, transport: out });
const [info, r] = await Promise.all([m.done, inc.done]);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
h.disable();
clearInterval(tick);
if (info.status !== "completed" || r.status !== "completed") throw new Error(JSON.stringify(r));
console.log(
  `${MIB} MiB: ${((info.ram!.transferred / ms) * 1e-6).toFixed(3)} GB/s in ${ms.toFixed(0)} ms ` +
    `(CPU user ${(cpu.user / 1e3).toFixed(0)} ms, system ${(cpu.system / 1e3).toFixed(0)} ms); ` +
    `event-loop delay max ${(h.max / 1e6).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms; ` +
    `longest gap between 1 ms ticks ${maxWall.toFixed(1)} ms wall, longest CPU in a gap ${maxCpu.toFixed(1)} ms (ending ${(maxCpuAt - t0).toFixed(0)} ms after the start)`,
);
await listener.close();
src.stop();
dst.stop();
