/**
 * The bounds and timings of one triple session, in one record (like PathLimits
 * for one path). Every buffer a peer can fill is bounded here: the frames kept
 * for retransmission (`maxUnackedBytes`, which also bounds what is buffered
 * while every path is down) and the frames held out of order at the receiver
 * (`reorderWindow` frames, `maxUnackedBytes` bytes). Both ends MUST use the
 * same `reorderWindow` and `maxUnackedBytes` (a later version advertises them
 * in the control frames).
 */
import { HEADER_BYTES, MAX_FRAME_BYTES } from '../framing/frames.js';
import { AEAD_TAG_BYTES } from '../session/crypto.js';

/** Bytes of a Sequenced payload before the carried frame: u64 seq, u64 ack, u8 tag. */
export const SEQUENCED_HEADER_BYTES = 17;

/**
 * Frames a sender may have in flight beyond the receiver's cumulative ack, and
 * so the most a receiver holds out of order. 1024 covers 100 outstanding calls
 * (two or three frames each) several times over, and bounds how far ahead a
 * peer may claim to be: a sequence number past it is a protocol violation.
 */
export const REORDER_WINDOW = 1024;
/**
 * Bytes of frames sent and not yet acknowledged (kept for retransmission, and
 * buffered while every path is down), and of frames a receiver holds out of
 * order: four largest frames, like a path's unsent bound, so a burst of big
 * answers fits and a peer that never acknowledges costs this much per session.
 */
export const MAX_UNACKED_BYTES = 4 * MAX_FRAME_BYTES;
/**
 * The largest application payload: what one path carries in one inner frame
 * (its Encrypted frame's header and AEAD tag off), less the Sequenced header
 * and room for the end-to-end AEAD tag a later version adds.
 */
export const MAX_TRIPLE_PAYLOAD_BYTES = MAX_FRAME_BYTES - 2 * HEADER_BYTES - AEAD_TAG_BYTES - SEQUENCED_HEADER_BYTES - AEAD_TAG_BYTES;
/** Heartbeat interval per path: a second finds a dead path in a few seconds at a few bytes a second. */
export const HEARTBEAT_MS = 1_000;
/** Silence on one path after which it is dead and detached: three heartbeats and a half (one lost echo is not death). */
export const PATH_DEAD_MS = 3_500;
/** How long the session lives with every path down, buffering sends, waiting for one to come back. */
export const GRACE_MS = 30_000;
/** A standalone ack waits this long for a frame to ride on (most replies leave within it). */
export const ACK_DELAY_MS = 10;
/** ... or goes at once after this many frames delivered without one, so a one-way stream frees the sender's buffer. */
export const ACK_EVERY_FRAMES = 32;
/** The retransmit timeout's floor: above a loopback round trip plus the ack delay, so a healthy path is never retransmitted on. */
export const MIN_RTO_MS = 200;
/** Its ceiling after backoff: retries keep coming on a path that is merely slow. */
export const MAX_RTO_MS = 10_000;
/** Retransmit timeout before any round trip is measured. */
export const INITIAL_RTO_MS = 1_000;
/** Heartbeats per path whose echoes grade its loss (the last N). */
export const LOSS_WINDOW_BEATS = 8;
/** Share of those heartbeats unanswered from which a path is degraded. */
export const DEGRADED_LOSS = 0.25;
/** A path whose smoothed RTT is this many times the best path's (and 20 ms more) is degraded. */
export const DEGRADED_RTT_FACTOR = 3;

export interface TripleLimits {
  readonly reorderWindow: number;
  readonly maxUnackedBytes: number;
  readonly maxPayloadBytes: number;
  readonly heartbeatMs: number;
  readonly pathDeadMs: number;
  readonly graceMs: number;
  readonly ackDelayMs: number;
  readonly ackEveryFrames: number;
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
  readonly initialRtoMs: number;
  readonly lossWindowBeats: number;
  /** In percent (integer), so every limit is a positive integer. */
  readonly degradedLossPercent: number;
  readonly degradedRttFactor: number;
}

export const DEFAULT_TRIPLE_LIMITS: TripleLimits = Object.freeze({
  reorderWindow: REORDER_WINDOW,
  maxUnackedBytes: MAX_UNACKED_BYTES,
  maxPayloadBytes: MAX_TRIPLE_PAYLOAD_BYTES,
  heartbeatMs: HEARTBEAT_MS,
  pathDeadMs: PATH_DEAD_MS,
  graceMs: GRACE_MS,
  ackDelayMs: ACK_DELAY_MS,
  ackEveryFrames: ACK_EVERY_FRAMES,
  minRtoMs: MIN_RTO_MS,
  maxRtoMs: MAX_RTO_MS,
  initialRtoMs: INITIAL_RTO_MS,
  lossWindowBeats: LOSS_WINDOW_BEATS,
  degradedLossPercent: DEGRADED_LOSS * 100,
  degradedRttFactor: DEGRADED_RTT_FACTOR,
});

/** The defaults with `given` over them; RangeError for an unknown name or a value that is not a positive integer. */
export const tripleLimits = (given: Partial<TripleLimits> = {}): TripleLimits => {
  for (const [k, v] of Object.entries(given)) {
    if (!(k in DEFAULT_TRIPLE_LIMITS)) throw new RangeError(`tripleLimits.${k} is not a triple-session limit`);
    if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new RangeError(`tripleLimits.${k} must be a positive integer, got ${v}`);
  }
  const limits = { ...DEFAULT_TRIPLE_LIMITS, ...given };
  if (limits.maxPayloadBytes > MAX_TRIPLE_PAYLOAD_BYTES) throw new RangeError(`tripleLimits.maxPayloadBytes exceeds ${MAX_TRIPLE_PAYLOAD_BYTES}`);
  if (limits.maxUnackedBytes < limits.maxPayloadBytes + SEQUENCED_HEADER_BYTES) {
    throw new RangeError('tripleLimits.maxUnackedBytes must hold one largest frame');
  }
  if (limits.pathDeadMs <= limits.heartbeatMs) throw new RangeError('tripleLimits.pathDeadMs must be longer than heartbeatMs');
  if (limits.degradedLossPercent > 100) throw new RangeError('tripleLimits.degradedLossPercent must be at most 100');
  return Object.freeze(limits);
};
