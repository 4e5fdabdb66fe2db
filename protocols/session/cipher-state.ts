/**
 * The data path of an established path: one cipher state per direction (its
 * AEAD key and counter nonce, as Noise names it), deterministic rekeying, and
 * the inbound frame splitter. ("Channel" is kept for CapTP channels, one per
 * pair of endpoints, in capabilities/session-mux.ts.) This is the
 * hot path, so it is plain code: no state machine, no msgpack, one allocation per
 * step where the CryptoSuite allows.
 *
 * Encrypted frame: tag Encrypted, payload = AEAD(key, nonce, plaintext), where
 * the plaintext is one or more inner frames back to back, each tag (16–31) ‖
 * u32 BE length ‖ payload (the path puts every inner frame of one turn in one
 * plaintext: outbound-batch.ts), and the nonce is 4 zero bytes ‖ u64 BE
 * counter. The counter counts Encrypted frames and is not sent: the stream is
 * ordered, so a dropped, replayed or reordered frame fails to open (AeadError).
 * After `rekeyAfter` Encrypted frames a direction's key becomes HKDF(key,
 * 'tribe/1 rekey') and its counter restarts at 0, on both sides at the same
 * frame, without a message.
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
import { concatBytes, nextKey } from './handshake.js';

/** Default Encrypted frames per key epoch and direction: far below the 2^64 nonce space, and a bounded amount of data under one key (at most 2^20 × 2 MiB). */
export const REKEY_AFTER_MESSAGES = 2 ** 20;
/** Counters stay exact doubles and fit the nonce's low 32 bits for cheap writes. */
export const MAX_REKEY_AFTER_MESSAGES = 2 ** 32;
/** Tags the inner frame may carry. */
export const FIRST_INNER_TAG = 16;
export const LAST_INNER_TAG = 31;
/** Bytes an Encrypted frame adds to an inner payload: two headers and the AEAD tag. */
export const ENCRYPTION_OVERHEAD_BYTES = 2 * HEADER_BYTES + AEAD_TAG_BYTES;

const ENCRYPTED_TAG_BYTE = tagByte(Tag.Encrypted);

const writeHeader = (out: Uint8Array, at: number, byte: number, len: number): void => {
  out[at] = byte;
  out[at + 1] = len >>> 24;
  out[at + 2] = (len >>> 16) & 0xff;
  out[at + 3] = (len >>> 8) & 0xff;
  out[at + 4] = len & 0xff;
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

/** Writes an inner frame's header at `at` of `out`. */
export const writeInnerHeader = (out: Uint8Array, at: number, tag: number, length: number): void =>
  writeHeader(out, at, tagByte(tag), length);

const innerHeader = (tag: number, length: number): Uint8Array => {
  const h = new Uint8Array(HEADER_BYTES);
  writeInnerHeader(h, 0, tag, length);
  return h;
};

/** What this side sends: seals plaintexts of inner frames into Encrypted frames. */
export class OutboundCipherState extends CipherState {
  /**
   * One Encrypted frame whose plaintext is the concatenation of `parts`
   * (`plaintextBytes` in all: whole inner frames), as the pieces to write in
   * order — its header, the ciphertext, the tag — none of them joined.
   */
  sealParts(parts: readonly Uint8Array[], plaintextBytes: number): Uint8Array[] {
    const header = new Uint8Array(HEADER_BYTES);
    writeHeader(header, 0, ENCRYPTED_TAG_BYTE, plaintextBytes + AEAD_TAG_BYTES);
    const sealed = this.current.sealParts(this.nextNonce(), parts);
    this.advance();
    sealed.unshift(header);
    return sealed;
  }
  /** Any plaintext as one whole Encrypted frame (tests, and scripted peers that send malformed ones). */
  sealPlaintext(plaintext: Uint8Array): Uint8Array {
    return concatBytes(this.sealParts([plaintext], plaintext.length));
  }
  /** One inner frame alone as one whole Encrypted frame. */
  seal(tag: number, payload: Uint8Array): Uint8Array {
    return concatBytes(this.sealParts([innerHeader(tag, payload.length), payload], HEADER_BYTES + payload.length));
  }
}

export interface InnerFrame {
  readonly tag: number;
  readonly payload: Uint8Array;
}

/** What this side receives: opens Encrypted frames. */
export class InboundCipherState extends CipherState {
  /**
   * The inner frames of one Encrypted frame, in order (payloads are views of
   * its plaintext), or undefined when it does not authenticate (the caller
   * names AeadError). Throws MalformedMessageError when the plaintext is not
   * whole inner frames (parseInnerFrames).
   */
  open(sealed: Uint8Array): InnerFrame[] | undefined {
    const plain = this.current.open(this.nextNonce(), sealed);
    if (plain === undefined) return undefined;
    this.advance();
    return parseInnerFrames(plain);
  }
}

/**
 * Splits a plaintext into its inner frames, checking all of them before any is
 * used: at least one; each with a valid tag byte, a tag in 16–31 and a whole
 * header; the lengths adding up exactly (a truncated last frame, or bytes left
 * over, is malformed). Throws MalformedMessageError.
 */
export const parseInnerFrames = (plain: Uint8Array): InnerFrame[] => {
  if (plain.length === 0) throw new MalformedMessageError('an Encrypted frame carries no inner frame');
  const frames: InnerFrame[] = [];
  for (let at = 0; at < plain.length; ) {
    const left = plain.length - at;
    const which = frames.length === 0 ? 'inner frame' : `inner frame ${frames.length + 1}`;
    if (left < HEADER_BYTES) throw new MalformedMessageError(`${which} of ${left} bytes has no header`);
    let tag: number;
    try {
      tag = tagOfByte(plain[at] as number);
    } catch (err) {
      throw new MalformedMessageError(`${which} has a bad tag byte`, { cause: err });
    }
    if (tag < FIRST_INNER_TAG || tag > LAST_INNER_TAG) throw new MalformedMessageError(`${which} tag ${tag} is outside 16–31`);
    const len = readLength(plain, at);
    if (len > left - HEADER_BYTES) throw new MalformedMessageError(`${which} says ${len} bytes, carries ${left - HEADER_BYTES}`);
    frames.push({ tag, payload: plain.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len) });
    at += HEADER_BYTES + len;
  }
  return frames;
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
