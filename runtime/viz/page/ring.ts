/**
 * A bounded double-ended buffer addressed by absolute index: the first entry
 * ever pushed is 0, older entries loaded later get negative indices. An index
 * stays valid for as long as its entry is held, so the scrubber, the log and
 * the sequence diagram can all refer to "entry 12345" while new entries push
 * old ones out.
 */
export class Ring<T> {
  readonly #buf: (T | undefined)[];
  #head = 0;
  #size = 0;
  #base = 0;

  constructor(readonly capacity: number) {
    this.#buf = new Array<T | undefined>(capacity);
  }

  /** Absolute index of the oldest entry held. */
  get start(): number {
    return this.#base;
  }
  /** One past the absolute index of the newest entry. */
  get end(): number {
    return this.#base + this.#size;
  }
  get size(): number {
    return this.#size;
  }
  get full(): boolean {
    return this.#size === this.capacity;
  }

  at(index: number): T | undefined {
    if (index < this.#base || index >= this.#base + this.#size) return undefined;
    return this.#buf[(this.#head + index - this.#base) % this.capacity];
  }

  /** Appends; returns the oldest entry when it had to make room. */
  push(value: T): T | undefined {
    let evicted: T | undefined;
    if (this.#size === this.capacity) {
      evicted = this.#buf[this.#head];
      this.#head = (this.#head + 1) % this.capacity;
      this.#base++;
      this.#size--;
    }
    this.#buf[(this.#head + this.#size) % this.capacity] = value;
    this.#size++;
    return evicted;
  }

  /** Removes and returns the newest entry. */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const i = (this.#head + this.#size - 1) % this.capacity;
    const value = this.#buf[i];
    this.#buf[i] = undefined;
    this.#size--;
    return value;
  }

  /** Prepends an older entry; false (and nothing held changes) when full: history never pushes out the present. */
  unshift(value: T): boolean {
    if (this.#size === this.capacity) return false;
    this.#head = (this.#head - 1 + this.capacity) % this.capacity;
    this.#buf[this.#head] = value;
    this.#base--;
    this.#size++;
    return true;
  }

  clear(): void {
    this.#buf.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    this.#base = 0;
  }
}
