/**
 * The post-copy preempt channel on the source (QEMU's `postcopy-preempt`): requested pages go on
 * a data channel of their own, so they do not wait behind the background pages queued on the main
 * channel. The channel carries a ferry stream of RAM pages only: header, the RAM setup section,
 * RAM PART sections of page records, then RAM END and EOF (docs/stream-format.md).
 */
import { SectionType } from "./stream/constants";
import { type RamBlockInfo, StreamWriter } from "./stream/writer";
import type { OutgoingTransport } from "./transport/types";

/** What a post-copy strategy uses of the preempt channel (see `PostcopySession.preempt`). */
export interface PreemptChannel {
  /** The data channel's transport. */
  readonly transport: OutgoingTransport;
  /** Stream bytes written on it so far (accounted). */
  readonly written: number;
  /** Send a still-pending page on this channel now; false when it was already sent. */
  sendPage(blockIndex: number, page: number): boolean;
  /** Close the open RAM PART (if any) and hand its bytes to the transport. */
  flush(): void;
  /** RAM END and EOF; resolves once the far end received every byte. */
  end(): Promise<void>;
}

/** How the preempt channel sends one page through the migration's page sender. */
export type SendVia = (writer: StreamWriter, blockIndex: number, page: number) => boolean;

/** Make the source end of a preempt channel over `transport`. */
export function createPreemptChannel(
  transport: OutgoingTransport,
  blocks: readonly RamBlockInfo[],
  sendVia: SendVia,
): PreemptChannel {
  const writer = new StreamWriter((chunk, accounted) => transport.write(chunk, accounted), 1 << 16);
  let sectionId = -1;
  let partOpen = false;
  let ended = false;
  const open = (): void => {
    if (sectionId >= 0) return;
    writer.header();
    sectionId = writer.ramSetupSection(blocks);
  };
  const flush = (): void => {
    if (partOpen) {
      writer.ramEos();
      writer.footer(sectionId);
      partOpen = false;
    }
    writer.flush();
  };
  return {
    transport,
    get written() {
      return writer.written;
    },
    sendPage(blockIndex, page) {
      if (ended) return false;
      open();
      if (!partOpen) {
        writer.sectionContinue(SectionType.PART, sectionId);
        partOpen = true;
      }
      return sendVia(writer, blockIndex, page);
    },
    flush,
    async end() {
      if (ended) return;
      ended = true;
      open();
      flush();
      writer.sectionContinue(SectionType.END, sectionId);
      writer.ramEos();
      writer.footer(sectionId);
      writer.eof();
      writer.flush();
      await transport.end();
    },
  };
}
