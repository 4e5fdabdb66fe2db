/**
 * capabilities/outbox.ts: a turn's items leave in one post, drops wait for
 * company or DROP_HOLD_MS. The property drives any interleaving of pushes, turn
 * ends and clock advances on a simulated clock and checks order, no loss, no
 * duplicates, the batch bound and the latency bounds.
 */
import test from 'ava';
import fc from 'fast-check';
import { DROP_HOLD_MS, makeOutbox, type OutboxTimer } from '../../capabilities/outbox.js';

/** A simulated turn and clock: `endTurn()` runs what waits for the turn's end; `advance(ms)` fires due timers. */
const simulated = () => {
  let now = 0;
  let turnQueue: Array<() => void> = [];
  const timers = new Map<number, { at: number; fn: () => void }>();
  let nextId = 1;
  const timer: OutboxTimer = {
    turnEnd: (fn) => void turnQueue.push(fn),
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
  };
  return {
    timer,
    get now() {
      return now;
    },
    endTurn() {
      const q = turnQueue;
      turnQueue = [];
      for (const fn of q) fn();
    },
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
    },
  };
};

interface Item {
  readonly n: number;
  readonly drop: boolean;
  readonly size: number;
  /** Simulated time and turn it was pushed in. */
  readonly at: number;
  readonly turn: number;
}

type Step = { k: 'push'; drop: boolean; size: number } | { k: 'endTurn' } | { k: 'advance'; ms: number };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ drop: fc.boolean(), size: fc.integer({ min: 0, max: 40 }) }).map((r) => ({ k: 'push' as const, ...r })) },
  { weight: 2, arbitrary: fc.constant({ k: 'endTurn' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 * DROP_HOLD_MS }).map((ms) => ({ k: 'advance' as const, ms })) },
);

test('property: any interleaving of pushes, turn ends and delays posts every item once, in order, in bounded batches and time', (t) => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 300 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 100 }), (steps, maxBatch, maxBatchSize) => {
      const sim = simulated();
      const posted: Array<{ item: Item; at: number; turn: number }> = [];
      let turn = 0;
      let batches = 0;
      const out = makeOutbox<Item>({
        post: (items) => {
          batches += 1;
          if (items.length === 0 || items.length > maxBatch) throw new Error(`batch of ${items.length} (bound ${maxBatch})`);
          // Only the last item may take a batch to (or past) its size bound.
          const before = items.slice(0, -1).reduce((a, x) => a + x.size, 0);
          if (before >= maxBatchSize) throw new Error(`batch already at ${before} before its last item (bound ${maxBatchSize})`);
          for (const item of items) posted.push({ item, at: sim.now, turn });
        },
        isDrop: (item) => item.drop,
        size: (item) => item.size,
        timer: sim.timer,
        maxBatch,
        maxBatchSize,
      });
      let n = 0;
      for (const s of steps) {
        if (s.k === 'push') out.push({ n: n++, drop: s.drop, size: s.size, at: sim.now, turn });
        else if (s.k === 'endTurn') {
          // Only a turn's end flushes what the turn pushed: posts made in it still belong to it.
          sim.endTurn();
          turn += 1;
        } else {
          sim.endTurn();
          turn += 1;
          sim.advance(s.ms);
        }
      }
      // Drain: the turn ends, then the hold runs out.
      sim.endTurn();
      turn += 1;
      sim.advance(DROP_HOLD_MS);
      // Every item once, in order.
      if (posted.length !== n) throw new Error(`${posted.length} of ${n} items posted`);
      posted.forEach((p, i) => {
        if (p.item.n !== i) throw new Error(`item ${p.item.n} posted in place ${i}`);
        // Latency: a call leaves by the end of its turn; a drop within the hold.
        if (!p.item.drop && p.turn !== p.item.turn) throw new Error(`item ${i} left in turn ${p.turn}, pushed in ${p.item.turn}`);
        if (p.item.drop && p.at - p.item.at > DROP_HOLD_MS) throw new Error(`drop ${i} waited ${p.at - p.item.at} ms`);
      });
      if (out.waiting !== 0) throw new Error(`${out.waiting} still waiting`);
      return batches <= n;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a turn of calls is one post; a lone drop waits DROP_HOLD_MS; a drop rides with the next call', (t) => {
  const sim = simulated();
  const posts: string[][] = [];
  const out = makeOutbox<string>({ post: (items) => void posts.push(items), isDrop: (s) => s.startsWith('drop'), timer: sim.timer });
  out.push('call 1');
  out.push('call 2');
  out.push('drop 1');
  t.deepEqual(posts, []);
  sim.endTurn();
  t.deepEqual(posts, [['call 1', 'call 2', 'drop 1']]);

  out.push('drop 2');
  sim.endTurn();
  sim.advance(DROP_HOLD_MS - 1);
  t.is(posts.length, 1, 'a lone drop waits');
  out.push('call 3');
  sim.endTurn();
  t.deepEqual(posts[1], ['drop 2', 'call 3'], 'the drop left with the next call, before it');
  sim.advance(DROP_HOLD_MS);
  t.is(posts.length, 2, 'its hold timer was cleared');

  out.push('drop 3');
  sim.advance(DROP_HOLD_MS);
  t.deepEqual(posts[2], ['drop 3'], 'alone, it leaves after the hold');
});

test('batchTurns false: a call leaves at once, with the drops held before it; close posts, discard forgets', (t) => {
  const sim = simulated();
  const posts: string[][] = [];
  const out = makeOutbox<string>({ post: (items) => void posts.push(items), isDrop: (s) => s.startsWith('drop'), timer: sim.timer, batchTurns: false });
  out.push('drop 1');
  t.deepEqual(posts, []);
  out.push('call 1');
  t.deepEqual(posts, [['drop 1', 'call 1']]);
  out.push('drop 2');
  out.close();
  t.deepEqual(posts[1], ['drop 2']);
  out.push('call 2');
  sim.endTurn();
  t.is(posts.length, 2, 'nothing after close');

  const other: string[][] = [];
  const gone = makeOutbox<string>({ post: (items) => void other.push(items), isDrop: () => true, timer: sim.timer });
  gone.push('drop');
  gone.discard();
  sim.advance(DROP_HOLD_MS);
  t.deepEqual(other, []);
});
