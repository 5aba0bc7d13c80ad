/**
 * Error classes of the migration framework. Every refusal names what was expected and what was found.
 */

/** A capability or parameter request was refused (unknown name, wrong type, range, conflict, busy). */
export class MigrationConfigError extends Error {
  /** The offending capability or parameter name (or `""` when the request as a whole was refused). */
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(setting === "" ? message : `${setting}: ${message}`);
    this.name = "MigrationConfigError";
    this.setting = setting;
  }
}

/** A migration stream was refused: truncated, corrupted, version-mismatched or hostile. */
export class StreamError extends Error {
  /** Byte position in the stream where the problem was found. */
  readonly position: number;
  /** What was wrong (without the position prefix). */
  readonly reason: string;

  constructor(position: number, reason: string) {
    super(`migration stream error at byte ${position}: ${reason}`);
    this.name = "StreamError";
    this.position = position;
    this.reason = reason;
  }
}

/** A migration failed or was refused at run time (transport dropped, bad state, cancelled). */
export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MigrationError";
  }
}

/** Thrown inside the migration thread when the migration is cancelled; ends it as `cancelled`. */
export class MigrationCancelledError extends MigrationError {
  constructor() {
    super("migration cancelled");
    this.name = "MigrationCancelledError";
  }
}
