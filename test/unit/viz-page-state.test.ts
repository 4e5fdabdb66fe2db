/**
 * The page's model (runtime/viz/page/state.ts), without a browser: history in
 * time order whatever order hosts' steps arrive in, state at any point, and a
 * bounded history that remembers each actor's state before its first entry.
 */
import test from 'ava';
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
