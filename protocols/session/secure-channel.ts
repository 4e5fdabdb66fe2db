/**
 * The data path of an established session: one AEAD key per direction, counter
 * nonces, deterministic rekeying, and the inbound frame splitter. This is the
 * hot path, so it is plain code: no state machine, no msgpack, one allocation per
 * step where the CryptoSuite allows.
 *
 * Encrypted frame: tag Encrypted, payload = AEAD(key, nonce, inner frame), where
 * the inner frame is tag (16–31) ‖ u32 BE length ‖ payload and the nonce is
 * 4 zero bytes ‖ u64 BE counter. The counter is not sent: the stream is ordered,
 * so a dropped, replayed or reordered frame fails to open (AeadError). After
 * `rekeyAfter` frames a direction's key becomes HKDF(key, 'tribe/1 rekey') and
 * its counter restarts at 0, on both sides at the same frame, without a message.
 */
import { FrameTooLargeError, HEADER_BYTES, type MalformedFrameError, Tag, tagByte, tagOfByte } from '../framing/frames.js';
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, type Aead, type CipherName, type CryptoSuite } from './crypto.js';
import { MalformedMessageError } from './errors.js';
import { nextKey } from './handshake.js';

/** Default messages per key epoch and direction: far below the 2^64 nonce space, and a bounded amount of data under one key. */
export const REKEY_AFTER_MESSAGES = 2 ** 20;
/** Counters stay exact doubles and fit the nonce's low 32 bits for cheap writes. */
export const MAX_REKEY_AFTER_MESSAGES = 2 ** 32;
/** Tags the inner frame may carry. */
export const FIRST_INNER_TAG = 16;
export const LAST_INNER_TAG = 31;
/** Bytes an Encrypted frame adds to an inner payload: two headers and the AEAD tag. */
export const ENCRYPTION_OVERHEAD_BYTES = 2 * HEADER_BYTES + AEAD_TAG_BYTES;

const ENCRYPTED_TAG_BYTE = tagByte(Tag.Encrypted);

const writeHeader = (out: Uint8Array, byte: number, len: number): void => {
  out[0] = byte;
  out[1] = len >>> 24;
  out[2] = (len >>> 16) & 0xff;
  out[3] = (len >>> 8) & 0xff;
  out[4] = len & 0xff;
};

/** The u32 BE length of the header at `at` (the caller checked that five bytes are there). */
const readLength = (b: Uint8Array, at: number): number =>
  (((b[at + 1] as number) << 24) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 8) | (b[at + 4] as number)) >>> 0;

/** One direction's key and counter. The nonce buffer is reused: the CryptoSuite copies what it keeps. */
class DirectionKey {
  private key: Uint8Array;
  private aead: Aead;
  private readonly nonce = new Uint8Array(AEAD_NONCE_BYTES);
  private readonly nonceView = new DataView(this.nonce.buffer);
  private counter = 0;
  rekeys = 0;
  constructor(
    private readonly crypto: CryptoSuite,
    private readonly cipher: CipherName,
    key: Uint8Array,
    private readonly rekeyAfter: number,
  ) {
    this.key = new Uint8Array(key);
    this.aead = crypto.aead(cipher, this.key);
  }
  /** The nonce for the next message; advances the counter and rekeys at the epoch's end. */
  protected nextNonce(): Uint8Array {
    // u64 BE at bytes 4–11; counter < 2^32, so the high word stays 0.
    this.nonceView.setUint32(8, this.counter);
    return this.nonce;
  }
  protected advance(): void {
    if (++this.counter < this.rekeyAfter) return;
    const old = this.key;
    this.key = nextKey(this.crypto, old);
    old.fill(0);
    this.aead = this.crypto.aead(this.cipher, this.key);
    this.counter = 0;
    this.rekeys++;
  }
  protected get current(): Aead {
    return this.aead;
  }
  wipe(): void {
    this.key.fill(0);
  }
}

export class OutboundChannel extends DirectionKey {
  /** The whole Encrypted frame for one inner frame, ready for one write. */
  seal(tag: number, payload: Uint8Array): Uint8Array {
    const inner = new Uint8Array(HEADER_BYTES + payload.length);
    writeHeader(inner, tagByte(tag), payload.length);
    inner.set(payload, HEADER_BYTES);
    const sealed = this.current.seal(this.nextNonce(), inner);
    this.advance();
    const out = new Uint8Array(HEADER_BYTES + sealed.length);
    writeHeader(out, ENCRYPTED_TAG_BYTE, sealed.length);
    out.set(sealed, HEADER_BYTES);
    return out;
  }
}

export interface InnerFrame {
  readonly tag: number;
  readonly payload: Uint8Array;
}

export class InboundChannel extends DirectionKey {
  /** The inner frame, or undefined when the frame does not authenticate (the caller names AeadError). Throws MalformedMessageError on a bad inner frame. */
  open(sealed: Uint8Array): InnerFrame | undefined {
    const plain = this.current.open(this.nextNonce(), sealed);
    if (plain === undefined) return undefined;
    this.advance();
    return parseInnerFrame(plain);
  }
}

export const parseInnerFrame = (plain: Uint8Array): InnerFrame => {
  if (plain.length < HEADER_BYTES) throw new MalformedMessageError(`inner frame of ${plain.length} bytes has no header`);
  let tag: number;
  try {
    tag = tagOfByte(plain[0] as number);
  } catch (err) {
    throw new MalformedMessageError('inner frame has a bad tag byte', { cause: err });
  }
  if (tag < FIRST_INNER_TAG || tag > LAST_INNER_TAG) throw new MalformedMessageError(`inner frame tag ${tag} is outside 16–31`);
  const len = readLength(plain, 0);
  if (len !== plain.length - HEADER_BYTES) throw new MalformedMessageError(`inner frame says ${len} bytes, carries ${plain.length - HEADER_BYTES}`);
  return { tag, payload: plain.subarray(HEADER_BYTES) };
};

// --- inbound framing ---

export interface FrameSplitter {
  /**
   * Feeds a chunk (split anywhere) and calls `onFrame` for each complete frame in
   * order, until it returns false. Throws MalformedMessageError (cause
   * MalformedFrameError or FrameTooLargeError) as soon as a header is bad, before
   * buffering the payload it announces. Payloads are views: copy what you keep.
   */
  push(chunk: Uint8Array, onFrame: (tag: number, payload: Uint8Array) => boolean): void;
  /** The largest payload accepted from the next header on (the handshake limit, then the session's). */
  maxFrameBytes: number;
  readonly pending: number;
}

const framingError = (err: Error) => new MalformedMessageError(err.message, { cause: err });

/**
 * Unlike framing's FrameReader, the limit can change between two frames of one
 * chunk (the handshake's small limit stops at Signature), frames are handed over
 * one at a time so processing can stop mid-chunk, and a frame split over many
 * chunks is joined once, not on every chunk.
 */
export const makeFrameSplitter = (maxFrameBytes: number): FrameSplitter => {
  let parts: Uint8Array[] = [];
  let held = 0;
  /** Bytes needed before parsing again: a header, or the frame its header announced. */
  let need = 1;
  const self: FrameSplitter = {
    maxFrameBytes,
    get pending() {
      return held;
    },
    push(chunk, onFrame) {
      if (chunk.length === 0) return;
      let data: Uint8Array;
      if (held === 0) data = chunk;
      else {
        // Copied: the stream may reuse a chunk's memory once onData returns.
        parts.push(new Uint8Array(chunk));
        held += chunk.length;
        if (held < need) return;
        data = new Uint8Array(held);
        let at = 0;
        for (const p of parts) {
          data.set(p, at);
          at += p.length;
        }
        parts = [];
        held = 0;
      }
      let at = 0;
      for (;;) {
        const left = data.length - at;
        if (left === 0) break;
        let tag: number;
        try {
          tag = tagOfByte(data[at] as number);
        } catch (err) {
          throw framingError(err as MalformedFrameError);
        }
        if (left < HEADER_BYTES) {
          need = HEADER_BYTES;
          break;
        }
        const len = readLength(data, at);
        if (len > self.maxFrameBytes) {
          throw framingError(new FrameTooLargeError(`frame of ${len} bytes exceeds the ${self.maxFrameBytes}-byte limit`));
        }
        if (left < HEADER_BYTES + len) {
          need = HEADER_BYTES + len;
          break;
        }
        const payload = data.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len);
        at += HEADER_BYTES + len;
        if (!onFrame(tag, payload)) return;
      }
      if (at < data.length) {
        // Keep a copy: the stream may reuse the chunk's memory.
        parts = [new Uint8Array(data.subarray(at))];
        held = data.length - at;
      } else need = 1;
    },
  };
  return self;
};
