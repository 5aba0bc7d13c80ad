/**
 * Post-copy commands, carried as the chunks of the `postcopy` plugin section (see
 * docs/stream-format.md, "Post-copy commands"). QEMU sends them as `QEMU_VM_COMMAND` records
 * (`MIG_CMD_*`); ferry keeps QEMU's command numbers and puts them in its own section:
 *
 * ```
 * chunk   := command*
 * command := be16 cmd, be32 len, data[len]
 * ```
 */
import { PAGE_SIZE } from "@ferry/core";
import { MigrationError } from "@ferry/migration";

/** Command numbers (QEMU's `enum qemu_vm_cmd`, plus ferry's device-state command). */
export const PostcopyCmd = {
  /** `MIG_CMD_POSTCOPY_ADVISE`: be64 page size, be64 target page size (setup). */
  ADVISE: 3,
  /** `MIG_CMD_POSTCOPY_LISTEN`: no data; the destination starts serving faults. */
  LISTEN: 4,
  /** `MIG_CMD_POSTCOPY_RUN`: no data; the destination runs the guest. */
  RUN: 5,
  /** `MIG_CMD_POSTCOPY_RAM_DISCARD`: u8 0, u8 idlen, idstr, (be64 start, be64 length)* bytes. */
  RAM_DISCARD: 6,
  /** `MIG_CMD_POSTCOPY_RESUME`: no data; the source resumes after a recovery. */
  RESUME: 7,
  /** `MIG_CMD_PACKAGED`: data = further commands (the package the destination loads at once). */
  PACKAGED: 8,
  /** `MIG_CMD_RECV_BITMAP`: u8 idlen, idstr; asks the destination for its received bitmap. */
  RECV_BITMAP: 9,
  /** ferry: the machine's device and CPU state, UTF-8 JSON of `saveState()`. */
  DEVICE_STATE: 0x100,
} as const;

/** A decoded command. */
export interface PostcopyCommand {
  readonly cmd: number;
  readonly data: Uint8Array;
}

/** Largest discard command data (bytes), so that a chunk stays below the 16 MiB section limit. */
export const MAX_DISCARD_BYTES = 1 << 20;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder("utf-8", { fatal: true });

/** Encode commands into one chunk. */
export function encodeCommands(cmds: readonly PostcopyCommand[]): Uint8Array {
  let n = 0;
  for (const c of cmds) n += 6 + c.data.length;
  const out = new Uint8Array(n);
  const v = new DataView(out.buffer);
  let p = 0;
  for (const c of cmds) {
    v.setUint16(p, c.cmd);
    v.setUint32(p + 2, c.data.length);
    out.set(c.data, p + 6);
    p += 6 + c.data.length;
  }
  return out;
}

/** Decode a chunk into commands; throws a `MigrationError` on a malformed chunk. */
export function decodeCommands(chunk: Uint8Array): PostcopyCommand[] {
  const out: PostcopyCommand[] = [];
  const v = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let p = 0;
  while (p < chunk.length) {
    if (chunk.length - p < 6) {
      throw new MigrationError(
        `post-copy command truncated at byte ${p} of a ${chunk.length}-byte chunk`,
      );
    }
    const cmd = v.getUint16(p);
    const len = v.getUint32(p + 2);
    if (chunk.length - p - 6 < len) {
      throw new MigrationError(
        `post-copy command ${cmd} at byte ${p} claims ${len} bytes, ${chunk.length - p - 6} remain`,
      );
    }
    out.push({ cmd, data: chunk.subarray(p + 6, p + 6 + len) });
    p += 6 + len;
  }
  return out;
}

/** The ADVISE data: page size and target page size (both 4096 in ferry). */
export function adviseData(): Uint8Array {
  const d = new Uint8Array(16);
  const v = new DataView(d.buffer);
  v.setUint32(4, PAGE_SIZE);
  v.setUint32(12, PAGE_SIZE);
  return d;
}

/** Check an ADVISE from the source: the page sizes must match ours. */
export function checkAdvise(data: Uint8Array): void {
  if (data.length !== 16)
    throw new MigrationError(`POSTCOPY_ADVISE: expected 16 bytes, got ${data.length}`);
  const v = new DataView(data.buffer, data.byteOffset, 16);
  const page = v.getUint32(0) * 2 ** 32 + v.getUint32(4);
  const target = v.getUint32(8) * 2 ** 32 + v.getUint32(12);
  if (page !== PAGE_SIZE || target !== PAGE_SIZE) {
    throw new MigrationError(
      `POSTCOPY_ADVISE: page sizes ${page}/${target}, this destination uses ${PAGE_SIZE}`,
    );
  }
}

function blockName(name: string): Uint8Array {
  const id = utf8.encode(name);
  if (id.length === 0 || id.length > 255)
    throw new MigrationError(`block idstr must be 1–255 bytes: "${name}"`);
  return id;
}

/**
 * RAM_DISCARD commands for the set bits of `words` (a page bitmap of `pageCount` pages): runs of
 * pages as (byte start, byte length), at most {@link MAX_DISCARD_BYTES} of data per command.
 */
export function discardCommands(
  name: string,
  words: Uint32Array,
  pageCount: number,
): PostcopyCommand[] {
  const id = blockName(name);
  const head = 2 + id.length;
  const perCmd = Math.floor((MAX_DISCARD_BYTES - head) / 16);
  const cmds: PostcopyCommand[] = [];
  let runs: number[] = [];
  const flush = (): void => {
    if (runs.length === 0) return;
    const d = new Uint8Array(head + runs.length * 8);
    d[0] = 0;
    d[1] = id.length;
    d.set(id, 2);
    const v = new DataView(d.buffer);
    for (let i = 0; i < runs.length; i++) {
      const x = runs[i] * PAGE_SIZE;
      v.setUint32(head + i * 8, Math.floor(x / 2 ** 32));
      v.setUint32(head + i * 8 + 4, x >>> 0);
    }
    cmds.push({ cmd: PostcopyCmd.RAM_DISCARD, data: d });
    runs = [];
  };
  let p = 0;
  while (p < pageCount) {
    const w = words[p >>> 5];
    if (w === 0 && (p & 31) === 0) {
      p += 32;
      continue;
    }
    if ((w & (1 << (p & 31))) === 0) {
      p++;
      continue;
    }
    const start = p;
    while (p < pageCount && (words[p >>> 5] & (1 << (p & 31))) !== 0) {
      if ((p & 31) === 0 && words[p >>> 5] === 0xffffffff && p + 32 <= pageCount) p += 32;
      else p++;
    }
    runs.push(start, p - start);
    if (runs.length / 2 >= perCmd) flush();
  }
  flush();
  return cmds;
}

/** A decoded RAM_DISCARD: the block and its page runs (start page, page count). */
export interface Discard {
  readonly block: string;
  readonly runs: readonly number[];
}

/** Decode a RAM_DISCARD's data (byte ranges must be page aligned). */
export function decodeDiscard(data: Uint8Array): Discard {
  if (data.length < 2 || data[0] !== 0)
    throw new MigrationError("POSTCOPY_RAM_DISCARD: bad header");
  const idlen = data[1];
  const head = 2 + idlen;
  if (idlen === 0 || data.length < head || (data.length - head) % 16 !== 0) {
    throw new MigrationError(`POSTCOPY_RAM_DISCARD: malformed ${data.length}-byte command`);
  }
  const block = utf8d.decode(data.subarray(2, head));
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const runs: number[] = [];
  for (let p = head; p < data.length; p += 16) {
    const start = v.getUint32(p) * 2 ** 32 + v.getUint32(p + 4);
    const len = v.getUint32(p + 8) * 2 ** 32 + v.getUint32(p + 12);
    if (start % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0 || len === 0) {
      throw new MigrationError(
        `POSTCOPY_RAM_DISCARD: range ${start}+${len} of "${block}" is not page aligned`,
      );
    }
    runs.push(start / PAGE_SIZE, len / PAGE_SIZE);
  }
  return { block, runs };
}

/** The DEVICE_STATE command for `state`. */
export function deviceStateCommand(state: object): PostcopyCommand {
  return { cmd: PostcopyCmd.DEVICE_STATE, data: utf8.encode(JSON.stringify(state)) };
}

/** Decode a DEVICE_STATE command's data. */
export function decodeDeviceState(data: Uint8Array): object {
  let v: unknown;
  try {
    v = JSON.parse(utf8d.decode(data));
  } catch (e) {
    throw new MigrationError(
      `post-copy device state is not valid UTF-8 JSON: ${(e as Error).message}`,
    );
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new MigrationError("post-copy device state must be a JSON object");
  }
  return v;
}
