/**
 * Newline-delimited JSON framing for the local control socket (CLI ↔ host).
 * JSON.stringify never emits a raw newline, so a newline always ends a frame.
 * The decoder accepts chunks split at any point and refuses lines longer than
 * its limit before buffering them, so a peer cannot make it hold unbounded data.
 */
export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}
export class MalformedFrameError extends Error {
  override name = 'MalformedFrameError';
}

/** Control messages are small; 8 MiB covers the largest call arguments a CLI would send. */
export const MAX_LINE_CHARS = 8 * 1024 * 1024;

export interface LineDecoder {
  /** Feeds a chunk; returns the complete frames it finished. Throws on a bad frame. */
  push(chunk: string): unknown[];
}

export const makeLineDecoder = (maxLineChars = MAX_LINE_CHARS): LineDecoder => {
  let pending = '';
  return {
    push(chunk) {
      const frames: unknown[] = [];
      let text = pending + chunk;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (line.length > maxLineChars) throw new FrameTooLargeError(`frame of ${line.length} chars exceeds ${maxLineChars}`);
        if (line.trim() === '') continue;
        try {
          frames.push(JSON.parse(line));
        } catch (err) {
          throw new MalformedFrameError(`frame is not JSON: ${(err as Error).message}`);
        }
      }
      if (text.length > maxLineChars) throw new FrameTooLargeError(`frame exceeds ${maxLineChars} chars`);
      pending = text;
      return frames;
    },
  };
};

export const encodeLine = (value: unknown): string => `${JSON.stringify(value)}\n`;
