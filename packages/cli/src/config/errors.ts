/** Errors raised while loading a guest config. */

/** One problem found in a config. */
export interface ConfigIssue {
  /** Dotted path of the offending field (`migration.parameters.downtime-limit`), "" for the root. */
  readonly path: string;
  /** What was expected and what was found. */
  readonly message: string;
  /** 1-based line in the file, when known. */
  readonly line?: number;
  /** 1-based column in the file, when known. */
  readonly column?: number;
}

/** A config that cannot be read, parsed or validated. The message lists every issue. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  /** The file (or a label such as `<inline>`). */
  readonly file: string;
  /** Every issue found, in document order. */
  readonly issues: readonly ConfigIssue[];

  constructor(file: string, issues: readonly ConfigIssue[]) {
    super(issues.map((issue) => formatIssue(file, issue)).join("\n"));
    this.file = file;
    this.issues = issues;
  }
}

/** `file:line:col: path: message` (position and path only when known). */
export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : `${file}`;
  return issue.path === ""
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.path}: ${issue.message}`;
}
