/**
 * The receiving half of a triple session, pure: every seq is delivered exactly
 * once and in order. A frame at `delivered + 1` goes out at once, with the run
 * of held frames behind it; one further ahead is held, up to `window` frames
 * past `delivered` and `maxBytes` bytes in all; one at or below `delivered`, or
 * already held, is a duplicate and dropped.
 *
 * Beyond the window is a protocol violation, not a drop: an honest sender never
 * has more than `window` frames in flight past our ack (it waits for acks), so a
 * seq past it is a broken or hostile peer, and holding it would let that peer
 * fill our memory.
 */

export type Arrival =
  | { readonly kind: 'deliver'; readonly frames: ReadonlyArray<readonly [number, Uint8Array]> }
  | { readonly kind: 'held' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'violation'; readonly why: string };

export class ReorderWindow {
  #delivered = 0;
  #held = new Map<number, readonly [number, Uint8Array]>();
  #heldBytes = 0;
  duplicates = 0;
  readonly window: number;
  readonly maxBytes: number;

  constructor(window: number, maxBytes: number) {
    this.window = window;
    this.maxBytes = maxBytes;
  }

  /** The cumulative ack: every seq up to it was delivered. */
  get delivered(): number {
    return this.#delivered;
  }
  get heldFrames(): number {
    return this.#held.size;
  }
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * One arriving frame. `payload` is copied when held (the caller's bytes may be
   * a view of a buffer reused after this returns), not when delivered at once.
   */
  arrive(seq: number, tag: number, payload: Uint8Array): Arrival {
    if (seq <= this.#delivered || this.#held.has(seq)) {
      this.duplicates++;
      return { kind: 'duplicate' };
    }
    if (seq > this.#delivered + this.window) {
      return { kind: 'violation', why: `seq ${seq} is beyond the reorder window (${this.#delivered} delivered, window ${this.window})` };
    }
    if (seq !== this.#delivered + 1) {
      if (this.#heldBytes + payload.length > this.maxBytes) {
        return { kind: 'violation', why: `more than ${this.maxBytes} bytes held out of order` };
      }
      this.#held.set(seq, [tag, new Uint8Array(payload)]);
      this.#heldBytes += payload.length;
      return { kind: 'held' };
    }
    const frames: Array<readonly [number, Uint8Array]> = [[tag, payload]];
    this.#delivered = seq;
    for (;;) {
      const next = this.#held.get(this.#delivered + 1);
      if (!next) break;
      this.#held.delete(this.#delivered + 1);
      this.#heldBytes -= next[1].length;
      frames.push(next);
      this.#delivered++;
    }
    return { kind: 'deliver', frames };
  }

  clear(): void {
    this.#held.clear();
    this.#heldBytes = 0;
  }
}
