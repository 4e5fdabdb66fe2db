/**
 * The data path of an established path: one cipher state per direction (its
 * AEAD key and counter nonce, as Noise names it), deterministic rekeying, and
 * the inbound frame splitter. ("Channel" is kept for CapTP channels, one per
 * pair of endpoints, in capabilities/session-mux.ts.) This is the
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
import {
  FrameTooLargeError,
  type FrameSplitter,
  HEADER_BYTES,
  MalformedFrameError,
  makeFrameSplitter as makeRawSplitter,
  readLength,
  Tag,
  tagByte,
  tagOfByte,
} from '../framing/frames.js';
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

/** One direction's cipher state: its key and counter. The nonce buffer is reused: the CryptoSuite copies what it keeps. */
class CipherState {
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

/** What this side sends: seals inner frames into Encrypted frames. */
export class OutboundCipherState extends CipherState {
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

/** What this side receives: opens Encrypted frames. */
export class InboundCipherState extends CipherState {
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

export type { FrameSplitter };

const framingError = (err: Error) => new MalformedMessageError(err.message, { cause: err });

/** framing's splitter, with its errors named as this layer's MalformedMessageError (the original as `cause`). */
export const makeFrameSplitter = (maxFrameBytes: number): FrameSplitter => {
  const inner = makeRawSplitter(maxFrameBytes);
  return {
    get maxFrameBytes() {
      return inner.maxFrameBytes;
    },
    set maxFrameBytes(n: number) {
      inner.maxFrameBytes = n;
    },
    get pending() {
      return inner.pending;
    },
    push(chunk, onFrame) {
      try {
        inner.push(chunk, onFrame);
      } catch (err) {
        if (err instanceof FrameTooLargeError || err instanceof MalformedFrameError) throw framingError(err);
        throw err;
      }
    },
  };
};
