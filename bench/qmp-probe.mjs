// A QMP latency probe in its own process (so its timers are not delayed by the process it
// measures): connects to a monitor, negotiates, then sends `query-migrate` every INTERVAL ms and
// records how long each answer takes. On stdin end (or SIGTERM) prints {"latenciesMs": [...]}
// and exits; SIGUSR2 moves what was measured so far to "baselineMs". Usage: node bench/qmp-probe.mjs <unix-socket-path> [intervalMs]
import { createConnection } from "node:net";

const path = process.argv[2];
const interval = Number(process.argv[3] ?? 10);
let lat = [];
let baseline = [];
const sock = createConnection({ path });
sock.on("error", () => {});
let buf = "";
let sentAt = 0;
let waiting = false;
let negotiated = false;
const send = (o) => sock.write(`${JSON.stringify(o)}\n`);
sock.on("data", (d) => {
  buf += d.toString();
  let i = buf.indexOf("\n");
  while (i >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    i = buf.indexOf("\n");
    if (line === "") continue;
    const m = JSON.parse(line);
    if (m.QMP) send({ execute: "qmp_capabilities" });
    else if ("return" in m || "error" in m) {
      if (!negotiated) {
        negotiated = true;
        setInterval(() => {
          if (waiting) return;
          waiting = true;
          sentAt = performance.now();
          send({ execute: "query-migrate" });
        }, interval);
      } else if (waiting) {
        lat.push(performance.now() - sentAt);
        waiting = false;
      }
    }
  }
});
const done = () => {
  process.stdout.write(`${JSON.stringify({ latenciesMs: lat, baselineMs: baseline })}\n`);
  process.exit(0);
};
process.stdin.on("end", done);
process.stdin.resume();
process.on("SIGTERM", done);
process.on("SIGUSR2", () => {
  baseline = lat;
  lat = [];
});
