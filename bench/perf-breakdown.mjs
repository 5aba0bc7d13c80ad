/**
 * Where the CPU goes during a migration, every thread of every process, kernel included — what a
 * V8 CPU profile cannot show (system calls, page faults, the compiler and GC threads, the other
 * process). Reads the text of `perf script` and prints, for the window in which the source's
 * main thread was sending pages (first to last sample of it): busy time per process and thread by category, the top symbols
 * of each main thread, and a timeline.
 *
 *   NODE_OPTIONS=--perf-basic-prof perf record -e cpu-clock -F 1999 -g -o /tmp/perf.data -- \
 *     node --import tsx bench/net-migration-once.ts plain off
 *   perf script -i /tmp/perf.data -F pid,tid,time,ip,sym,dso > /tmp/perf.txt
 *   node bench/perf-breakdown.mjs /tmp/perf.txt [--hz 1999] [--bin-ms 100] [--top 12]
 *
 * (`perf` is Debian's `linux-perf`; in a VM without hardware counters `cpu-clock` still samples.
 * `--perf-basic-prof` lets perf name JavaScript frames: `JS:*name` optimized, `JS:^name`
 * baseline, `JS:~name` interpreted.) The source is the process whose main thread sends pages; the
 * destination the one running the stream reader; any other process (the QMP probe) is listed
 * apart.
 */
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (file === undefined) {
  console.error(
    "usage: node bench/perf-breakdown.mjs <perf script output> [--hz N] [--bin-ms N] [--top N]",
  );
  process.exit(2);
}
const HZ = opt("hz", 1999);
const BIN_S = opt("bin-ms", 100) / 1000;
const TOP = opt("top", 12);
const msOf = (samples) => (samples * 1000) / HZ;

/** Samples: { pid, tid, t (s), frames: [{ kernel, sym }] }, innermost frame first. */
const samples = [];
let cur = null;
let text;
try {
  text = readFileSync(file, "utf8");
} catch (e) {
  console.error(`${file}: cannot read it (${e.code ?? e.message})`);
  process.exit(2);
}
for (const line of text.split("\n")) {
  const head = /^\s*(\d+)\/(\d+)\s+([\d.]+):/.exec(line);
  if (head !== null) {
    cur = { pid: Number(head[1]), tid: Number(head[2]), t: Number(head[3]), frames: [] };
    samples.push(cur);
    continue;
  }
  const frame = /^\s+([0-9a-f]+)\s+(.*)$/.exec(line);
  if (frame !== null && cur !== null) {
    cur.frames.push({
      kernel: frame[1].startsWith("ffffffff"),
      sym: frame[2].replace(/\s+\(.*\)$/, ""),
    });
  }
}
const has = (s, text) => s.frames.some((f) => f.sym.includes(text));
/** A page going out: the pre-copy loop's `sendNextDirtyPage` or the page sender's `sendNext`. */
const SENDING = /\bsendNext(DirtyPage)? /;
const sending = (s) => s.frames.some((f) => SENDING.test(f.sym));
const sender = samples.find((s) => s.tid === s.pid && sending(s));
if (sender === undefined) {
  console.error(
    `${file}: no main-thread sample sending pages (sendNextDirtyPage, sendNext): was the source profiled with --perf-basic-prof?`,
  );
  process.exit(2);
}
const SRC = sender.pid;
const dstSample = samples.find(
  (s) => s.pid !== SRC && (has(s, "parseRecords") || has(s, "stream/reader")),
);
const DST = dstSample?.pid ?? -1;
let from = Number.POSITIVE_INFINITY;
let to = Number.NEGATIVE_INFINITY;
for (const s of samples) {
  if (s.pid === SRC && s.tid === SRC && sending(s)) {
    from = Math.min(from, s.t);
    to = Math.max(to, s.t);
  }
}
const inWindow = samples.filter((s) => s.t >= from && s.t <= to);
const who = (s) =>
  `${s.pid === SRC ? "source" : s.pid === DST ? "destination" : `process ${s.pid}`}`;
const thread = (s) => (s.tid === s.pid ? "main" : `thread ${s.tid}`);

/** What the innermost frame is doing. */
function category(s) {
  if (s.frames.some((f) => /compiler::|Compile/.test(f.sym))) return "JIT compiler";
  if (s.frames.some((f) => /Marking|Scaveng|Sweep|MarkCompact|Evacuat/.test(f.sym))) return "GC";
  const f = s.frames[0];
  if (f === undefined) return "unknown";
  if (f.kernel) {
    if (s.frames.some((x) => x.sym === "exc_page_fault")) return "kernel: page faults";
    if (s.frames.some((x) => /softirq/.test(x.sym))) return "kernel: softirq (network)";
    return "kernel: system calls";
  }
  if (/memmove|memcpy/.test(f.sym)) return "memcpy";
  if (f.sym.startsWith("JS:*")) return "JS optimized";
  if (f.sym.startsWith("JS:")) return "JS baseline/interpreted";
  if (f.sym.startsWith("Builtins_")) return "V8 builtins";
  if (/v8::|node::|uv_|uv__/.test(f.sym)) return "V8/Node C++";
  return "other native";
}

const groups = new Map();
for (const s of inWindow) {
  const key = `${who(s)} ${thread(s)}`;
  let g = groups.get(key);
  if (g === undefined) {
    g = { n: 0, cats: new Map(), syms: new Map(), main: s.tid === s.pid };
    groups.set(key, g);
  }
  g.n++;
  const c = category(s);
  g.cats.set(c, (g.cats.get(c) ?? 0) + 1);
  const sym = (s.frames[0]?.sym ?? "?").slice(0, 80);
  g.syms.set(sym, (g.syms.get(sym) ?? 0) + 1);
}
const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
const windowMs = (to - from) * 1000;
console.log(
  `window: ${windowMs.toFixed(0)} ms (the source's main thread sending pages); ${HZ} Hz samples`,
);
let total = 0;
for (const g of groups.values()) total += g.n;
console.log(
  `all threads: ${msOf(total).toFixed(0)} ms of CPU (${((msOf(total) / windowMs) * 100).toFixed(0)} % of one core)\n`,
);
for (const [key, g] of [...groups].sort((a, b) => b[1].n - a[1].n)) {
  if (msOf(g.n) < 5) continue;
  const cats = sorted(g.cats)
    .map(([c, n]) => `${c} ${msOf(n).toFixed(0)}`)
    .join(", ");
  console.log(`${key}: ${msOf(g.n).toFixed(0)} ms — ${cats}`);
  if (!g.main) continue;
  for (const [sym, n] of sorted(g.syms).slice(0, TOP))
    console.log(`  ${msOf(n).toFixed(1).padStart(7)}  ${sym}`);
}

console.log(
  `\ntimeline (ms of CPU per ${BIN_S * 1000} ms): source main (of it sending), source others, destination main, destination others, other processes`,
);
const bins = new Map();
for (const s of samples) {
  if (s.t < from - BIN_S || s.t > to + 2 * BIN_S) continue;
  const k = Math.floor((s.t - from + BIN_S) / BIN_S);
  let b = bins.get(k);
  if (b === undefined) {
    b = [0, 0, 0, 0, 0, 0];
    bins.set(k, b);
  }
  if (s.pid === SRC && s.tid === SRC) {
    b[0]++;
    if (sending(s)) b[1]++;
  } else if (s.pid === SRC) b[2]++;
  else if (s.pid === DST && s.tid === DST) b[3]++;
  else if (s.pid === DST) b[4]++;
  else b[5]++;
}
const cell = (n) => msOf(n).toFixed(0).padStart(5);
for (const k of [...bins.keys()].sort((a, b) => a - b)) {
  const b = bins.get(k);
  const t = ((k - 1) * BIN_S * 1000).toFixed(0).padStart(6);
  console.log(
    `${t} ${cell(b[0])} (${cell(b[1]).trim()}) ${cell(b[2])} ${cell(b[3])} ${cell(b[4])} ${cell(b[5])}`,
  );
}
