/**
 * The section interface the migration thread drives (QEMU's `SaveVMHandlers` as the thread sees
 * them). Every section of a migration — RAM, the plugin sections and the machine state — is one
 * {@link SaveHandler}: the thread calls `setup` on all at setup, `iterate` on all after each RAM
 * iteration, sums `pendingBytes`, and calls `complete` on all at switchover, in registration
 * order. A handler writes its own chunks, QEMU framing included, into the stream writer.
 */
import type { StatsContribution } from "../plugin";
import type { StreamWriter } from "../stream/writer";

/** One section of an outgoing migration, as the thread drives it. */
export interface SaveHandler {
  /** Section idstr on the stream (a group of sections names its first). */
  readonly idstr: string;
  /** Write the START chunk (live sections only). */
  setup?(out: StreamWriter): void;
  /** Write a PART chunk when there is something to send now (live sections only). */
  iterate?(out: StreamWriter): void;
  /** Bytes still to send live (QEMU's `state_pending_estimate`). */
  pendingBytes?(): number;
  /** Write the END chunk (live) or the FULL chunk(s) (stop-and-copy), with the vCPUs stopped. */
  complete(out: StreamWriter): void | Promise<void>;
  /** Statistics to merge into query-migrate. */
  stats?(): StatsContribution | undefined;
  /** Live `migrate-set-parameters`: the changed keys' new values (see `SectionSaver.onParameters`). */
  onParameters?(changed: Readonly<Record<string, unknown>>): void;
  /** The migration ended (any outcome; exceptions are ignored by the caller). */
  dispose?(): void;
}
