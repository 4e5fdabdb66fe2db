/**
 * The bounds and timings of one saga, in one record (like PathLimits for a
 * path). Every buffer a peer can fill is bounded here: one turn's bytes, an
 * Ack's listing, one saga's temp space. Tests shrink them.
 */
export interface SagaLimits {
  /** How long each leg may take (an Init's Ack, one Delta chunk's answer, the Commit's): a dead or stuck peer ends the saga, never hangs it. */
  readonly legTimeoutMs: number;
  /** Raw bytes of entries in one Delta turn: a turn must fit one CapTP message (2 MiB frames, base64 in between). */
  readonly chunkBytes: number;
  /** Delta turns in flight before the next waits for an answer: enough to keep a loopback pipe full, bounded memory on both sides. */
  readonly window: number;
  /** The largest turn on the wire (signature + JSON). */
  readonly maxTurnBytes: number;
  /** A key's UTF-8 bytes. */
  readonly maxKeyBytes: number;
  /** A value's size as JSON text (UTF-8, escapes included): one entry must fit one chunk. */
  readonly maxValueBytes: number;
  /** The JSON an Ack may spend listing the responder's entries of the buckets it asks for; past it, buckets are asked for whole. */
  readonly ackListingBytes: number;
  /** Temp space one saga may fill before the responder aborts it: a member cannot fill a sister's disk through a saga. */
  readonly maxSagaBytes: number;
}

export const DEFAULT_SAGA_LIMITS: SagaLimits = Object.freeze({
  legTimeoutMs: 15_000,
  chunkBytes: 512 * 1024,
  window: 4,
  maxTurnBytes: 1280 * 1024,
  maxKeyBytes: 1024,
  maxValueBytes: 256 * 1024,
  ackListingBytes: 768 * 1024,
  maxSagaBytes: 2 * 1024 * 1024 * 1024,
});

/** Fine buckets of a space's summary tree: 2^12, so 100,000 keys make buckets of ~25 entries. */
export const FINE_BITS = 12;
export const FINE_BUCKETS = 1 << FINE_BITS;
/** How many entries an Init aims at per summarized bucket: the Init's size against the Ack's precision. */
export const ENTRIES_PER_BUCKET = 32;
/** Hex characters of a bucket digest in an Init and of an entry digest in an Ack listing (64 bits: a collision misses a difference with p ≈ 2^-64, and the root, full length, still tells). */
export const SHORT_DIGEST_CHARS = 16;
