/**
 * A tiny NVRAM device (string keys → string values), the kind of device state a plugin owns and
 * must migrate itself: a vTPM's NV index, a firmware variable store. It lives beside a machine
 * (one per machine object, made on demand), keeps a version per key so a migration can send only
 * the keys changed since it last sent them, like the RAM dirty log.
 */

/** The NVRAM of one machine. */
export interface Nvram {
  /** A key's value, or undefined. */
  get(key: string): string | undefined;
  /** Set a key (its version goes up). */
  set(key: string, value: string): void;
  /** The key's version: 0 when absent, +1 on every `set`. */
  version(key: string): number;
  /** Every key, in insertion order. */
  keys(): readonly string[];
  /** A plain copy of the contents. */
  snapshot(): Record<string, string>;
}

interface Entry {
  value: string;
  version: number;
}

/** Make an empty NVRAM. */
export function createNvram(): Nvram {
  const map = new Map<string, Entry>();
  return {
    get: (key) => map.get(key)?.value,
    set(key, value) {
      const e = map.get(key);
      if (e === undefined) map.set(key, { value, version: 1 });
      else {
        e.value = value;
        e.version++;
      }
    },
    version: (key) => map.get(key)?.version ?? 0,
    keys: () => [...map.keys()],
    snapshot: () => Object.fromEntries([...map].map(([k, e]) => [k, e.value])),
  };
}

const devices = new WeakMap<object, Nvram>();

/** The NVRAM attached to `machine` (attached empty on first use). */
export function nvramOf(machine: object): Nvram {
  let n = devices.get(machine);
  if (n === undefined) {
    n = createNvram();
    devices.set(machine, n);
  }
  return n;
}

/** True when `machine` has an NVRAM. */
export function hasNvram(machine: object): boolean {
  return devices.has(machine);
}
