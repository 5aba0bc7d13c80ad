/**
 * Every `pnpm ferry …` command written in the docs (docs/*.md, README.md, the comment blocks of
 * examples/configs/*.yaml) runs as shown: through the real binary, from the repository root,
 * with exit code 0, 1 (a documented failure or non-convergence) or 3 (time limit) — never 2 (the
 * documented command is bad input) or 70. A command annotated `exit N` must exit N. Output paths
 * under /tmp/ and `out/` are redirected to a temporary directory. Commands that take minutes
 * (the 256 GiB seed scenario, the long memtouch runs) are listed in SLOW and skipped; the
 * placeholders of usage lines (`<config>`, `…`, `|`) are not commands.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");

/** Configs whose documented commands take minutes; their behaviour has dedicated tests. */
const SLOW = [
  "seed-specjbb.yaml", // 256 GiB, 1487 s virtual: packages/cli/test/seed.test.ts at 1/128
  "memtouch-autoconverge.yaml", // memtouch-autoconverge.test.ts
  "examples/configs/memtouch.yaml", // 50 passes over 1 MiB: run.test.ts
  "isa-test", // a shell glob: isa-test.test.ts runs every ELF
  "precopy+dirty-limit", // docs/dirty-limit.md's compare runs: cli/test/dirty-limit.test.ts, plugins/dirty-limit/test
  "seed-specjbb-64.yaml", // seed at 1/64, 1487 s virtual per non-converging set: seed.test.ts at 1/128
  "max-bandwidth=32MiB/s --strategies precopy precopy+xbzrle", // docs/results.md's 14-set memtouch table (~2 min)
];

/** One documented command: where it is written and its arguments after `ferry`. */
export interface DocCommand {
  readonly file: string;
  readonly text: string;
  readonly args: readonly string[];
  /** The exit code the docs state (`exit N` next to it), if any. */
  readonly exit?: number;
}

/** Split a command line like a shell would for the simple cases the docs use (quotes, spaces). */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** The `pnpm ferry` commands of one file's text (continuation lines joined, comments dropped). */
export function docCommands(file: string, text: string): DocCommand[] {
  const lines = text.split("\n");
  const out: DocCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /(?:^\s*|\$ |#\s+|`)pnpm ferry (.*)$/.exec(lines[i]);
    if (!m) continue;
    let rest = m[1];
    while (rest.trimEnd().endsWith("\\") && i + 1 < lines.length) {
      rest = `${rest.trimEnd().slice(0, -1)} ${lines[++i].replace(/^\s*#?\s*/, "")}`;
    }
    rest = rest.split("`")[0];
    const exit = /\bexit (\d+)/.exec(rest);
    rest = rest.replace(/\s{2,}(#|\().*$/, "").replace(/\s#.*$/, "");
    if (/[<…|]/.test(rest) || rest.trim() === "") continue;
    // Prose naming a command (`pnpm ferry migrate` process) is not a command line.
    if (/^(run|migrate|compare|snapshot|restore)$/.test(rest.trim())) continue;
    out.push({
      file,
      text: rest.trim(),
      args: shellWords(rest),
      ...(exit ? { exit: Number(exit[1]) } : {}),
    });
  }
  return out;
}

function allDocCommands(): DocCommand[] {
  const files = [
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
    "README.md",
    ...readdirSync(join(ROOT, "examples/configs"))
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => `examples/configs/${f}`),
  ];
  const seen = new Set<string>();
  const out: DocCommand[] = [];
  for (const file of files) {
    for (const c of docCommands(file, readFileSync(join(ROOT, file), "utf8"))) {
      if (seen.has(c.text)) continue;
      seen.add(c.text);
      out.push(c);
    }
  }
  return out;
}

describe("documented commands", () => {
  const commands = allDocCommands();
  const fast = commands.filter((c) => !SLOW.some((s) => c.text.includes(s)));

  it("finds the commands of the docs", () => {
    expect(commands.length).toBeGreaterThan(25);
    expect(fast.length).toBeGreaterThan(15);
    expect(docCommands("x.md", "  pnpm ferry run a.yaml --set x=1  # note\n")).toEqual([
      { file: "x.md", text: "run a.yaml --set x=1", args: ["run", "a.yaml", "--set", "x=1"] },
    ]);
  });

  it("each fast one runs as shown (exit 0, 1 or 3; the stated code when there is one)", async () => {
    // Each file's commands run in order (a snapshot before its restore), in a temporary directory
    // of their own; two files at a time (a command is mostly Node's and tsx's start-up on one
    // core, and the suite's single worker leaves the other idle).
    const byFile = new Map<string, DocCommand[]>();
    for (const c of fast) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c]);
    const queue = [...byFile.entries()];
    const failures: string[] = [];
    const runFile = async (file: string, cmds: DocCommand[]): Promise<void> => {
      const tmp = mkdtempSync(join(tmpdir(), "ferry-doc-commands-"));
      for (const c of cmds) {
        const args = c.args.map((a) =>
          a.startsWith("/tmp/") ? join(tmp, a.slice(5)) : a === "out/" ? join(tmp, "out") : a,
        );
        const p = await runFerry(args);
        const ok = c.exit !== undefined ? p.status === c.exit : [0, 1, 3].includes(p.status ?? -1);
        if (!ok) {
          failures.push(
            `${file}: pnpm ferry ${c.text} → exit ${p.status}${c.exit !== undefined ? ` (docs say ${c.exit})` : ""}: ${p.stderr.slice(0, 400)}`,
          );
        }
      }
    };
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        await runFile(next[0], next[1]);
      }
    };
    await Promise.all([worker(), worker()]);
    expect(failures.sort()).toEqual([]);
  }, 900_000);
});

/** Run the real binary from the repository root (3 minutes at most); its exit status and stderr. */
function runFerry(args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}
