/**
 * QMP's post-copy commands (QEMU's `qapi/migration.json`): `migrate-start-postcopy` (source),
 * `migrate-pause` (either side, during post-copy), `migrate-recover {uri}` (destination in
 * `postcopy-paused`) and `migrate {uri, resume: true}` (source in `postcopy-paused`). The checks
 * and error texts are QEMU's (`qmp_migrate_start_postcopy`, `qmp_migrate_pause`,
 * `qmp_migrate_recover`, `migrate_prepare`).
 */
import { type AnyQmpCommand, defineCommand } from "./command";
import type { MigrationAddress, MigrationControl } from "./control";
import { QmpError } from "./errors";
import { addressOf } from "./migration-uri";
import { qmpSpecs } from "./specs";

/** The post-copy operations a {@link MigrationControl} may offer (absent: the commands refuse). */
export interface PostcopyControl {
  /** Whether the `postcopy-ram` capability is on now. */
  postcopyEnabled(): boolean;
  /** The outgoing migration's status (`none` before any). */
  outgoingStatus(): string;
  /** The incoming migration's status (`none` when there is none). */
  incomingStatus(): string;
  /** Ask the outgoing migration to switch to post-copy at its next step. */
  startPostcopy(): void;
  /** Destination: accept the new connection of a recovery at `at` (listen), then continue. */
  recover(at: MigrationAddress): Promise<void>;
  /** Source: connect to `to` and resume the paused post-copy migration over it. */
  resume(to: MigrationAddress): void;
  /**
   * `migrate-pause` on the side that is in post-copy: shut its migration channels down (both
   * sides then go `postcopy-paused`). Returns false when neither side is in `postcopy-active` or
   * `postcopy-recover`.
   */
  pause(): boolean;
}

/** QEMU's refusal of `migrate-pause` outside post-copy. */
export const PAUSE_REFUSED =
  "migrate-pause is currently only supported during postcopy-active or postcopy-recover state";

/** The error a source paused by `migrate-pause` reports (QEMU's). */
export const PAUSED_BY_USER = "Postcopy migration is paused by the user";

const NOT_HERE = "post-copy is not available in this monitor";

function controlOf(m: MigrationControl): PostcopyControl {
  const p = (m as MigrationControl & { postcopy?: PostcopyControl }).postcopy;
  if (p === undefined) throw new QmpError(NOT_HERE);
  return p;
}

/** `migrate-start-postcopy` (QEMU: no error once the migration has finished — that would race). */
export function startPostcopy(m: MigrationControl): void {
  const p = controlOf(m);
  if (!p.postcopyEnabled()) {
    throw new QmpError("Enable postcopy with migrate_set_capability before the start of migration");
  }
  if (p.outgoingStatus() === "none") {
    throw new QmpError("Postcopy must be started after migration has been started");
  }
  p.startPostcopy();
}

/** `migrate {…, resume: true}`: resume a paused post-copy migration over a new connection. */
export function resumeMigration(m: MigrationControl, to: MigrationAddress): void {
  const p = controlOf(m);
  if (p.outgoingStatus() !== "postcopy-paused") {
    throw new QmpError("Cannot resume if there is no paused migration");
  }
  p.resume(to);
}

/** The commands: `migrate-start-postcopy`, `migrate-pause` and `migrate-recover`. */
export function postcopyCommands(m: MigrationControl): AnyQmpCommand[] {
  return [
    defineCommand(qmpSpecs["migrate-start-postcopy"], () => {
      startPostcopy(m);
      return {};
    }),
    defineCommand(qmpSpecs["migrate-pause"], () => {
      const p = (m as MigrationControl & { postcopy?: PostcopyControl }).postcopy;
      if (p === undefined || !p.pause()) throw new QmpError(PAUSE_REFUSED);
      return {};
    }),
    defineCommand(qmpSpecs["migrate-recover"], async (a) => {
      const p = controlOf(m);
      if (p.incomingStatus() !== "postcopy-paused") {
        throw new QmpError("Migrate recover can only be run when postcopy is paused.");
      }
      await p.recover(addressOf({ uri: a.uri }, "migrate-recover"));
      return {};
    }),
  ] as unknown as AnyQmpCommand[];
}
