/**
 * The stream reader: a synchronous incremental push parser. `push(chunk)` parses every complete
 * item and keeps the remainder; `end()` fails if the stream is incomplete. Every field is
 * validated; RAM records are applied straight into the destination's RAM backends.
 */
import { StreamError } from "../errors";
import { loadMachineStateSection, type ReceivedDeviceState } from "../sections/machine-state";
import { type RamBlockTarget, RamLoader } from "../sections/ram-loader";
import {
  DEVICE_SECTION_VERSION,
  MAX_DEVICE_STATE_BYTES,
  MAX_DEVICE_STATE_TOTAL_BYTES,
  RAM_SECTION,
  STREAM_MAGIC,
  STREAM_VERSIONS_READ,
  SectionType,
} from "./constants";
import type { RamRecordRegistry } from "./records";
import { be32 } from "./be32";

export type { ReceivedDeviceState } from "../sections/machine-state";
export type { RamBlockTarget } from "../sections/ram-loader";

/** The destination half of a plugin section, as the reader sees it. */
export interface ReaderSection {
  /** Section versions accepted. */
  readonly versions: readonly number[];
  /** Apply one chunk body (a copy); throw to refuse the stream. */
  load(chunk: Uint8Array, phase: "start" | "part" | "end" | "full"): void;
}

interface OpenSection {
  readonly idstr: string;
  readonly sink: ReaderSection;
  ended: boolean;
}

/** Options of {@link StreamReader}. */
export interface StreamReaderOptions {
  /** Destination RAM blocks; the stream's block list must match them exactly (names and sizes). */
  readonly blocks: readonly RamBlockTarget[];
  /** Known RAM record types (default: the base PAGE and ZERO only). */
  readonly records?: RamRecordRegistry;
  /** Called for each device section as it completes (it is also kept in `devices`). */
  readonly onDevice?: (device: ReceivedDeviceState) => void;
  /** Largest device-state body accepted (default 16 MiB). */
  readonly maxDeviceStateBytes?: number;
  /**
   * Largest sum of all device-state (FULL JSON) bodies of the stream, which the reader keeps until
   * the end (default 64 MiB, `MAX_DEVICE_STATE_TOTAL_BYTES`); checked from each body's length
   * field before the body is buffered. Plugin-section chunks are handed to their loaders and are
   * limited one by one (`maxDeviceStateBytes`).
   */
  readonly maxDeviceStateTotalBytes?: number;
  /**
   * Accept compact synthetic records (`RamFlag.COMPACT`: `be32 version` instead of the payload)
   * for synthetic destination blocks. Set by `incoming` for a compact link. Default false.
   */
  readonly compact?: boolean;
  /** Plugin sections by idstr (START/PART/END or FULL with a `be32 len` + bytes body). */
  readonly sections?: ReadonlyMap<string, ReaderSection>;
  /**
   * Called at each multifd sync point (`RamFlag.MULTIFD_FLUSH`); absent = the destination has no
   * multifd channels and such a record is refused.
   */
  readonly onMultifdFlush?: () => void;
}

const enum St {
  Header,
  Section,
  /** Inside a RAM chunk: the RAM loader parses it. */
  Ram,
  DeviceBody,
  SectionBody,
  Footer,
  Done,
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Synchronous incremental parser and loader of a ferry migration stream. It parses the QEMU
 * framing (header, section headers, footers, EOF) and hands each section's chunks to that
 * section's loader: the RAM loader (`sections/ram-loader.ts`, records parsed in place), a plugin
 * section's loader (`be32 len` + body), or the machine-state loader (every other FULL section).
 */
export class StreamReader {
  /** Device sections received so far, in stream order. */
  readonly devices: ReceivedDeviceState[] = [];
  private state: St = St.Header;
  private readonly ram: RamLoader;
  private readonly onDevice: ((d: ReceivedDeviceState) => void) | undefined;
  private readonly maxDevice: number;
  private readonly maxDeviceTotal: number;
  /** Device-state body bytes accepted so far (against `maxDeviceTotal`). */
  private deviceTotal = 0;
  private rem = new Uint8Array(1 << 16);
  private remLen = 0;
  private consumed = 0;
  private base = 0;
  private failure: StreamError | null = null;
  private readonly seenIds = new Set<number>();
  private readonly seenDevices = new Set<string>();
  private sectionId = -1;
  private sectionType = 0;
  private ramSectionId = -1;
  private ramEnded = false;
  private readonly sections: ReadonlyMap<string, ReaderSection>;
  private readonly open = new Map<number, OpenSection>();
  private cur: OpenSection | null = null;
  private phase: "start" | "part" | "end" | "full" = "full";

  constructor(options: StreamReaderOptions) {
    this.sections = options.sections ?? new Map();
    this.ram = new RamLoader(options, (pos, what) => this.fail(pos, what));
    this.onDevice = options.onDevice;
    this.maxDevice = options.maxDeviceStateBytes ?? MAX_DEVICE_STATE_BYTES;
    this.maxDeviceTotal = options.maxDeviceStateTotalBytes ?? MAX_DEVICE_STATE_TOTAL_BYTES;
  }

  /** RAM records applied so far. */
  get pages(): number {
    return this.ram.pages;
  }

  /** True once EOF was parsed (the stream is complete and valid). */
  get done(): boolean {
    return this.state === St.Done;
  }

  /** Bytes parsed so far (complete items). */
  get position(): number {
    return this.consumed;
  }

  /** Parse every complete item in `chunk` (copied if kept); throws `StreamError` on bad data. */
  push(chunk: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    try {
      this.pushInner(chunk);
    } catch (e) {
      this.failure =
        e instanceof StreamError
          ? e
          : new StreamError(this.consumed, `internal reader error: ${(e as Error).message}`);
      throw this.failure;
    }
  }

  /** Declare the end of input: throws `StreamError` unless EOF was reached with nothing after it. */
  end(): void {
    if (this.failure !== null) throw this.failure;
    if (this.state !== St.Done || this.remLen !== 0) {
      this.failure = new StreamError(
        this.consumed,
        `stream truncated: ${this.remLen} byte(s) of an incomplete item left, expected ${this.expecting()}`,
      );
      throw this.failure;
    }
  }

  private expecting(): string {
    switch (this.state) {
      case St.Header:
        return "the stream header";
      case St.Section:
        return "a section or EOF";
      case St.Ram:
        return this.ram.expecting();
      case St.DeviceBody:
        return "a device-state body";
      case St.SectionBody:
        return "a section chunk body";
      case St.Footer:
        return "a section footer";
      default:
        return "nothing";
    }
  }

  private pushInner(chunk: Uint8Array): void {
    let off = 0;
    while (this.remLen > 0 && off < chunk.length) {
      const oldLen = this.remLen;
      // Copy only what completes the straddling item: 8 KiB covers a page record; a larger item
      // (device state) at least doubles `rem` per round, so the copying stays linear.
      const take = Math.min(chunk.length - off, Math.max(1 << 13, oldLen));
      this.appendRem(chunk, off, take);
      off += take;
      this.base = this.consumed;
      const p = this.parse(this.rem, 0, this.remLen);
      this.consumed += p;
      if (p >= oldLen) {
        off = off - take + (p - oldLen);
        this.remLen = 0;
      } else {
        this.rem.copyWithin(0, p, this.remLen);
        this.remLen -= p;
      }
    }
    if (this.remLen === 0 && off < chunk.length) {
      this.base = this.consumed - off;
      const p = this.parse(chunk, off, chunk.length);
      this.consumed += p - off;
      if (p < chunk.length) this.appendRem(chunk, p, chunk.length - p);
    }
  }

  private appendRem(src: Uint8Array, off: number, len: number): void {
    const need = this.remLen + len;
    if (need > this.rem.length) {
      const grown = new Uint8Array(Math.max(need, this.rem.length * 2));
      grown.set(this.rem.subarray(0, this.remLen));
      this.rem = grown;
    }
    this.rem.set(src.subarray(off, off + len), this.remLen);
    this.remLen = need;
  }

  private fail(pos: number, what: string): never {
    throw new StreamError(this.base + pos, what);
  }

  /** Parse items in `buf[pos, end)`; returns the position of the first incomplete item. */
  private parse(buf: Uint8Array, pos: number, end: number): number {
    for (;;) {
      const avail = end - pos;
      switch (this.state) {
        case St.Header: {
          if (avail < 8) return pos;
          const magic = be32(buf, pos);
          if (magic !== STREAM_MAGIC) {
            this.fail(
              pos,
              `bad magic 0x${magic.toString(16)}, expected 0x${STREAM_MAGIC.toString(16)}`,
            );
          }
          const version = be32(buf, pos + 4);
          if (!STREAM_VERSIONS_READ.includes(version)) {
            this.fail(
              pos + 4,
              `unsupported stream version ${version}, expected ${STREAM_VERSIONS_READ.slice(0, -1).join(", ")} or ${STREAM_VERSIONS_READ.at(-1)}`,
            );
          }
          pos += 8;
          this.state = St.Section;
          break;
        }
        case St.Section: {
          const r = this.parseSection(buf, pos, end);
          if (r < 0) return pos;
          pos = r;
          break;
        }
        case St.Ram:
          pos = this.ram.parse(buf, pos, end);
          if (!this.ram.chunkEnded) return pos;
          this.state = St.Footer;
          break;
        case St.DeviceBody: {
          const r = this.parseDevice(buf, pos, end);
          if (r < 0) return pos;
          pos = r;
          break;
        }
        case St.SectionBody: {
          const r = this.parseSectionBody(buf, pos, end);
          if (r < 0) return pos;
          pos = r;
          break;
        }
        case St.Footer: {
          if (avail < 5) return pos;
          if (buf[pos] !== SectionType.FOOTER) {
            this.fail(pos, `expected section footer 0x7e, found 0x${buf[pos].toString(16)}`);
          }
          const id = be32(buf, pos + 1);
          if (id !== this.sectionId) {
            this.fail(pos + 1, `footer for section ${id}, expected section ${this.sectionId}`);
          }
          if (this.sectionType === SectionType.END && id === this.ramSectionId)
            this.ramEnded = true;
          pos += 5;
          this.state = St.Section;
          break;
        }
        case St.Done:
          if (avail > 0) this.fail(pos, `${avail} byte(s) of data after EOF`);
          return pos;
      }
    }
  }

  /** Returns the position after the section header, or -1 when incomplete. */
  private parseSection(buf: Uint8Array, pos: number, end: number): number {
    const avail = end - pos;
    if (avail < 1) return -1;
    const type = buf[pos];
    if (type === SectionType.EOF) {
      if (this.ramSectionId < 0) this.fail(pos, "EOF before any RAM section");
      if (!this.ramEnded) this.fail(pos, "EOF before the RAM section's END part");
      for (const o of this.open.values()) {
        if (!o.ended) this.fail(pos, `EOF before section "${o.idstr}"'s END part`);
      }
      this.state = St.Done;
      return pos + 1;
    }
    if (type === SectionType.PART || type === SectionType.END) {
      if (avail < 5) return -1;
      const id = be32(buf, pos + 1);
      const o = this.open.get(id);
      if (o !== undefined) {
        if (o.ended)
          this.fail(pos + 1, `section ${id} ("${o.idstr}") continued after its END part`);
        this.sectionId = id;
        this.sectionType = type;
        this.cur = o;
        this.phase = type === SectionType.END ? "end" : "part";
        if (type === SectionType.END) o.ended = true;
        this.state = St.SectionBody;
        return pos + 5;
      }
      if (this.ramSectionId < 0 || id !== this.ramSectionId) {
        this.fail(pos + 1, `section part for unknown section id ${id}`);
      }
      if (this.ramEnded) this.fail(pos + 1, `section ${id} continued after its END part`);
      this.sectionId = id;
      this.sectionType = type;
      this.ram.begin(type === SectionType.END ? "end" : "part");
      this.state = St.Ram;
      return pos + 5;
    }
    if (type !== SectionType.START && type !== SectionType.FULL) {
      this.fail(pos, `unknown section type 0x${type.toString(16)}`);
    }
    if (avail < 6) return -1;
    const idlen = buf[pos + 5];
    if (idlen === 0) this.fail(pos + 5, "empty section idstr");
    const need = 6 + idlen + 8;
    if (avail < need) return -1;
    const id = be32(buf, pos + 1);
    if (this.seenIds.has(id)) this.fail(pos + 1, `section id ${id} used twice`);
    let idstr: string;
    try {
      idstr = utf8.decode(buf.subarray(pos + 6, pos + 6 + idlen));
    } catch {
      return this.fail(pos + 6, "section idstr is not valid UTF-8");
    }
    const instance = be32(buf, pos + 6 + idlen);
    const version = be32(buf, pos + 10 + idlen);
    this.seenIds.add(id);
    this.sectionId = id;
    this.sectionType = type;
    const plugin = idstr === RAM_SECTION.idstr ? undefined : this.sections.get(idstr);
    if (plugin !== undefined) {
      if (!plugin.versions.includes(version)) {
        this.fail(
          pos + 10 + idlen,
          `section "${idstr}" version ${version}, expected ${plugin.versions.join(" or ")}`,
        );
      }
      const key = `${idstr}\u0000${instance}`;
      if (this.seenDevices.has(key)) {
        this.fail(pos, `section "${idstr}" instance ${instance} sent twice`);
      }
      this.seenDevices.add(key);
      const o: OpenSection = { idstr, sink: plugin, ended: type === SectionType.FULL };
      if (type === SectionType.START) this.open.set(id, o);
      this.cur = o;
      this.phase = type === SectionType.START ? "start" : "full";
      this.state = St.SectionBody;
      return pos + need;
    }
    if (type === SectionType.START) {
      if (idstr !== RAM_SECTION.idstr) this.fail(pos + 6, `unknown iterative section "${idstr}"`);
      if (this.ramSectionId >= 0) this.fail(pos, "second RAM section");
      if (instance !== RAM_SECTION.instance || version !== RAM_SECTION.version) {
        this.fail(
          pos + 6 + idlen,
          `RAM section instance ${instance} version ${version}, expected instance 0 version 4`,
        );
      }
      this.ramSectionId = id;
      this.ram.begin("start");
      this.state = St.Ram;
    } else {
      if (idstr === RAM_SECTION.idstr) this.fail(pos + 6, "RAM sent as a FULL section");
      if (version !== DEVICE_SECTION_VERSION) {
        this.fail(
          pos + 10 + idlen,
          `device section "${idstr}" version ${version}, expected ${DEVICE_SECTION_VERSION}`,
        );
      }
      const key = `${idstr}\u0000${instance}`;
      if (this.seenDevices.has(key)) {
        this.fail(pos, `device section "${idstr}" instance ${instance} sent twice`);
      }
      this.seenDevices.add(key);
      this.devIdstr = idstr;
      this.devInstance = instance;
      this.state = St.DeviceBody;
    }
    return pos + need;
  }

  private parseSectionBody(buf: Uint8Array, pos: number, end: number): number {
    if (end - pos < 4) return -1;
    const len = be32(buf, pos);
    const o = this.cur!;
    if (len > this.maxDevice) {
      this.fail(
        pos,
        `section "${o.idstr}" chunk of ${len} bytes exceeds the limit of ${this.maxDevice}`,
      );
    }
    if (end - pos < 4 + len) return -1;
    try {
      o.sink.load(buf.slice(pos + 4, pos + 4 + len), this.phase);
    } catch (e) {
      this.fail(
        pos + 4,
        `section "${o.idstr}" refused its ${this.phase} chunk: ${(e as Error).message}`,
      );
    }
    this.state = St.Footer;
    return pos + 4 + len;
  }

  /** Refuse a body of `len` bytes that would take the stream's device state past its total. */
  private checkDeviceTotal(pos: number, len: number, what: string): void {
    if (this.deviceTotal + len > this.maxDeviceTotal) {
      this.fail(
        pos,
        `${what} of ${len} bytes takes the stream's device state to ${this.deviceTotal + len} bytes, above the total limit of ${this.maxDeviceTotal}`,
      );
    }
  }

  private devIdstr = "";
  private devInstance = 0;

  private parseDevice(buf: Uint8Array, pos: number, end: number): number {
    if (end - pos < 4) return -1;
    const len = be32(buf, pos);
    if (len > this.maxDevice) {
      this.fail(pos, `device state of ${len} bytes exceeds the limit of ${this.maxDevice}`);
    }
    this.checkDeviceTotal(pos, len, `device "${this.devIdstr}" state`);
    if (end - pos < 4 + len) return -1;
    this.deviceTotal += len;
    let dev: ReceivedDeviceState;
    try {
      dev = loadMachineStateSection(
        this.devIdstr,
        this.devInstance,
        buf.subarray(pos + 4, pos + 4 + len),
      );
    } catch (e) {
      return this.fail(pos + 4, (e as Error).message);
    }
    this.devices.push(dev);
    this.onDevice?.(dev);
    this.state = St.Footer;
    return pos + 4 + len;
  }
}
