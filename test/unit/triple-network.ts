/**
 * An in-memory network for triple-session tests: links (pairs of frame paths)
 * with seeded faults, on a simulated clock. Every frame is delivered by a timer
 * of that clock, after the link's delay plus jitter (so frames of one link
 * overtake each other); faults per link: drop, duplicate, corrupt (the path's
 * AEAD would catch it: the frame is dropped, or the whole link ends as a
 * SecurePath does on an AEAD failure), partition (everything dropped, both
 * ways, the link still "up"), cut (the link ends on both sides). One seed is one
 * replayable run: nothing here reads the real clock or Math.random.
 */
import { type Lifetime, makeLifetime } from '../../protocols/lifetime.js';
import { seededRandom } from '../../protocols/framing/memory-stream.js';
import type { TripleClock, TriplePath } from '../../protocols/triple/triple-session.js';

/** A simulated clock with a timer heap (a test run can hold thousands of frames in flight). */
export interface HeapClock extends TripleClock {
  advance(ms: number): void;
  /** Fires due timers until none is left before `limit` ms from now or `until()` holds; returns whether it held. */
  runUntil(until: () => boolean, limit: number): boolean;
  readonly pending: number;
}

export const makeHeapClock = (start = 0): HeapClock => {
  let now = start;
  let nextId = 0;
  type Timer = { at: number; id: number; fn: () => void };
  const heap: Timer[] = [];
  const cancelled = new Set<number>();
  const less = (a: Timer, b: Timer) => a.at < b.at || (a.at === b.at && a.id < b.id);
  const push = (t: Timer) => {
    heap.push(t);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): Timer | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  const fireUntil = (end: number, until?: () => boolean): boolean => {
    for (;;) {
      if (until?.()) return true;
      const top = heap[0];
      if (!top || top.at > end) break;
      pop();
      if (cancelled.delete(top.id)) continue;
      now = top.at;
      top.fn();
    }
    now = Math.max(now, end);
    return until?.() ?? false;
  };
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++nextId;
      push({ at: now + Math.max(0, ms), id, fn });
      return id;
    },
    clearTimeout(h) {
      if (typeof h === 'number') cancelled.add(h);
    },
    advance: (ms) => void fireUntil(now + ms),
    runUntil: (until, limit) => fireUntil(now + limit, until),
    get pending() {
      return heap.length - cancelled.size;
    },
  };
};

export interface LinkFaults {
  /** Probabilities per frame. */
  drop: number;
  duplicate: number;
  corrupt: number;
  /** Of corrupt frames, the share that ends the link (the rest are dropped). */
  corruptKills: number;
  delayMs: number;
  jitterMs: number;
}

export const CLEAN: LinkFaults = { drop: 0, duplicate: 0, corrupt: 0, corruptKills: 0, delayMs: 1, jitterMs: 0 };

export class LinkLostError extends Error {
  override name = 'LinkLostError';
}

export interface LinkEnd extends TriplePath {
  sent: number;
}

export interface Link {
  readonly a: LinkEnd;
  readonly b: LinkEnd;
  faults: LinkFaults;
  partitioned: boolean;
  /** Frames delivered to either end. */
  delivered: number;
  /** Ends the link on both sides (a cable cut, a bridge killed). */
  cut(reason?: Error): void;
  readonly lifetime: Lifetime;
}

export const makeLink = (clock: TripleClock, random: () => number, faults: LinkFaults = CLEAN): Link => {
  const whole = makeLifetime();
  const makeEnd = () => {
    const life = makeLifetime(whole.lifetime);
    let handler: ((tag: number, payload: Uint8Array) => void) | undefined;
    const early: Array<[number, Uint8Array]> = [];
    const end = {
      sent: 0,
      lifetime: life.lifetime,
      receive(tag: number, payload: Uint8Array) {
        if (life.lifetime.isClosed) return;
        link.delivered++;
        if (handler) handler(tag, payload);
        else early.push([tag, payload]);
      },
      onFrame(h: (tag: number, payload: Uint8Array) => void) {
        handler = h;
        for (const [t, p] of early.splice(0)) h(t, p);
      },
      abort(reason: Error) {
        whole.close(new LinkLostError(`link aborted: ${reason.message}`, { cause: reason }));
      },
      send(tag: number, payload: Uint8Array) {
        if (life.lifetime.isClosed) throw new LinkLostError('send on a closed link');
        end.sent++;
        const other = end === ends[0] ? ends[1] : ends[0];
        const f = link.faults;
        if (link.partitioned || random() < f.drop) return;
        const bytes = new Uint8Array(payload);
        if (random() < f.corrupt) {
          if (random() < f.corruptKills) {
            // Delivered broken: the receiving path's AEAD fails and it ends (both sides see it).
            clock.setTimeout(() => whole.close(new LinkLostError('AEAD failure')), f.delayMs);
          }
          return;
        }
        const copies = random() < f.duplicate ? 2 : 1;
        for (let i = 0; i < copies; i++) {
          const at = f.delayMs + random() * f.jitterMs;
          clock.setTimeout(() => other.receive(tag, bytes), at);
        }
      },
    };
    return end;
  };
  const ends = [makeEnd(), makeEnd()] as const;
  const link: Link = {
    a: ends[0],
    b: ends[1],
    faults,
    partitioned: false,
    delivered: 0,
    cut: (reason) => void whole.close(reason ?? new LinkLostError('link cut')),
    lifetime: whole.lifetime,
  };
  return link;
};

export { seededRandom };
