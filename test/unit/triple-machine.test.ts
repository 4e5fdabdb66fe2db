/**
 * The triple session machine alone: pure transitions through every state, a
 * sweep of (state × event) where an abort always ends in `closed`, and the
 * grace timer on XState's simulated clock (not restarted by a summary that
 * still says "no path").
 */
import test from 'ava';
import { createActor, initialTransition, SimulatedClock, transition } from 'xstate';
import { TripleSessionLostError } from '../../protocols/triple/errors.js';
import { type TripleMachineEvent, type TripleState, tripleMachine, tripleStateOf } from '../../protocols/triple/triple.machine.js';

const paths = (live: number, good: number): TripleMachineEvent => ({ type: 'paths.changed', live, good });
const run = (...events: TripleMachineEvent[]) => {
  let [snap] = initialTransition(tripleMachine, { graceMs: 1_000 });
  for (const ev of events) [snap] = transition(tripleMachine, snap, ev);
  return snap;
};
const stateAfter = (...events: TripleMachineEvent[]) => tripleStateOf(run(...events).value);

test('path summaries lead through every state', (t) => {
  t.is(stateAfter(), 'starting');
  t.is(stateAfter(paths(0, 0)), 'starting', 'an attaching path is not live');
  t.is(stateAfter(paths(1, 1)), 'critical');
  t.is(stateAfter(paths(3, 3)), 'healthy');
  t.is(stateAfter(paths(3, 3), paths(3, 2)), 'healthy', 'two good paths are enough');
  t.is(stateAfter(paths(3, 3), paths(3, 1)), 'degraded');
  t.is(stateAfter(paths(3, 3), paths(2, 0)), 'degraded');
  t.is(stateAfter(paths(3, 3), paths(1, 1)), 'critical');
  t.is(stateAfter(paths(3, 3), paths(0, 0)), 'resuming');
  t.is(stateAfter(paths(3, 3), paths(0, 0), paths(1, 0)), 'critical', 'one path back resumes');
  t.is(stateAfter(paths(3, 3), paths(0, 0), paths(2, 2)), 'healthy');
});

const ALL_STATES: Array<[TripleState, TripleMachineEvent[]]> = [
  ['starting', []],
  ['healthy', [paths(3, 3)]],
  ['degraded', [paths(3, 1)]],
  ['critical', [paths(1, 1)]],
  ['resuming', [paths(1, 1), paths(0, 0)]],
];
const EVENTS: TripleMachineEvent[] = [paths(0, 0), paths(1, 0), paths(1, 1), paths(2, 1), paths(3, 3)];

test('every (state × summary) lands in a state of the machine; an abort from any state ends in closed with its error', (t) => {
  const names = new Set<string>(['starting', 'healthy', 'degraded', 'critical', 'resuming']);
  for (const [state, reach] of ALL_STATES) {
    t.is(stateAfter(...reach), state);
    for (const ev of EVENTS) t.true(names.has(stateAfter(...reach, ev)), `${state} + ${JSON.stringify(ev)}`);
    const err = new Error('why');
    const snap = run(...reach, { type: 'session.abort', error: err });
    t.is(snap.status, 'done');
    t.is(tripleStateOf(snap.value), 'closed');
    t.is(snap.context.error, err);
  }
});

const timed = () => {
  const clock = new SimulatedClock();
  const ended: Error[] = [];
  const actor = createActor(tripleMachine, {
    input: { graceMs: 1_000, effects: { lost: (e) => ended.push(e), closed: (e) => ended.push(e) } },
    clock,
  });
  actor.start();
  return { clock, actor, ended, state: () => tripleStateOf(actor.getSnapshot().value) };
};

test('resuming: the grace period runs from the last live path, and a "still none" summary does not restart it', (t) => {
  const m = timed();
  m.actor.send(paths(2, 2));
  m.clock.increment(5_000);
  t.is(m.state(), 'healthy', 'no timer while connected');
  m.actor.send(paths(0, 0));
  m.clock.increment(600);
  m.actor.send(paths(0, 0));
  m.clock.increment(399);
  t.is(m.state(), 'resuming');
  m.clock.increment(1);
  t.is(m.state(), 'lost');
  t.is(m.ended.length, 1);
  t.true(m.ended[0] instanceof TripleSessionLostError);
  t.regex(m.ended[0]!.message, /^TripleSessionLostError: no path for 1000 ms/);
});

test('a path back within the grace period cancels it', (t) => {
  const m = timed();
  m.actor.send(paths(1, 1));
  m.actor.send(paths(0, 0));
  m.clock.increment(900);
  m.actor.send(paths(1, 1));
  m.clock.increment(5_000);
  t.is(m.state(), 'critical');
  t.deepEqual(m.ended, []);
});

test('starting: lost when no path is ever validated within the grace period', (t) => {
  const m = timed();
  m.clock.increment(1_000);
  t.is(m.state(), 'lost');
  t.is(m.ended[0]?.name, 'TripleSessionLostError');
});
