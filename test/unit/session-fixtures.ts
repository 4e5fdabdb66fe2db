/**
 * Shared plumbing for the session tests: a simulated clock, a manual delivery
 * queue, identities, a connected initiator/responder pair over a memory stream,
 * and a raw peer that speaks frames by hand.
 */
import { encodeFrame, MAX_FRAME_BYTES } from '../../protocols/framing/frames.js';
import { makeFrameReader, rawPeer } from '../helpers/frames.js';
import { type MemoryStream, type MemoryStreamOptions, makeMemoryStreamPair } from '../../protocols/framing/memory-stream.js';
import type { CryptoSuite, SigningKey } from '../../protocols/session/crypto.js';
import {
  type AcceptOptions,
  acceptPath,
  type InitiateOptions,
  initiatePath,
  type PathClock,
  type PathIdentity,
  type SecurePath,
} from '../../protocols/session/path.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';

export interface SimClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  /** Moves time forward, firing due timers in order (each at its own time). */
  advance(ms: number): void;
  readonly pending: number;
}

export const makeSimClock = (start = 1_700_000_000_000): SimClock => {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let due: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
    get pending() {
      return timers.size;
    },
  };
};

/** A delivery queue the test runs by hand: with it a memory stream is fully deterministic. */
export const makeManualQueue = () => {
  const q: Array<() => void> = [];
  return {
    schedule: (fn: () => void) => void q.push(fn),
    /** Runs everything, including what running schedules; returns how many ran. */
    run(limit = 1_000_000): number {
      let n = 0;
      while (q.length > 0 && n < limit) {
        (q.shift() as () => void)();
        n++;
      }
      return n;
    },
    get length() {
      return q.length;
    },
  };
};

let seedCounter = 1;
export const makeIdentity = (crypto: CryptoSuite, seedByte?: number): PathIdentity => {
  const seed = new Uint8Array(32).fill(seedByte ?? seedCounter++ % 251);
  const key = crypto.ed25519FromSeed(seed);
  return { vatId: vatIdOf(crypto, key.publicKey), key };
};

/** A signing key that signs, then flips a bit of the signature. */
export const badSigner = (key: SigningKey): SigningKey => ({
  publicKey: key.publicKey,
  sign: (m) => {
    const s = key.sign(m);
    s[0] = (s[0] as number) ^ 1;
    return s;
  },
});

export interface PairOptions {
  crypto?: CryptoSuite;
  responderCrypto?: CryptoSuite;
  stream?: MemoryStreamOptions;
  initiator?: Partial<InitiateOptions>;
  responder?: Partial<AcceptOptions>;
  clock?: SimClock;
  /** Use these ends instead of a fresh memory pair (e.g. from makeRelay). */
  streams?: [MemoryStream, MemoryStream];
  /** The paths' end of turn (PathClock.defer); default the manual `stream.schedule` if there is one, else queueMicrotask. */
  defer?: (fn: () => void) => void;
  /** Runs before either path starts (taps and faults that must see the first write). */
  prepare?: (a: MemoryStream, b: MemoryStream) => void;
}

export const makePair = (crypto: CryptoSuite, o: PairOptions = {}) => {
  const clock = o.clock ?? makeSimClock();
  // With a manual delivery queue, the paths' end-of-turn flushes go through it too: `q.run()` runs a whole exchange.
  const defer = o.defer ?? o.stream?.schedule;
  const pathClock: PathClock = defer
    ? { now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (h) => clock.clearTimeout(h), defer }
    : clock;
  const rCrypto = o.responderCrypto ?? crypto;
  const [a, b] = o.streams ?? makeMemoryStreamPair(o.stream);
  o.prepare?.(a, b);
  const initiatorId = makeIdentity(crypto);
  const responderId = makeIdentity(rCrypto);
  // Bounded: a handshake that waits on a simulated clock nobody advances would otherwise wait forever.
  const initiating = within(
    initiatePath({ stream: a, identity: initiatorId, crypto, clock: pathClock, wanted: responderId.vatId, ...o.initiator }),
    LOCAL_MS,
    "the initiator's handshake",
  );
  const accepting = within(acceptPath({ stream: b, identity: responderId, crypto: rCrypto, clock: pathClock, ...o.responder }), LOCAL_MS, "the responder's handshake");
  // Rejections are examined by the test; this keeps Node from calling them unhandled meanwhile.
  initiating.catch(() => {});
  accepting.catch(() => {});
  return { clock, a, b, initiatorId, responderId, initiating, accepting };
};

export const connected = async (crypto: CryptoSuite, o: PairOptions = {}) => {
  const p = makePair(crypto, o);
  const [initiator, responder] = await Promise.all([p.initiating, p.accepting]);
  return { ...p, initiator, responder };
};

/** The reason a path ends with, as a promise (bounded by LOCAL_MS from this call). */
export const closedWith = (path: SecurePath): Promise<Error> =>
  within(path.lifetime.closed, LOCAL_MS, `the ${path.role} path to close`);

/** Collects a path's frames; `until(n)` resolves once n have arrived. */
export const collect = (path: SecurePath) => {
  const got: Array<[number, Uint8Array]> = [];
  let want = Number.POSITIVE_INFINITY;
  let wake: (() => void) | undefined;
  path.onFrame((tag, payload) => {
    got.push([tag, new Uint8Array(payload)]);
    if (got.length >= want) wake?.();
  });
  return {
    got,
    until: (n: number) =>
      within(
        new Promise<void>((resolve) => {
          if (got.length >= n) return resolve();
          want = n;
          wake = resolve;
        }),
        LOCAL_MS,
        `${n} frames (${got.length} so far)`,
      ),
  };
};

/** A peer that reads and writes frames by hand (over a memory stream here). */
export { rawPeer };

/**
 * A man in the middle: [initiator end, responder end] of two memory pairs joined
 * frame by frame; `rewrite` may replace a frame's payload on its way.
 */
export const makeRelay = (
  rewrite: (direction: 'toResponder' | 'toInitiator', tag: number, payload: Uint8Array) => Uint8Array | undefined,
): [MemoryStream, MemoryStream] => {
  const [a, m1] = makeMemoryStreamPair();
  const [m2, b] = makeMemoryStreamPair();
  const pipe = (from: MemoryStream, to: MemoryStream, direction: 'toResponder' | 'toInitiator') => {
    const reader = makeFrameReader(MAX_FRAME_BYTES);
    from.onData((chunk) => {
      for (const f of reader.push(chunk)) to.write(encodeFrame(f.tag, rewrite(direction, f.tag, f.payload) ?? f.payload));
    });
    from.onClose(() => to.close());
  };
  pipe(m1, m2, 'toResponder');
  pipe(m2, m1, 'toInitiator');
  return [a, b];
};
