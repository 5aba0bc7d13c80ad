/**
 * Quantities with units as written in configs: sizes (`64KiB`, `16MiB`), durations (`300ms`,
 * `1.5min`; bare numbers are seconds) and bandwidths (`1Gbit/s`, `128MiB/s`; bare numbers are
 * bytes per second). Each parser returns a number in the base unit or throws {@link UnitError}.
 */

/** A quantity string that does not parse; the message says what was expected and what was found. */
export class UnitError extends Error {
  override readonly name = "UnitError";
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

const DURATION_UNITS_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  min: 60e9,
  h: 3600e9,
};

const BANDWIDTH_UNITS: Readonly<Record<string, number>> = {
  ...SIZE_UNITS,
  bit: 1 / 8,
  kbit: 1e3 / 8,
  mbit: 1e6 / 8,
  gbit: 1e9 / 8,
  tbit: 1e12 / 8,
  kibit: 1024 / 8,
  mibit: 1024 ** 2 / 8,
  gibit: 1024 ** 3 / 8,
};

/** Human description of accepted size syntax (used in error messages). */
export const SIZE_SYNTAX = "a size: bytes as a number, or a string like 64KiB, 16MiB, 1GiB, 256GiB";
/** Human description of accepted duration syntax (used in error messages). */
export const DURATION_SYNTAX =
  "a duration: seconds as a number, or a string like 500ns, 20us, 300ms, 2s, 1.5min, 1h";
/** Human description of accepted bandwidth syntax (used in error messages). */
export const BANDWIDTH_SYNTAX =
  "a bandwidth: bytes/s as a number, or a string like 1Gbit/s, 100Mbit/s, 128MiB/s";

/** Regex source for size strings, published in the JSON schema (units are checked by the parser). */
export const SIZE_PATTERN = "^\\s*\\d+(\\.\\d+)?\\s*[A-Za-z]*\\s*$";
/** Regex source for duration strings, published in the JSON schema. */
export const DURATION_PATTERN = "^\\s*\\d+(\\.\\d+)?\\s*[A-Za-zµ]+\\s*$";
/** Regex source for bandwidth strings, published in the JSON schema. */
export const BANDWIDTH_PATTERN = "^\\s*\\d+(\\.\\d+)?\\s*[A-Za-z]+\\s*(/s|ps)\\s*$";

const NUMBER_UNIT = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-zµ]*)\s*$/;

function splitQuantity(text: string, syntax: string): [number, string] {
  const m = NUMBER_UNIT.exec(text);
  if (!m) throw new UnitError(`expected ${syntax}, found ${JSON.stringify(text)}`);
  return [Number(m[1]), m[2]];
}

function checkNumber(value: number, syntax: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new UnitError(`expected ${syntax}, found ${value}`);
  }
  return value;
}

/** Parse a size to bytes (an integer). Numbers are bytes; units are case-insensitive. */
export function parseSize(input: number | string): number {
  let bytes: number;
  if (typeof input === "number") bytes = checkNumber(input, SIZE_SYNTAX);
  else {
    const [value, unit] = splitQuantity(input, SIZE_SYNTAX);
    const factor = SIZE_UNITS[unit === "" ? "b" : unit.toLowerCase()];
    if (factor === undefined) {
      throw new UnitError(`expected ${SIZE_SYNTAX}, found unknown unit ${JSON.stringify(unit)}`);
    }
    bytes = value * factor;
  }
  if (!Number.isSafeInteger(bytes)) {
    throw new UnitError(`expected ${SIZE_SYNTAX} that is a whole number of bytes, found ${input}`);
  }
  return bytes;
}

/** Largest duration accepted (ns): 2^53-1, the largest integer a double holds exactly (~104 days). */
export const MAX_DURATION_NS = Number.MAX_SAFE_INTEGER;

/**
 * Parse a duration to nanoseconds (rounded to an integer). Numbers are seconds.
 * @throws UnitError for bad syntax, or a duration above {@link MAX_DURATION_NS}.
 */
export function parseDuration(input: number | string): number {
  let ns: number;
  if (typeof input === "number") ns = Math.round(checkNumber(input, DURATION_SYNTAX) * 1e9);
  else {
    const [value, unit] = splitQuantity(input, DURATION_SYNTAX);
    const factor = DURATION_UNITS_NS[unit];
    if (factor === undefined) {
      throw new UnitError(
        `expected ${DURATION_SYNTAX}, found unknown unit ${JSON.stringify(unit)}`,
      );
    }
    ns = Math.round(value * factor);
  }
  if (!(ns <= MAX_DURATION_NS)) {
    throw new UnitError(
      `expected a duration of at most 2^53-1 ns (about 104 days), found ${String(input).slice(0, 40)}`,
    );
  }
  return ns;
}

/** Parse a bandwidth to bytes per second. Numbers are bytes per second. */
export function parseBandwidth(input: number | string): number {
  if (typeof input === "number") return checkNumber(input, BANDWIDTH_SYNTAX);
  const m = /^(.*?)\s*(?:\/s|ps)\s*$/.exec(input);
  if (!m) {
    throw new UnitError(
      `expected ${BANDWIDTH_SYNTAX} (ending in /s), found ${JSON.stringify(input)}`,
    );
  }
  const [value, unit] = splitQuantity(m[1], BANDWIDTH_SYNTAX);
  // A lowercase "b" after a prefix means bits (`Gbps`, `Mb/s`); "B" means bytes (`MB/s`).
  const bits = /^([kKMGT]i?)b$/.exec(unit);
  const factor = BANDWIDTH_UNITS[(bits ? `${bits[1]}bit` : unit).toLowerCase()];
  if (factor === undefined) {
    throw new UnitError(`expected ${BANDWIDTH_SYNTAX}, found unknown unit ${JSON.stringify(unit)}`);
  }
  return value * factor;
}

/** Format bytes with the largest binary unit that divides them exactly (`16MiB`, `1536B`). */
export function formatSize(bytes: number): string {
  const units: [string, number][] = [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ];
  for (const [name, factor] of units) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${name}`;
  }
  return `${bytes}B`;
}
