/**
 * The simulated clock: a priority queue of timed events, run one at a time in
 * (time, insertion) order, so equal times keep a deterministic order. Nothing
 * here reads a real clock. Timers belong to an owner (a node incarnation) so a
 * crash can cancel all of an incarnation's timers at once.
 */
import type { RaftTimers } from '../../protocols/raft/types.js';

interface Event {
  readonly at: number;
  readonly seq: number;
  readonly owner: string | undefined;
  readonly fn: () => void;
  cancelled: boolean;
}

export interface SimClock {
  readonly now: () => number;
  /** Runs `fn` at `now() + delay` (delay ≥ 0). */
  readonly after: (delay: number, fn: () => void, owner?: string) => Event;
  readonly cancel: (event: Event) => void;
  /** Cancels every pending event of `owner`. */
  readonly cancelOwner: (owner: string) => void;
  /** Runs the next event due at or before `until`; false when there is none. */
  readonly step: (until: number) => boolean;
  /** Timers for the node incarnation `owner`. */
  readonly timers: (owner: string) => RaftTimers;
  readonly pending: () => number;
}

const before = (a: Event, b: Event): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

export const makeClock = (): SimClock => {
  const heap: Event[] = [];
  const byOwner = new Map<string, Set<Event>>();
  let now = 0;
  let seq = 0;
  let live = 0;
  const push = (e: Event): void => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const pop = (): Event | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  const forget = (e: Event): void => {
    if (e.owner !== undefined) byOwner.get(e.owner)?.delete(e);
  };
  const cancel = (e: Event): void => {
    if (e.cancelled) return;
    e.cancelled = true;
    live--;
    forget(e);
  };
  const after = (delay: number, fn: () => void, owner?: string): Event => {
    const e: Event = { at: now + (Number.isFinite(delay) ? Math.max(0, delay) : 0), seq: seq++, owner, fn, cancelled: false };
    push(e);
    live++;
    if (owner !== undefined) {
      const set = byOwner.get(owner) ?? new Set<Event>();
      byOwner.set(owner, set);
      set.add(e);
    }
    return e;
  };
  return {
    now: () => now,
    after,
    cancel,
    cancelOwner: (owner) => {
      for (const e of [...(byOwner.get(owner) ?? [])]) cancel(e);
      byOwner.delete(owner);
    },
    step: (until) => {
      for (;;) {
        const top = heap[0];
        if (!top || top.at > until) return false;
        pop();
        if (top.cancelled) continue;
        top.cancelled = true;
        live--;
        forget(top);
        now = top.at;
        top.fn();
        return true;
      }
    },
    timers: (owner) => ({
      setTimeout: (fn: (...args: any[]) => void, ms: number) => after(ms, () => fn(), owner),
      clearTimeout: (id: any) => {
        if (id && typeof id === 'object' && 'cancelled' in id) cancel(id as Event);
      },
    }),
    pending: () => live,
  };
};
