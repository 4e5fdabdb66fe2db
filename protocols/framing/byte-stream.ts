/**
 * The transport seam: an ordered, reliable byte stream (TCP, a Unix socket, a
 * bridge hop, an in-memory pair). The session layer frames and encrypts on top.
 *
 * Failure semantics: `onClose` fires exactly once, when the other side closed
 * (no error) or the stream failed (with the error); after it, `write` is a
 * no-op that returns false. `close()` is idempotent, flushes what was written,
 * and fires the local `onClose` too. Chunks arrive in order but with arbitrary
 * boundaries.
 *
 * Flow control: `write` never refuses bytes while the stream is open. What the
 * stream could not hand on yet (to the kernel, to the peer) waits in memory and
 * is counted by `unsentBytes`; a peer that stops reading makes it grow. `write`
 * returns false once that count reaches the stream's high-water mark ("slow
 * down"), and `drained()` says when writing may go on. The stream itself sets no
 * upper bound: its owner must, by refusing to write past one and ending the
 * stream (the session layer aborts the path with PathBackpressureError past
 * `PathLimits.maxUnsentBytes`). After `close()`, bytes still unsent are flushed
 * if the peer reads them; an implementation may drop them after a grace period
 * (TCP: 2 s), so they do not outlive the stream for long.
 */
export interface ByteStream {
  /** Queues `bytes`; true while unsent bytes are below the high-water mark, false from it on (and after close). */
  write(bytes: Uint8Array): boolean;
  /**
   * Optional: queues the concatenation of `parts` as one write would, without
   * joining them first (TCP: one writev). Same result as `write`. A writer that
   * finds it missing joins the parts and calls `write`.
   */
  writev?(parts: readonly Uint8Array[]): boolean;
  /** Bytes accepted by `write` and not yet handed on; 0 when the peer keeps up. */
  readonly unsentBytes: number;
  /**
   * Resolves when a writer told to slow down may write again: at once if the
   * last `write` returned true, else once the unsent bytes have gone, or when the
   * stream closed (never rejects; `onClose` says why it ended).
   */
  drained(): Promise<void>;
  /** Set once, before the first chunk can matter. */
  onData(handler: (chunk: Uint8Array) => void): void;
  onClose(handler: (err?: Error) => void): void;
  close(): void;
  /** For cookies and logs, e.g. "127.0.0.1:41234"; not authenticated. */
  readonly remoteAddress: string;
}
