/**
 * Snapshots: a migration to a file. `saveSnapshot` stops the guest, writes the whole stream
 * (zero pages as ZERO records) and lets it run again; `restoreSnapshot` loads one into a fresh,
 * paused machine built from the same config.
 */
import { PAGE_SIZE, type Scheduler } from "@ferry/core";
import { isSyntheticRamBackend } from "@ferry/sim";
import { MigrationError } from "./errors";
import { incoming } from "./incoming";
import { type FerryPlugin, type MigratableMachine, runMachine } from "./plugin";
import { RamFlag, SectionType } from "./stream/constants";
import { IntegrityEncoder, type IntegrityMode } from "./stream/integrity";
import { StreamWriter } from "./stream/writer";
import { fileSink, fileSource } from "./transport/file";

/** What a snapshot write produced. */
export interface SnapshotInfo {
  /** Bytes written to the file (with the integrity framing). */
  readonly bytes: number;
  /** Pages sent as ZERO records. */
  readonly zeroPages: number;
  /** Pages sent raw. */
  readonly normalPages: number;
}

/**
 * Write a snapshot of `machine` to `path`: pause it if running, write, and let it run again
 * afterwards (unless `resume: false`). With `compact: true`, pages of synthetic RAM are written
 * as compact records (their version, not their bytes): restore such a file with
 * `restoreSnapshot(…, { compact: true })` into a machine built from the same config. The file is
 * integrity-framed (a CRC-32 per 64 KiB block and a whole-stream digest) unless
 * `integrity: false`.
 */
export async function saveSnapshot(
  machine: MigratableMachine,
  path: string,
  options: {
    readonly resume?: boolean;
    readonly compact?: boolean;
    /** Frame the file with integrity checks (default true). */
    readonly integrity?: boolean;
  } = {},
): Promise<SnapshotInfo> {
  const wasRunning = machine.state === undefined || machine.state === "running";
  await machine.pause();
  const sink = fileSink(path);
  try {
    let fileBytes = 0;
    const toFile = (chunk: Uint8Array): void => {
      sink.write(chunk);
      fileBytes += chunk.length;
    };
    const framing = options.integrity === false ? null : new IntegrityEncoder(toFile);
    const w = new StreamWriter(framing !== null ? framing.write : toFile);
    const blocks = machine.memory.ramRegions.filter((r) => !r.readonly);
    let zeroPages = 0;
    let normalPages = 0;
    w.header();
    const id = w.ramSetupSection(blocks);
    w.sectionContinue(SectionType.END, id);
    const scratch = new Uint8Array(PAGE_SIZE);
    for (const block of blocks) {
      const pages = block.size / PAGE_SIZE;
      const bytes = block.backend.bytes;
      const versions =
        options.compact === true && isSyntheticRamBackend(block.backend)
          ? block.backend.versions
          : null;
      for (let p = 0; p < pages; p++) {
        const off = p * PAGE_SIZE;
        if (versions !== null && versions[p] !== 0) {
          w.ramRecord(block, off, RamFlag.PAGE | RamFlag.COMPACT);
          w.be32(versions[p]);
          normalPages++;
        } else if (block.backend.isZeroPage(p)) {
          w.ramRecord(block, off, RamFlag.ZERO);
          w.u8(0);
          zeroPages++;
        } else {
          w.ramRecord(block, off, RamFlag.PAGE);
          if (bytes !== null) w.bytes(bytes, off, PAGE_SIZE);
          else {
            block.backend.read(off, scratch);
            w.bytes(scratch, 0, PAGE_SIZE);
          }
          normalPages++;
        }
      }
    }
    w.ramEos();
    w.footer(id);
    const state = machine.saveState() as Record<string, unknown>;
    for (const [key, value] of Object.entries(state)) w.deviceSection(key, 0, { [key]: value });
    w.eof();
    w.flush();
    framing?.finish();
    await sink.end();
    return { bytes: fileBytes, zeroPages, normalPages };
  } catch (e) {
    sink.abort(e as Error);
    throw e;
  } finally {
    if (wasRunning && options.resume !== false) runMachine(machine);
  }
}

/**
 * Load the snapshot at `path` into `machine` (built from the same config, paused). Throws a
 * `StreamError` for a bad file (a corrupted block: at the offset of the first bad block);
 * resumes the machine afterwards unless `resume: false`. A file without integrity framing is
 * refused unless `integrity: "accept"`.
 */
export async function restoreSnapshot(
  path: string,
  machine: MigratableMachine & { readonly scheduler?: Scheduler },
  options: {
    readonly resume?: boolean;
    readonly plugins?: readonly FerryPlugin[];
    /** The file was written with `saveSnapshot(…, { compact: true })`. */
    readonly compact?: boolean;
    /** Integrity framing: `require` (default), `accept` (also plain files) or `off`. */
    readonly integrity?: IntegrityMode;
  } = {},
): Promise<void> {
  const source = fileSource(path);
  const r = await incoming({
    machine,
    transport: options.compact === true ? { ...source, compact: true } : source,
    plugins: options.plugins,
    resume: options.resume,
    integrity: options.integrity ?? "require",
  }).done;
  if (r.status !== "completed") {
    throw r.error ?? new MigrationError(`restoring ${path} failed`);
  }
}
