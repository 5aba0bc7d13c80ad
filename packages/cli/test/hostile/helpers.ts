/** Shared helpers of the hostile-input tests: run `ferry` in-process, craft snapshot streams. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VirtualScheduler } from "@ferry/core";
import {
  DEVICE_SECTION_VERSION,
  frameStream,
  RamFlag,
  SectionType,
  StreamWriter,
} from "@ferry/migration";
import { expect } from "vitest";
import { captureIo, main } from "../../src";
import { type FerryConfig, loadConfig } from "../../src/config";
import { buildSide } from "../../src/migrate/sides";
import { readGuestElf } from "../../src/run/run-guest";
import { SNAPSHOT_META_KEY } from "../../src/snapshot/snapshot";

/** Repository root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
/** An example config by name. */
export const example = (name: string): string => join(root, "examples/configs", `${name}.yaml`);
/** A fresh temporary directory. */
export const tmp = (): string => mkdtempSync(join(tmpdir(), "ferry-hostile-"));

/** Result of one in-process `ferry` run. */
export interface FerryResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  readonly wallMs: number;
}

/** Run `ferry argv…` in-process. */
export async function ferry(...argv: string[]): Promise<FerryResult> {
  const io = captureIo();
  const t0 = performance.now();
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr(), wallMs: performance.now() - t0 };
}

/**
 * The rule for every rejected input: exit 2, one line on stderr (`ferry: …`), no stack trace,
 * bounded length, matching `pattern`.
 */
export function expectCleanRejection(r: FerryResult, pattern: RegExp, code = 2): void {
  expect(r.err, r.err.slice(0, 500)).toMatch(pattern);
  expect(r.code).toBe(code);
  expect(r.err).toMatch(/^ferry: /);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.err.length).toBeLessThan(2600);
}

/** Options of {@link writeCraftedSnapshot}. */
export interface CraftOptions {
  /** Write one ZERO record per page (a complete snapshot); false: no page records at all. */
  readonly pages: boolean;
  /** The `ferry-snapshot` section's value (omitted when undefined). */
  readonly meta?: unknown;
  /** Raw JSON bodies replacing the machine's device sections of these names. */
  readonly raw?: Readonly<Record<string, string>>;
  /** Write the plain stream, without integrity framing (default: framed, as ferry snapshot). */
  readonly plain?: boolean;
}

/**
 * Write a well-formed stream for `config` to `file`: the RAM section (with or without page
 * records), the machine's device sections and a `ferry-snapshot` section of our choosing.
 */
export function writeCraftedSnapshot(
  config: FerryConfig,
  file: string,
  options: CraftOptions,
): void {
  const elf = config.guest !== undefined ? readGuestElf(config) : null;
  const side = buildSide(config, new VirtualScheduler(), elf);
  const chunks: Uint8Array[] = [];
  const w = new StreamWriter((c) => chunks.push(c.slice()));
  const blocks = side.machine.memory.ramRegions.filter((r) => !r.readonly);
  w.header();
  const id = w.ramSetupSection(blocks);
  w.sectionContinue(SectionType.END, id);
  if (options.pages) {
    for (const block of blocks) {
      for (let off = 0; off < block.size; off += 4096) {
        w.ramRecord(block, off, RamFlag.ZERO);
        w.u8(0);
      }
    }
  }
  w.ramEos();
  w.footer(id);
  const state = side.machine.saveState() as Record<string, unknown>;
  for (const [key, value] of Object.entries(state)) {
    const raw = options.raw?.[key];
    if (raw === undefined) {
      w.deviceSection(key, 0, { [key]: value });
      continue;
    }
    const json = new TextEncoder().encode(raw);
    const sid = w.sectionStart(SectionType.FULL, key, 0, DEVICE_SECTION_VERSION);
    w.be32(json.length);
    w.bytes(json, 0, json.length);
    w.footer(sid);
  }
  if (options.meta !== undefined) {
    w.deviceSection(SNAPSHOT_META_KEY, 0, { [SNAPSHOT_META_KEY]: options.meta });
  }
  w.eof();
  w.flush();
  const stream = Buffer.concat(chunks);
  writeFileSync(file, options.plain === true ? stream : frameStream(stream));
}

/** Load an example config. */
export const exampleConfig = (name: string): FerryConfig => loadConfig(example(name));
