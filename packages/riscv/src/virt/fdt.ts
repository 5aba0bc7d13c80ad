/**
 * A flattened device tree (DTB, version 17) writer: nodes with properties as plain data, encoded
 * to the big-endian binary format Linux and U-Boot read.
 */

/** One property value, already encoded (use {@link u32}, {@link str}, {@link strs}, {@link empty}). */
export type FdtValue = Uint8Array;

/** A device-tree node: its name (`name@unit`), properties in order, and child nodes. */
export interface FdtNode {
  readonly name: string;
  readonly props: ReadonlyArray<readonly [string, FdtValue]>;
  readonly children: readonly FdtNode[];
}

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;
const HEADER_SIZE = 40;

/** A property of big-endian 32-bit cells. */
export function u32(...cells: number[]): FdtValue {
  const out = new Uint8Array(4 * cells.length);
  const v = new DataView(out.buffer);
  cells.forEach((c, i) => {
    v.setUint32(4 * i, c >>> 0, false);
  });
  return out;
}

/** A NUL-terminated string property. */
export function str(s: string): FdtValue {
  return strs(s);
}

/** A string-list property (each string NUL-terminated). */
export function strs(...list: string[]): FdtValue {
  return new TextEncoder().encode(list.map((s) => `${s}\0`).join(""));
}

/** An empty (boolean) property. */
export function empty(): FdtValue {
  return new Uint8Array(0);
}

/** A node (a helper so trees read like `.dts`). */
export function node(
  name: string,
  props: ReadonlyArray<readonly [string, FdtValue]>,
  children: readonly FdtNode[] = [],
): FdtNode {
  return { name, props, children };
}

/** Growable big-endian byte buffer. */
class Buf {
  bytes = new Uint8Array(1024);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.len + n));
    bigger.set(this.bytes.subarray(0, this.len));
    this.bytes = bigger;
  }
  u32(v: number): void {
    this.ensure(4);
    new DataView(this.bytes.buffer).setUint32(this.len, v >>> 0, false);
    this.len += 4;
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.bytes.set(b, this.len);
    this.len += b.length;
  }
  align4(): void {
    while ((this.len & 3) !== 0) this.raw(new Uint8Array(1));
  }
}

/** Encode `root` (named "") as a DTB; `bootCpu` goes in the header's boot_cpuid_phys. */
export function encodeFdt(root: FdtNode, bootCpu = 0): Uint8Array {
  const strings = new Buf();
  const offsets = new Map<string, number>();
  const nameOff = (name: string): number => {
    let o = offsets.get(name);
    if (o === undefined) {
      o = strings.len;
      strings.raw(new TextEncoder().encode(`${name}\0`));
      offsets.set(name, o);
    }
    return o;
  };
  const struct = new Buf();
  const walk = (n: FdtNode): void => {
    struct.u32(FDT_BEGIN_NODE);
    struct.raw(new TextEncoder().encode(`${n.name}\0`));
    struct.align4();
    for (const [name, value] of n.props) {
      struct.u32(FDT_PROP);
      struct.u32(value.length);
      struct.u32(nameOff(name));
      struct.raw(value);
      struct.align4();
    }
    for (const c of n.children) walk(c);
    struct.u32(FDT_END_NODE);
  };
  walk(root);
  struct.u32(FDT_END);
  const rsvOff = HEADER_SIZE;
  const structOff = rsvOff + 16;
  const stringsOff = structOff + struct.len;
  const total = (stringsOff + strings.len + 7) & ~7;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  const header = [
    FDT_MAGIC,
    total,
    structOff,
    stringsOff,
    rsvOff,
    17,
    16,
    bootCpu,
    strings.len,
    struct.len,
  ];
  header.forEach((h, i) => {
    v.setUint32(4 * i, h >>> 0, false);
  });
  out.set(struct.bytes.subarray(0, struct.len), structOff);
  out.set(strings.bytes.subarray(0, strings.len), stringsOff);
  return out;
}
