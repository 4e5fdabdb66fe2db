/**
 * An in-memory ByteStream pair for tests and simulation, with fault controls on
 * each direction: hold/release, drop, corrupt, split into random chunks,
 * truncate, inject, and a peer that stops reading (stall/unstall). Random
 * choices come from a seed, so a failing run replays.
 *
 * It keeps the ByteStream contract (byte-stream.ts): chunks arrive in order with
 * arbitrary boundaries, `onClose` fires once per end, `close()` is idempotent,
 * delivers what was written before it, and fires the local `onClose` too. Every
 * delivery goes through `schedule` (queueMicrotask by default; a manual queue
 * makes a test fully deterministic), never synchronously inside `write`.
 *
 * Flow control: bytes count as unsent only while the link is stalled (the peer
 * does not read); held bytes are in the network, already sent. `write` returns
 * false from `highWaterMark` unsent bytes on, and `drained()` resolves when the
 * link is unstalled or the stream closes, as over TCP.
 */
import type { ByteStream } from './byte-stream.js';

export interface MemoryStreamOptions {
  /** Runs each delivery; default queueMicrotask. */
  readonly schedule?: (fn: () => void) => void;
  /** Seed for `splitWrites`; default 1. */
  readonly seed?: number;
  /** remoteAddress of [a, b]; default ['memory:b', 'memory:a'] (each end names its peer). */
  readonly addresses?: readonly [string, string];
  /** Unsent bytes from which `write` returns false; default 16 KiB (Node's socket default). */
  readonly highWaterMark?: number;
}

/** Faults on the bytes one end writes, on their way to the other end. Offsets count written bytes from 0. */
export interface LinkControl {
  /** Stop delivering; writes queue up (close too, behind them). */
  hold(): void;
  /** Deliver what was held, in order, and stop holding. */
  release(): void;
  /** Remove and return what is held (to reorder, then `inject`). */
  takeHeld(): Uint8Array[];
  /** Silently lose the next `n` written bytes. */
  dropNext(n: number): void;
  /** XOR the byte at written offset `offset` with `mask` (default 0xff). */
  corruptAt(offset: number, mask?: number): void;
  /** Deliver each later write in chunks of 1–`maxChunk` random bytes. */
  splitWrites(maxChunk: number): void;
  /** Deliver only the first `n` written bytes in all, then end the stream for both ends. */
  truncateAfter(n: number): void;
  /** Deliver `bytes` as if this end had written them (no faults applied). */
  inject(bytes: Uint8Array): void;
  /** See every write as written, before faults. */
  tap(fn: (bytes: Uint8Array) => void): void;
  /**
   * The other end stops reading: later writes (and a close) stay at this end,
   * unsent, in order, counted by `unsentBytes`, until `unstall`.
   */
  stall(): void;
  /** The other end reads again: what waited is sent, `unsentBytes` is 0, and `drained()` resolves. */
  unstall(): void;
  /** Bytes written by this end so far. */
  readonly written: number;
}

export interface MemoryStream extends ByteStream {
  /** Faults on what this end writes. */
  readonly link: LinkControl;
  readonly isClosed: boolean;
  /** The connection breaks: both ends get onClose(err); nothing more is delivered. */
  fail(err: Error): void;
}

/** mulberry32: small, fast, good enough to pick chunk sizes. */
export const seededRandom = (seed: number): (() => number) => {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

type Item = Uint8Array | 'eof';

const joinParts = (parts: readonly Uint8Array[]): Uint8Array => {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

interface End {
  closed: boolean;
  onData?: (chunk: Uint8Array) => void;
  onClose?: (err?: Error) => void;
  early: Uint8Array[];
  closeFired: boolean;
}

export const makeMemoryStreamPair = (opts: MemoryStreamOptions = {}): [MemoryStream, MemoryStream] => {
  const schedule = opts.schedule ?? ((fn: () => void) => queueMicrotask(fn));
  const highWaterMark = opts.highWaterMark ?? 16 * 1024;
  const random = seededRandom(opts.seed ?? 1);
  const [addrA, addrB] = opts.addresses ?? ['memory:b', 'memory:a'];
  const ends: [End, End] = [
    { closed: false, early: [], closeFired: false },
    { closed: false, early: [], closeFired: false },
  ];

  const fireClose = (end: End, err?: Error) => {
    end.closed = true;
    // A writer waiting for the stream to drain learns that it never will.
    links[end === ends[0] ? 0 : 1].drain();
    if (end.closeFired) return;
    end.closeFired = true;
    end.onClose?.(err);
  };

  const receive = (end: End, item: Item) => {
    if (end.closed) return;
    if (item === 'eof') return fireClose(end);
    if (end.onData) end.onData(item);
    else end.early.push(item);
  };

  const makeLink = (from: End, to: End) => {
    let holding = false;
    let held: Item[] = [];
    let written = 0;
    let drop = 0;
    const corrupt = new Map<number, number>();
    let maxChunk = 0;
    let truncateAt = Number.POSITIVE_INFINITY;
    let truncated = false;
    const taps: Array<(b: Uint8Array) => void> = [];
    let stalled = false;
    let unsent: Item[] = [];
    let unsentBytes = 0;
    /** A write returned false and the unsent bytes have not gone since. */
    let needDrain = false;
    let drainWaiters: Array<() => void> = [];

    const drain = () => {
      needDrain = false;
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const w of waiters) w();
    };
    const send = (item: Item) => {
      if (holding) held.push(item);
      else schedule(() => receive(to, item));
    };
    const enqueue = (item: Item) => {
      if (!stalled) return send(item);
      unsent.push(item);
      if (item !== 'eof') unsentBytes += item.length;
    };
    const cut = () => {
      truncated = true;
      enqueue('eof');
      schedule(() => fireClose(from));
    };

    const control: LinkControl = {
      hold: () => {
        holding = true;
      },
      release: () => {
        holding = false;
        const items = held;
        held = [];
        for (const it of items) enqueue(it);
      },
      takeHeld: () => {
        const chunks = held.filter((x): x is Uint8Array => x !== 'eof');
        held = held.filter((x) => x === 'eof');
        return chunks;
      },
      dropNext: (n) => {
        drop += n;
      },
      corruptAt: (offset, mask = 0xff) => {
        corrupt.set(offset, mask);
      },
      splitWrites: (n) => {
        maxChunk = n;
      },
      truncateAfter: (n) => {
        truncateAt = n;
        if (written >= n && !truncated) cut();
      },
      inject: (bytes) => enqueue(new Uint8Array(bytes)),
      tap: (fn) => void taps.push(fn),
      stall: () => {
        stalled = true;
      },
      unstall: () => {
        stalled = false;
        const items = unsent;
        unsent = [];
        unsentBytes = 0;
        for (const it of items) send(it);
        drain();
      },
      get written() {
        return written;
      },
    };

    const write = (input: Uint8Array): boolean => {
      if (from.closed || truncated) return false;
      pipe(input);
      if (unsentBytes < highWaterMark) return true;
      needDrain = true;
      return false;
    };
    /** The faults, in order, on one write; what is left goes on to `enqueue`. */
    const pipe = (input: Uint8Array) => {
      if (input.length === 0) return;
      for (const t of taps) t(input);
      const start = written;
      written += input.length;
      // slice, not `new Uint8Array(input)`: under lockdown that constructor can take a slow path.
      let bytes = input.slice();
      for (const [offset, mask] of corrupt) {
        if (offset >= start && offset < written) bytes[offset - start] = (bytes[offset - start] as number) ^ mask;
      }
      let end = bytes.length;
      if (written > truncateAt) end = Math.max(0, truncateAt - start);
      bytes = bytes.subarray(0, end);
      if (drop > 0) {
        const d = Math.min(drop, bytes.length);
        drop -= d;
        bytes = bytes.subarray(d);
      }
      if (maxChunk > 0) {
        for (let at = 0; at < bytes.length; ) {
          const n = Math.min(bytes.length - at, 1 + Math.floor(random() * maxChunk));
          enqueue(bytes.slice(at, at + n));
          at += n;
        }
      } else if (bytes.length > 0) enqueue(bytes);
      if (written >= truncateAt) cut();
    };

    const close = () => {
      if (from.closed) return;
      from.closed = true;
      enqueue('eof');
      schedule(() => fireClose(from));
      drain();
    };
    /** The connection broke: nothing in the network or waiting here will arrive. */
    const dropAll = () => {
      held = [];
      unsent = [];
      unsentBytes = 0;
      drain();
    };
    const drained = (): Promise<void> =>
      !needDrain || from.closed ? Promise.resolve() : new Promise<void>((resolve) => drainWaiters.push(resolve));
    return {
      control,
      write,
      close,
      dropAll,
      drain,
      drained,
      get unsentBytes() {
        return unsentBytes;
      },
    };
  };

  const links = [makeLink(ends[0], ends[1]), makeLink(ends[1], ends[0])] as const;

  const fail = (err: Error) => {
    for (const l of links) l.dropAll();
    for (const e of ends) {
      if (e.closed && e.closeFired) continue;
      e.closed = true;
      schedule(() => {
        if (e.closeFired) return;
        e.closeFired = true;
        e.onClose?.(err);
      });
    }
  };

  const makeEnd = (i: 0 | 1, remoteAddress: string): MemoryStream => {
    const end = ends[i];
    const link = links[i];
    return {
      remoteAddress,
      link: link.control,
      write: (bytes) => link.write(bytes),
      writev: (parts) => link.write(joinParts(parts)),
      get unsentBytes() {
        return link.unsentBytes;
      },
      drained: () => link.drained(),
      onData: (handler) => {
        end.onData = handler;
        const early = end.early;
        end.early = [];
        for (const c of early) handler(c);
      },
      onClose: (handler) => {
        end.onClose = handler;
      },
      close: () => link.close(),
      fail,
      get isClosed() {
        return end.closed;
      },
    };
  };

  return [makeEnd(0, addrA), makeEnd(1, addrB)];
};
