/**
 * Size limits on everything `ferry` reads from the user, checked before the input is read or
 * expanded (see docs/reliability.md). Each is a plain constant so that tests and docs quote it.
 */

/** Largest config file read (256 KiB): configs are a few hundred bytes. */
export const MAX_CONFIG_BYTES = 256 * 1024;

/** Largest guest ELF file read: `@ferry/riscv`'s `MAX_ELF_BYTES` (64 MiB). */
export { MAX_ELF_BYTES as MAX_ELF_FILE_BYTES } from "@ferry/riscv";

/** Largest number of YAML alias expansions in a config (an alias bomb stops here). */
export const MAX_YAML_ALIASES = 1000;

/** Deepest YAML/JSON nesting accepted in a config (mappings and lists inside each other). */
export const MAX_CONFIG_DEPTH = 64;

/** Largest list index a `--set` path may name (`guest.args.N`): far above every list's limit. */
export const MAX_SET_INDEX = 4095;

/** Most segments in a `--set` path (`a.b.c` has 3). */
export const MAX_SET_PATH_SEGMENTS = 16;

/** Largest `--set path=value` argument (bytes of text). */
export const MAX_SET_TEXT = 64 * 1024;

/** Longest one-line error message printed (longer ones are cut, with a note of how much). */
export const MAX_ERROR_MESSAGE_CHARS = 2000;

/** Most characters of user input quoted in an error message. */
export const MAX_QUOTE_CHARS = 40;

/**
 * Device-state bytes a snapshot file may hold besides its RAM records (64 MiB): bounds what a
 * hostile file can make `ferry restore` keep in memory (the file size is checked before reading).
 */
export const MAX_SNAPSHOT_DEVICE_BYTES = 64 * 1024 * 1024;

/** Largest snapshot file for a RAM of `pages` pages: every page raw with its record header, plus device state. */
export function maxSnapshotBytes(pages: number): number {
  // A PAGE record: be64 offset|flags (8) + idstr (<= 256, first record of a block) + 4096 bytes.
  return pages * (8 + 4096) + 256 + 1024 * 1024 + MAX_SNAPSHOT_DEVICE_BYTES;
}
