/**
 * The sending half of a triple session, pure: sequence numbers, the frames kept
 * until the peer's cumulative ack covers them, and which paths each one last
 * went out on. No timers and no paths here; triple-session.ts decides when to
 * (re)transmit and where.
 *
 * Invariants: entries are in seq order, seq = acked + 1 … nextSeq − 1, each kept
 * exactly once; `bytes` is the sum of their wire sizes and never passes the
 * bound `add` was given; `sentUpTo` (the highest seq transmitted at least once)
 * is what an ack may cover at most.
 */

export interface Outgoing {
  readonly seq: number;
  /** The Sequenced payload, built once: a retransmission is the same bytes (and, later, the same ciphertext). */
  readonly wire: Uint8Array;
  /** When it last went out (clock ms), 0 before the first time. */
  sentAt: number;
  /** The paths its last transmission went out on and that still live. */
  via: number[];
  /** Transmissions so far. */
  tries: number;
}

export type AckOutcome = { readonly freed: number } | { readonly violation: string };

export class SendBuffer {
  /** Kept frames from `#head` on; the slots before it are freed (undefined) until the next compaction. */
  #entries: (Outgoing | undefined)[] = [];
  #head = 0;
  #bytes = 0;
  #nextSeq = 1;
  #acked = 0;
  #sentUpTo = 0;

  get nextSeq(): number {
    return this.#nextSeq;
  }
  /** The peer's cumulative ack: every seq up to it arrived. */
  get acked(): number {
    return this.#acked;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#entries.length - this.#head;
  }
  get sentUpTo(): number {
    return this.#sentUpTo;
  }

  /** Takes the next seq for a frame of `wireBytes` bytes, or refuses (false) when it would pass `maxBytes`. */
  reserve(wireBytes: number, maxBytes: number): number | false {
    if (this.#bytes + wireBytes > maxBytes) return false;
    return this.#nextSeq++;
  }

  /** Keeps a frame made with the seq `reserve` gave. */
  keep(seq: number, wire: Uint8Array): Outgoing {
    const entry: Outgoing = { seq, wire, sentAt: 0, via: [], tries: 0 };
    this.#entries.push(entry);
    this.#bytes += wire.length;
    return entry;
  }

  /** Records a transmission of `entry` on `paths` at `now`. */
  sent(entry: Outgoing, paths: number[], now: number): void {
    entry.sentAt = now;
    entry.via = paths;
    entry.tries++;
    if (entry.seq > this.#sentUpTo) this.#sentUpTo = entry.seq;
  }

  /** The peer's cumulative ack: frees what it covers. An ack of a frame never sent is a violation; an old one is nothing. */
  ack(n: number): AckOutcome {
    if (n > this.#sentUpTo) return { violation: `ack of seq ${n}, but only ${this.#sentUpTo} were sent` };
    if (n <= this.#acked) return { freed: 0 };
    let freed = 0;
    while (this.#head < this.#entries.length) {
      const e = this.#entries[this.#head] as Outgoing;
      if (e.seq > n) break;
      this.#bytes -= e.wire.length;
      // Freed now, not at the next compaction: an acked frame's bytes must not outlive its ack.
      this.#entries[this.#head] = undefined;
      this.#head++;
      freed++;
    }
    this.#acked = n;
    // Compacted now and then, not on every ack: the shift is O(size).
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return { freed };
  }

  /** Kept frames with seq ≤ `upTo`, oldest first. */
  *upTo(upTo: number): Generator<Outgoing> {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Outgoing;
      if (e.seq > upTo) return;
      yield e;
    }
  }

  /** Kept frames with seq in `from` … `upTo`, oldest first (frames are kept contiguously from acked + 1). */
  *range(from: number, upTo: number): Generator<Outgoing> {
    const first = this.#entries[this.#head];
    if (!first) return;
    for (let i = this.#head + Math.max(0, from - first.seq); i < this.#entries.length; i++) {
      const e = this.#entries[i] as Outgoing;
      if (e.seq > upTo) return;
      yield e;
    }
  }

  /** The oldest kept frame, if any. */
  oldest(): Outgoing | undefined {
    return this.#entries[this.#head];
  }

  /** Forgets a path: it no longer carries any frame. */
  forgetPath(id: number): void {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i] as Outgoing;
      if (e.via.includes(id)) e.via = e.via.filter((p) => p !== id);
    }
  }

  /** Drops everything (the session ended). */
  clear(): void {
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}
