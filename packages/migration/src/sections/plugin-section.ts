/**
 * A plugin's {@link SectionSaver} (opaque chunk bodies) as a {@link SaveHandler}: START / PART /
 * END or one FULL section with the plugin's idstr, instance and version, each body framed as
 * `be32 len` + bytes and followed by the footer.
 */
import type { SectionSaver } from "../plugin";
import { SectionType } from "../stream/constants";
import type { StreamWriter } from "../stream/writer";
import type { SaveHandler } from "./types";

/** Wrap a plugin section saver so the thread drives it like every other section. */
export function pluginSectionHandler(saver: SectionSaver): SaveHandler {
  let sectionId = -1;
  const instance = saver.instance ?? 0;
  return {
    idstr: saver.idstr,
    setup:
      saver.setup === undefined
        ? undefined
        : (w: StreamWriter) => {
            sectionId = w.sectionStart(SectionType.START, saver.idstr, instance, saver.version);
            w.sectionBody(sectionId, saver.setup!());
          },
    iterate:
      saver.iterate === undefined
        ? undefined
        : (w: StreamWriter) => {
            if (sectionId < 0) return;
            const body = saver.iterate!();
            if (body === null) return;
            w.sectionContinue(SectionType.PART, sectionId);
            w.sectionBody(sectionId, body);
          },
    pendingBytes: () => saver.pendingBytes?.() ?? 0,
    onParameters: (changed) => saver.onParameters?.(changed),
    complete(w) {
      if (sectionId >= 0) {
        w.sectionContinue(SectionType.END, sectionId);
        w.sectionBody(sectionId, saver.complete());
      } else {
        const id = w.sectionStart(SectionType.FULL, saver.idstr, instance, saver.version);
        w.sectionBody(id, saver.complete());
      }
    },
    stats: () => saver.stats?.(),
    dispose: () => saver.dispose?.(),
  };
}
