/**
 * The two inner frames of a triple session (docs/protocol.md, "Triple
 * sessions"), fixed binary layouts, numbers big-endian:
 *
 *   Sequenced (tag 28)      u64 seq ‖ u64 ack ‖ u8 t ‖ P
 *   TripleControl (tag 29)  u8 kind ‖ u64 epoch ‖ u64 counter ‖ u64 ack ‖ u32 id ‖ u32 window
 *
 * `seq` numbers the application frames of one direction from 1; `ack` is the
 * sender's cumulative ack (every frame up to it was delivered); `t` and `P` are
 * the application frame's tag and payload. Control kinds: Beat (a heartbeat
 * with an `id`), Echo (the answer, same `id`, on the same path), Ack.
 * `counter` numbers the control frames of one direction: the nonce a later
 * end-to-end seal uses, as `seq` is for a Sequenced frame.
 *
 * u64 fields hold integers below 2^53 (JavaScript's safe integers); a larger
 * one is malformed. Decoding never throws anything but TripleMalformedError.
 */
import { Tag } from '../framing/frames.js';
import { TripleMalformedError } from './errors.js';
import { SEQUENCED_HEADER_BYTES } from './limits.js';

export const CONTROL_BYTES = 33;

export const ControlKind = { Beat: 1, Echo: 2, Ack: 3 } as const;
export type ControlKind = (typeof ControlKind)[keyof typeof ControlKind];

const TWO_32 = 2 ** 32;
/** Past this the high word would put the value beyond 2^53. */
const MAX_HIGH_WORD = 2 ** 21;

/** The tags a Sequenced frame may carry: application frames, not the session's own. */
export const isCarriedTag = (t: number): boolean =>
  Number.isInteger(t) &&
  t >= 16 &&
  t <= 31 &&
  t !== Tag.Ping &&
  t !== Tag.Pong &&
  t !== Tag.Shutdown &&
  t !== Tag.Sequenced &&
  t !== Tag.TripleControl;

// Byte by byte rather than through a DataView: one per frame was a visible share of the bench's allocations.
const putU32 = (b: Uint8Array, at: number, n: number) => {
  b[at] = n >>> 24;
  b[at + 1] = n >>> 16;
  b[at + 2] = n >>> 8;
  b[at + 3] = n;
};
const getU32 = (b: Uint8Array, at: number): number =>
  (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
const putU64 = (b: Uint8Array, at: number, n: number) => {
  putU32(b, at, Math.floor(n / TWO_32));
  putU32(b, at + 4, n >>> 0);
};
const getU64 = (b: Uint8Array, at: number, what: string): number => {
  const high = getU32(b, at);
  if (high >= MAX_HIGH_WORD) throw new TripleMalformedError(`${what} is 2^53 or more`);
  return high * TWO_32 + getU32(b, at + 4);
};

export interface Sequenced {
  readonly seq: number;
  readonly ack: number;
  readonly tag: number;
  /** A view into the received bytes: copy what you keep beyond the handler. */
  readonly payload: Uint8Array;
}

export const encodeSequenced = (seq: number, ack: number, tag: number, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(SEQUENCED_HEADER_BYTES + payload.length);
  putU64(out, 0, seq);
  putU64(out, 8, ack);
  out[16] = tag;
  out.set(payload, SEQUENCED_HEADER_BYTES);
  return out;
};

export const decodeSequenced = (bytes: Uint8Array): Sequenced => {
  if (bytes.length < SEQUENCED_HEADER_BYTES) throw new TripleMalformedError(`Sequenced frame of ${bytes.length} bytes`);
  const seq = getU64(bytes, 0, 'seq');
  if (seq === 0) throw new TripleMalformedError('seq 0 (numbering starts at 1)');
  const ack = getU64(bytes, 8, 'ack');
  const tag = bytes[16] as number;
  if (!isCarriedTag(tag)) throw new TripleMalformedError(`a Sequenced frame may not carry tag ${tag}`);
  return { seq, ack, tag, payload: bytes.subarray(SEQUENCED_HEADER_BYTES) };
};

export interface Control {
  readonly kind: ControlKind;
  readonly epoch: number;
  readonly counter: number;
  readonly ack: number;
  /** The heartbeat a Beat or Echo is about; 0 in an Ack. */
  readonly id: number;
  /** The sender's reorder window, in frames. */
  readonly window: number;
}

export const encodeControl = (c: Control): Uint8Array => {
  const out = new Uint8Array(CONTROL_BYTES);
  out[0] = c.kind;
  putU64(out, 1, c.epoch);
  putU64(out, 9, c.counter);
  putU64(out, 17, c.ack);
  putU32(out, 25, c.id);
  putU32(out, 29, c.window);
  return out;
};

const KINDS: ReadonlySet<number> = new Set(Object.values(ControlKind));

export const decodeControl = (bytes: Uint8Array): Control => {
  if (bytes.length !== CONTROL_BYTES) throw new TripleMalformedError(`TripleControl frame of ${bytes.length} bytes (not ${CONTROL_BYTES})`);
  const kind = bytes[0] as number;
  if (!KINDS.has(kind)) throw new TripleMalformedError(`unknown control kind ${kind}`);
  const epoch = getU64(bytes, 1, 'epoch');
  if (epoch === 0) throw new TripleMalformedError('epoch 0');
  const window = getU32(bytes, 29);
  if (window === 0) throw new TripleMalformedError('window 0');
  return { kind: kind as ControlKind, epoch, counter: getU64(bytes, 9, 'counter'), ack: getU64(bytes, 17, 'ack'), id: getU32(bytes, 25), window };
};

/**
 * Join (TripleControl kind 4): the first inner frame on every new path of a
 * host's session with a peer, before the triple session's own frames. It says
 * which session the path belongs to (docs/protocol.md 14.6): the sender's host
 * epoch (one per host run), the epoch of its live session with the receiver and
 * the receiver's epoch in it (both 0 without one), and the epoch the sender's
 * next session would get. Never passed to a triple session: the host's session
 * layer reads it (peer-link.ts).
 */
export const JOIN_KIND = 4;
export const JOIN_BYTES = 33;

export interface Join {
  readonly host: number;
  /** The sender's live session with the receiver (its epoch), or 0. */
  readonly mine: number;
  /** The receiver's epoch in that session, or 0. */
  readonly known: number;
  /** The epoch the sender's session gets if this path starts a new one. */
  readonly next: number;
}

export const encodeJoin = (j: Join): Uint8Array => {
  const out = new Uint8Array(JOIN_BYTES);
  out[0] = JOIN_KIND;
  putU64(out, 1, j.host);
  putU64(out, 9, j.mine);
  putU64(out, 17, j.known);
  putU64(out, 25, j.next);
  return out;
};

/** Whether an inner frame is a Join (its tag and kind byte; decodeJoin checks the rest). */
export const isJoin = (tag: number, bytes: Uint8Array): boolean => tag === Tag.TripleControl && bytes[0] === JOIN_KIND;

export const decodeJoin = (bytes: Uint8Array): Join => {
  if (bytes.length !== JOIN_BYTES || bytes[0] !== JOIN_KIND) throw new TripleMalformedError(`Join frame of ${bytes.length} bytes (not ${JOIN_BYTES})`);
  const host = getU64(bytes, 1, 'host epoch');
  const next = getU64(bytes, 25, 'next epoch');
  if (host === 0 || next === 0) throw new TripleMalformedError('Join with a zero host or next epoch');
  const mine = getU64(bytes, 9, 'mine');
  const known = getU64(bytes, 17, 'known');
  if ((mine === 0) !== (known === 0)) throw new TripleMalformedError('Join names half a session');
  return { host, mine, known, next };
};
