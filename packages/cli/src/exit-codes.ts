/** Process exit codes of the `ferry` command (documented in docs/cli.md). */
export const ExitCode = {
  /** Success. */
  Ok: 0,
  /** The guest exited with a failure code, or a migration failed / did not converge. */
  Failure: 1,
  /** Bad input: usage error, invalid config, unreadable or invalid guest file. */
  BadInput: 2,
  /** The virtual-time limit was reached before the guest shut down. */
  TimeLimit: 3,
  /** An internal error (a bug in ferry). */
  Internal: 70,
  /** Interrupted by SIGINT (Ctrl-C): the migration was cancelled, the partial report printed. */
  Interrupted: 130,
} as const;

/** One of {@link ExitCode}'s values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
