/**
 * Frames by hand, for tests and benchmarks: whole frames collected from a byte
 * stream, a message encoded in one call, and a raw peer that speaks frames over
 * any ByteStream (memory pair or TCP). The host reads frames through the
 * splitter itself (protocols/framing/frames.ts) and ships none of this.
 */
import type { ByteStream } from '../../protocols/framing/byte-stream.js';
import { encodeFrame, encodePayload, MAX_FRAME_BYTES, makeFrameSplitter } from '../../protocols/framing/frames.js';
import { LOCAL_MS, within } from './bounded.js';

export interface Frame {
  readonly tag: number;
  readonly payload: Uint8Array;
}

export interface FrameReader {
  /** Feeds a chunk (split anywhere); returns the frames it completed, in order. Throws on a bad header, and on every push after. */
  push(chunk: Uint8Array): Frame[];
  /** Bytes held for an unfinished frame. */
  readonly pending: number;
}

/** The splitter, collecting: for callers that want whole frames (payloads copied). */
export const makeFrameReader = (maxFrameBytes = MAX_FRAME_BYTES): FrameReader => {
  const splitter = makeFrameSplitter(maxFrameBytes);
  let failed: Error | undefined;
  return {
    push(chunk) {
      if (failed) throw failed;
      const frames: Frame[] = [];
      try {
        splitter.push(chunk, (tag, payload) => {
          frames.push({ tag, payload: payload.slice() });
          return true;
        });
      } catch (err) {
        failed = err as Error;
        throw err;
      }
      return frames;
    },
    get pending() {
      return splitter.pending;
    },
  };
};

export const encodeMessage = (tag: number, value: unknown): Uint8Array => encodeFrame(tag, encodePayload(value));

/** Any value as a channel frame's payload would carry it (JSON text, capabilities/channel-codec.ts): for hostile frames. */
export const channelBytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** A peer that reads and writes frames by hand over `stream`. */
export const rawPeer = (stream: ByteStream) => {
  const reader = makeFrameReader(MAX_FRAME_BYTES);
  const frames: Frame[] = [];
  let isClosed = false;
  let wake: (() => void) | undefined;
  stream.onData((c) => {
    frames.push(...reader.push(c));
    wake?.();
  });
  const closed = within(
    new Promise<void>((resolve) =>
      stream.onClose(() => {
        isClosed = true;
        resolve();
        wake?.();
      }),
    ),
    LOCAL_MS,
    "the raw peer's stream to close",
  );
  let read = 0;
  return {
    frames,
    closed,
    get isClosed() {
      return isClosed;
    },
    send: (tag: number, value: unknown) => stream.write(encodeMessage(tag, value)),
    write: (bytes: Uint8Array) => stream.write(bytes),
    close: () => stream.close(),
    /** The next unread frame, or undefined once the stream closed without one; bounded by LOCAL_MS. */
    async next(): Promise<Frame | undefined> {
      while (read >= frames.length && !isClosed) {
        await within(new Promise<void>((r) => (wake = r)), LOCAL_MS, `frame ${read + 1} from the peer (${frames.length} arrived)`);
      }
      return frames[read++];
    },
  };
};
