/**
 * The transport seam: an ordered, reliable byte stream (TCP, a Unix socket, a
 * bridge hop, an in-memory pair). The session layer frames and encrypts on top.
 *
 * Failure semantics: `onClose` fires exactly once, when the other side closed
 * (no error) or the stream failed (with the error); after it, `write` is a
 * no-op. `close()` is idempotent, flushes what was written, and fires the local
 * `onClose` too. Chunks arrive in order but with arbitrary boundaries. `write`
 * never refuses: a peer that does not read makes `buffered` grow, and bounding
 * it is the caller's business (the session layer's `maxUnsentBytes`).
 */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  /** Set once, before the first chunk can matter. */
  onData(handler: (chunk: Uint8Array) => void): void;
  onClose(handler: (err?: Error) => void): void;
  close(): void;
  /** For cookies and logs, e.g. "127.0.0.1:41234"; not authenticated. */
  readonly remoteAddress: string;
  /** Bytes accepted by `write` that the transport has not passed on yet: it grows while the peer does not read. */
  readonly buffered: number;
}
