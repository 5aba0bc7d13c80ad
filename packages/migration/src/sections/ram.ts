/**
 * The RAM section (`ram`, instance 0, version 4), wrapping the page sender: START is the block
 * list (`MEM_SIZE` + EOS), each strategy iteration is a PART of page records closed by EOS, and
 * the END (at switchover, vCPUs stopped) sends every page still dirty, ignoring the rate limit.
 * The strategy drives the live part page by page (`beginPart` / `PageSender.sendNext` /
 * `endPart`), so the handler has no `iterate` of its own.
 */
import { PAGE_SIZE } from "@ferry/core";
import type { PageSender } from "../page-sender";
import { SectionType } from "../stream/constants";
import type { StreamWriter } from "../stream/writer";
import type { SaveHandler } from "./types";

/** What the RAM section needs from the thread while it sends the END part. */
export interface RamSectionFlow {
  /** Flush and wait while the transport is backed up (every 64 pages). */
  flow(): Promise<void>;
  /** Sleep out every `x-page-cost-ns` debt left. */
  payAllCost(): Promise<void>;
  /** Wait until every multifd data channel has sent its last page and sync (none: resolves). */
  drainChannels(): Promise<void>;
}

/** The RAM save handler, with the live-part calls the session delegates to it. */
export interface RamSection extends SaveHandler {
  /** Open a PART chunk of the RAM section. */
  beginPart(out: StreamWriter): void;
  /** Close it: EOS + footer. */
  endPart(out: StreamWriter): void;
}

/** The RAM section over `sender`. */
export function ramSection(sender: PageSender, flow: RamSectionFlow): RamSection {
  let sectionId = -1;
  return {
    idstr: "ram",
    setup(w) {
      sectionId = w.ramSetupSection(sender.blocks);
    },
    beginPart(w) {
      w.sectionContinue(SectionType.PART, sectionId);
    },
    endPart(w) {
      w.ramEos();
      w.footer(sectionId);
    },
    pendingBytes: () => sender.pending * PAGE_SIZE,
    async complete(w) {
      w.sectionContinue(SectionType.END, sectionId);
      let n = 0;
      while (sender.sendNext()) {
        if ((++n & 63) === 0) await flow.flow();
      }
      w.flush();
      await flow.payAllCost();
      await flow.drainChannels();
      w.ramEos();
      w.footer(sectionId);
    },
    dispose: () => sender.dispose(),
  };
}
