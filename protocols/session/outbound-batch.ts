/**
 * The inner frames a path was asked to send in one turn, waiting to go out
 * together as the plaintext of one Encrypted frame (one seal, one write). The
 * path owns when a batch goes (path.ts: at the end of the turn, or at once
 * when the next frame would not fit); this file only holds the bytes.
 *
 * The plaintext is kept in pieces, never joined: headers and small payloads
 * are copied into a scratch buffer (one piece for a run of them), and a payload
 * of SMALL_PAYLOAD_BYTES or more is referenced as its own piece until the batch
 * is taken, so a large payload is read once, by the cipher. That is why
 * `SecurePath.send` asks its caller not to change a payload after sending it
 * (the session mux sends fresh msgpack buffers).
 */
import { HEADER_BYTES } from '../framing/frames.js';
import { writeInnerHeader } from './cipher-state.js';

/** Payloads from this size on are referenced, not copied: below it a copy costs less than a cipher call of its own. */
export const SMALL_PAYLOAD_BYTES = 1024;
/** The scratch buffer for headers and small payloads: a turn's worth of CapTP messages; a batch that needs more gets another one. */
export const SCRATCH_BYTES = 16 * 1024;

export interface TakenBatch {
  /** The plaintext in order; views valid until the next `add`. */
  readonly parts: Uint8Array[];
  /** Plaintext bytes in all. */
  readonly bytes: number;
  /** Inner frames in it. */
  readonly frames: number;
}

export class OutboundBatch {
  private parts: Uint8Array[] = [];
  private scratch: Uint8Array | undefined;
  /** Bytes of `scratch` in use, and where its piece not yet in `parts` starts. */
  private used = 0;
  private pieceStart = 0;
  /** Plaintext bytes waiting. */
  bytes = 0;
  /** Inner frames waiting. */
  frames = 0;

  /** `maxPlaintextBytes`: the largest plaintext (the frame limit less the AEAD tag). */
  constructor(private readonly maxPlaintextBytes: number) {}

  /** Whether an inner frame with a payload of `length` bytes still fits this batch. */
  fits(length: number): boolean {
    return this.bytes + HEADER_BYTES + length <= this.maxPlaintextBytes;
  }

  /** Adds one inner frame (the caller checked `fits`): the header and a small payload are copied, a large payload is referenced. */
  add(tag: number, payload: Uint8Array): void {
    const small = payload.length < SMALL_PAYLOAD_BYTES;
    const need = HEADER_BYTES + (small ? payload.length : 0);
    if (!this.scratch || this.scratch.length - this.used < need) {
      this.closePiece();
      // The old scratch stays referenced by `parts` until the batch is taken.
      this.scratch = new Uint8Array(Math.max(SCRATCH_BYTES, need));
      this.used = 0;
      this.pieceStart = 0;
    }
    const scratch = this.scratch;
    writeInnerHeader(scratch, this.used, tag, payload.length);
    this.used += HEADER_BYTES;
    if (small) {
      scratch.set(payload, this.used);
      this.used += payload.length;
    } else {
      this.closePiece();
      this.parts.push(payload);
    }
    this.bytes += HEADER_BYTES + payload.length;
    this.frames += 1;
  }

  /** Everything waiting, as pieces; the batch is empty after. The scratch buffer is reused by the next `add`, so seal the pieces first. */
  take(): TakenBatch {
    this.closePiece();
    const taken = { parts: this.parts, bytes: this.bytes, frames: this.frames };
    this.parts = [];
    this.used = 0;
    this.pieceStart = 0;
    this.bytes = 0;
    this.frames = 0;
    return taken;
  }

  /** Drops what is waiting (the path aborted), and the references to large payloads with it. */
  clear(): void {
    this.take();
    this.scratch = undefined;
  }

  private closePiece(): void {
    if (this.scratch && this.used > this.pieceStart) this.parts.push(this.scratch.subarray(this.pieceStart, this.used));
    this.pieceStart = this.used;
  }
}
