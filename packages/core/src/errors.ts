/**
 * Error classes thrown by @ferry/core. Every message says what was expected and what was found.
 */

/** Base class of every error thrown by @ferry/core. */
export class FerryCoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A value given to a core API is out of range or of the wrong shape. */
export class InvalidArgumentError extends FerryCoreError {}

/** A guest-physical or backend access fell outside the memory it targeted. */
export class MemoryAccessError extends FerryCoreError {}

/** An operation was asked for in a state that does not allow it. */
export class InvalidStateError extends FerryCoreError {}

/** Saved device/CPU/machine state failed validation on load. */
export class StateValidationError extends FerryCoreError {}

/** Format a guest address as `0x…` hex for error messages. */
export function hex(value: number): string {
  return "0x" + value.toString(16);
}
