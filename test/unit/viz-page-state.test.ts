/**
 * The page's model (runtime/viz/page/state.ts), without a browser: history in
 * time order whatever order hosts' steps arrive in, state at any point, and a
 * bounded history that remembers each actor's state before its first entry.
 */
import test from 'ava';
import fc from 'fast-check';
import { Ring } from '../../runtime/viz/page/ring.js';
import type { Hello, StepRecord } from '../../runtime/viz/model.js';
import { VizModel } from '../../runtime/viz/page/state.js';

const A = 'a'.repeat(52);
const B = 'b'.repeat(52);
let seq = 0;
const step = (host: string, n: number, t: number, value: unknown, event = 'e'): StepRecord => ({
  k: 'step',
  seq: ++seq,
  t,
  host,
  aid: `${host}/${n}`,
  event,
  value,
  status: 'active',
});
const hello = (history: StepRecord[]): Hello => ({
  k: 'hello',
  self: A,
  hosts: [{ k: 'host', host: A, self: true, connected: true }],
  defs: [],
  actors: [
    { aid: `${A}/1`, host: A, def: 'd', tag: { group: 'sessions', name: 'b', peer: B } },
    { aid: `${B}/1`, host: B, def: 'd', tag: { group: 'sessions', name: 'a', peer: A } },
  ],
  latest: [],
  history,
  health: [],
});
const times = (m: VizModel) => {
  const out: number[] = [];
  for (let i = m.history.start; i < m.history.end; i++) out.push(m.history.at(i)!.t);
  return out;
};

test('a relayed step older than the newest held takes its place in time; views are told entries moved', (t) => {
  const m = new VizModel();
  m.reset(hello([step(A, 1, 10, 'opening'), step(A, 1, 30, 'established')]));
  t.deepEqual(times(m), [10, 30]);
  const rewrites = m.rewrites;
  // B's half of the handshake arrives after A's established step, though it happened before it.
  const [b15, b20, b31] = [step(B, 1, 15, 'awaitingHello'), step(B, 1, 20, 'awaitingSignature', 'Hello'), step(B, 1, 31, 'established', 'Signature')];
  m.apply([b20, b31, b15]);
  t.deepEqual(times(m), [10, 15, 20, 30, 31]);
  t.is(m.rewrites, rewrites + 1);
  // As of A's established step (index 3), B was waiting for A's Signature.
  const at = m.snapshotAt(m.history.start + 3);
  t.is(at.get(`${A}/1`)?.value, 'established');
  t.is(at.get(`${B}/1`)?.value, 'awaitingSignature');
  t.is(m.latest.get(`${B}/1`)?.value, 'established');
  t.is(m.counterpart(m.actors.get(`${A}/1`)!), `${B}/1`, 'each path finds its counterpart on the other host');
});

test('the hello’s history is put in time order; steps in order are appended without moving anything', (t) => {
  const m = new VizModel();
  m.reset(hello([step(A, 1, 5, 'x'), step(B, 1, 2, 'y'), step(A, 1, 7, 'z'), step(B, 1, 7, 'w')]));
  t.deepEqual(times(m), [2, 5, 7, 7]);
  t.is(m.history.at(m.history.start + 2)?.k === 'step' && (m.history.at(m.history.start + 2) as StepRecord).value, 'z', 'equal times keep their order');
  const rewrites = m.rewrites;
  m.apply([step(A, 1, 8, 'q'), step(A, 1, 9, 'r')]);
  t.is(m.rewrites, rewrites);
  t.deepEqual(times(m), [2, 5, 7, 7, 8, 9]);
});

test('a full history drops its oldest entries but remembers each actor’s state before the first one held', (t) => {
  const m = new VizModel(3);
  m.reset(hello([]));
  m.apply([step(A, 1, 1, 'one'), step(B, 1, 2, 'bee'), step(A, 1, 3, 'two'), step(A, 1, 4, 'three'), step(A, 1, 5, 'four')]);
  t.deepEqual(times(m), [3, 4, 5]);
  const first = m.snapshotAt(m.history.start);
  t.is(first.get(`${A}/1`)?.value, 'two');
  t.is(first.get(`${B}/1`)?.value, 'bee', 'B’s last step fell out of the history, and is still its state then');
});

test('a view finds a step again by host and seq after a late, older step moved it', (t) => {
  const m = new VizModel();
  const mine = step(A, 1, 50, 'x');
  m.reset(hello([step(A, 1, 40, 'w'), mine]));
  const drawnAt = m.history.end - 1;
  m.apply([step(B, 1, 45, 'late')]);
  const now = m.indexOf(A, mine.seq, drawnAt);
  t.is(now, drawnAt + 1);
  t.is(m.history.at(now), mine);
  t.is(m.indexOf(undefined, Number.NaN, 7), 7, 'entries without a seq keep their index');
});

test('property: whatever order batches arrive in, the history is every step once, in time order, ties in arrival order', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ host: fc.constantFrom(A, B), t: fc.integer({ min: 0, max: 50 }) }), { maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 30 }),
      fc.integer({ min: 5, max: 80 }),
      (specs, cuts, capacity) => {
        const m = new VizModel(capacity);
        m.reset(hello([]));
        const steps = specs.map((s) => step(s.host, 1, s.t, 'v'));
        // Deliver in batches of the given sizes.
        let at = 0;
        for (const size of [...cuts, steps.length]) {
          if (at >= steps.length) break;
          m.apply(steps.slice(at, at + size));
          at += size;
        }
        const held: StepRecord[] = [];
        for (let i = m.history.start; i < m.history.end; i++) held.push(m.history.at(i) as StepRecord);
        const expected = steps
          .map((s, i) => [s, i] as const)
          .sort((x, y) => x[0].t - y[0].t || x[1] - y[1])
          .map(([s]) => s);
        // A full history keeps the newest by time; older ones may have been dropped at any point,
        // so compare the held ones with the tail of the expected order.
        t.true(held.length <= capacity);
        t.deepEqual(
          held.map((s) => s.t),
          [...held.map((s) => s.t)].sort((x, y) => x - y),
        );
        if (steps.length <= capacity) t.deepEqual(held, expected);
      },
    ),
  );
});

test('property: the ring holds what an array would, within its capacity, with stable absolute indices', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.oneof(fc.record({ op: fc.constant('push' as const), v: fc.integer() }), fc.record({ op: fc.constant('pop' as const) }), fc.record({ op: fc.constant('unshift' as const), v: fc.integer() }))),
      (capacity, ops) => {
        const ring = new Ring<number>(capacity);
        let model: number[] = [];
        let start = 0;
        for (const o of ops) {
          if (o.op === 'push') {
            model.push(o.v);
            if (model.length > capacity) {
              model = model.slice(1);
              start++;
            }
            ring.push(o.v);
          } else if (o.op === 'pop') {
            t.is(ring.pop(), model.pop());
          } else if (model.length < capacity) {
            t.true(ring.unshift(o.v));
            model.unshift(o.v);
            start--;
          } else t.false(ring.unshift(o.v));
          t.is(ring.size, model.length);
          t.is(ring.start, start);
          for (let i = 0; i < model.length; i++) t.is(ring.at(start + i), model[i]);
        }
      },
    ),
  );
});
