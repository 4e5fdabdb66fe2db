/**
 * The saga's machines alone (protocols/saga/saga.machine.ts). Pure: every
 * (state × event) pair through XState's `transition()`, against a table of
 * what each must do — anything a state does not expect aborts, or is ignored
 * where the table says why. Running: each leg's timeout on simulated timers
 * (the actors provided as fakes that never answer), a chunk or Delta turn
 * restarting the leg timer, and no timer left once a machine ends.
 */
import test from 'ava';
import { type AnyActorRef, createActor, fromCallback, fromPromise, initialTransition, transition, waitFor } from 'xstate';
import { SagaRefusedError } from '../../protocols/saga/errors.js';
import { initiatorMachine, responderMachine } from '../../protocols/saga/saga.machine.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';
import { manualTimers } from '../helpers/manual-timers.js';

const LEG = 1000;
const INPUT = { legTimeoutMs: LEG };

type AnyEvent = { type: string } & Record<string, unknown>;
type Machine = typeof initiatorMachine | typeof responderMachine;

/**
 * What a pair must do: go to a state (its value, dotted), abort with an
 * errorName, or be ignored. 'n/a': a child's done or error event in a state
 * where that child does not run — XState stops a state's children as it
 * leaves it and drops what they send afterwards, so the pair cannot occur.
 */
type Outcome = { to: string } | { aborted: string } | 'ignored' | 'n/a';

const stateName = (v: unknown): string => (typeof v === 'string' ? v : Object.entries(v as Record<string, unknown>).map(([k, sub]) => `${k}.${stateName(sub)}`)[0]!);

/** The snapshot after `path` from the start (pure). */
const drive = (machine: Machine, path: readonly AnyEvent[]) => {
  let [snap] = initialTransition(machine as typeof initiatorMachine, INPUT);
  for (const ev of path) [snap] = transition(machine as typeof initiatorMachine, snap, ev as never);
  return snap;
};

const check = (t: import('ava').ExecutionContext, machine: Machine, path: readonly AnyEvent[], ev: AnyEvent, want: Outcome, label: string) => {
  if (want === 'n/a') return;
  const from = drive(machine, path);
  const [to, actions] = transition(machine as typeof initiatorMachine, from, ev as never);
  const types: string[] = actions.map((a) => a.type);
  if (want === 'ignored') {
    t.is(stateName(to.value), stateName(from.value), label);
    t.is(to.status, from.status, label);
    t.deepEqual(to.context, from.context, label);
    t.deepEqual(types, [], `${label}: no action`);
  } else if ('to' in want) {
    t.is(stateName(to.value), want.to, label);
    t.is(to.status, want.to === 'synced' || want.to === 'committed' ? 'done' : 'active', label);
    if (to.status === 'done') t.is(types.filter((x) => x === 'onFinished').length, 1, `${label}: onFinished once`);
  } else {
    t.is(stateName(to.value), 'aborted', label);
    t.is(to.status, 'done', label);
    t.is(to.context.errorName, want.aborted, label);
    t.true(typeof to.context.error === 'string' && to.context.error.length > 0, `${label}: says why`);
    t.is(types.filter((x) => x === 'onAborted').length, 1, `${label}: onAborted once`);
    // The timer of the state it left is cancelled (every state but committing has one): an aborted saga leaves none behind.
    if (stateName(from.value) !== 'committing' && !ev.type.startsWith('xstate.after.')) t.true(types.includes('xstate.cancel'), `${label}: its leg timer cancelled`);
  }
};

/** Runs the whole (state × event) table: every state listed with every event, nothing left out. */
const sweep = (t: import('ava').ExecutionContext, machine: Machine, states: Record<string, readonly AnyEvent[]>, events: Record<string, AnyEvent>, table: Record<string, Record<string, Outcome>>) => {
  t.deepEqual(Object.keys(table).sort(), Object.keys(states).sort(), 'the table covers every state');
  for (const [state, row] of Object.entries(table)) {
    t.deepEqual(Object.keys(row).sort(), Object.keys(events).sort(), `the ${state} row covers every event`);
    t.is(stateName(drive(machine, states[state]!).value), state === 'delta' || state === 'receiving' ? `${state}.waiting` : state);
    for (const [name, want] of Object.entries(row)) check(t, machine, states[state]!, events[name]!, want, `${state} × ${name}`);
  }
};

// --- initiator ---

const I = 'saga-initiator';
const iEvents: Record<string, AnyEvent> = {
  'chunk.sent': { type: 'chunk.sent', entries: 3, bytes: 30 },
  'delta.sent': { type: 'delta.sent' },
  'leg.failed': { type: 'leg.failed', name: 'WireLostError', message: 'WireLostError: gone' },
  abort: { type: 'abort', reason: 'stop' },
  'init done (in sync)': { type: `xstate.done.actor.0.${I}.init`, output: { synced: true } },
  'init done (gaps)': { type: `xstate.done.actor.0.${I}.init`, output: { synced: false } },
  'init failed': { type: `xstate.error.actor.0.${I}.init`, error: new SagaRefusedError('not here') },
  'commit done': { type: `xstate.done.actor.0.${I}.commit` },
  'commit failed': { type: `xstate.error.actor.0.${I}.commit`, error: new SagaRefusedError('no') },
  'init timeout': { type: `xstate.after.legTimeout.${I}.init` },
  'delta timeout': { type: `xstate.after.legTimeout.${I}.delta.waiting` },
  'commit timeout': { type: `xstate.after.legTimeout.${I}.commit` },
  bogus: { type: 'bogus' },
};
const iStates: Record<string, readonly AnyEvent[]> = {
  init: [],
  delta: [iEvents['init done (gaps)']!],
  commit: [iEvents['init done (gaps)']!, iEvents['delta.sent']!],
};
const ABORT = { aborted: 'SagaAbortedError' } as const;
const TIMEOUT = { aborted: 'SagaTimeoutError' } as const;
/**
 * Ignored, and why: chunk.sent, delta.sent and leg.failed come only from the
 * Delta streamer, so outside `delta` they are late events of a streamer
 * already stopped; a child's done/error or a timer of another state is stale.
 */
const iTable: Record<string, Record<string, Outcome>> = {
  init: {
    'chunk.sent': 'ignored',
    'delta.sent': 'ignored',
    'leg.failed': 'ignored',
    abort: ABORT,
    'init done (in sync)': { to: 'synced' },
    'init done (gaps)': { to: 'delta.waiting' },
    'init failed': { aborted: 'SagaRefusedError' },
    'commit done': 'n/a',
    'commit failed': 'n/a',
    'init timeout': TIMEOUT,
    'delta timeout': 'ignored',
    'commit timeout': 'ignored',
    bogus: 'ignored',
  },
  delta: {
    'chunk.sent': { to: 'delta.waiting' },
    'delta.sent': { to: 'commit' },
    'leg.failed': { aborted: 'WireLostError' },
    abort: ABORT,
    'init done (in sync)': 'n/a',
    'init done (gaps)': 'n/a',
    'init failed': 'n/a',
    'commit done': 'n/a',
    'commit failed': 'n/a',
    'init timeout': 'ignored',
    'delta timeout': TIMEOUT,
    'commit timeout': 'ignored',
    bogus: 'ignored',
  },
  commit: {
    'chunk.sent': 'ignored',
    'delta.sent': 'ignored',
    'leg.failed': 'ignored',
    abort: ABORT,
    'init done (in sync)': 'n/a',
    'init done (gaps)': 'n/a',
    'init failed': 'n/a',
    'commit done': { to: 'committed' },
    'commit failed': { aborted: 'SagaRefusedError' },
    'init timeout': 'ignored',
    'delta timeout': 'ignored',
    'commit timeout': TIMEOUT,
    bogus: 'ignored',
  },
};

test('initiator: every (state × event) pair does what the table says; nothing unexpected goes unnoticed', (t) => {
  sweep(t, initiatorMachine, iStates, iEvents, iTable);
});

test('initiator: a chunk.sent counts the chunk and starts the leg timer again', (t) => {
  const [snap, actions] = transition(initiatorMachine, drive(initiatorMachine, iStates['delta']!), iEvents['chunk.sent'] as never);
  t.like(snap.context, { chunks: 1, entries: 3, bytes: 30 });
  t.deepEqual(
    actions.map((a) => a.type),
    ['xstate.cancel', 'xstate.raise'],
    'the timer cancelled and raised again; the streamer keeps running (no stopChild)',
  );
});

// --- responder ---

const R = 'saga-responder';
const rEvents: Record<string, AnyEvent> = {
  'turn.init (in sync)': { type: 'turn.init', synced: true },
  'turn.init (gaps)': { type: 'turn.init', synced: false },
  'turn.delta': { type: 'turn.delta', entries: 2, bytes: 20 },
  'turn.commit': { type: 'turn.commit' },
  'turn.bad': { type: 'turn.bad', name: 'SagaSignatureError', message: 'SagaSignatureError: forged' },
  abort: { type: 'abort', reason: 'the initiator aborted' },
  'commit done': { type: `xstate.done.actor.0.${R}.committing` },
  'commit failed': { type: `xstate.error.actor.0.${R}.committing`, error: new RangeError('disk full') },
  'init timeout': { type: `xstate.after.legTimeout.${R}.awaitInit` },
  'delta timeout': { type: `xstate.after.legTimeout.${R}.receiving.waiting` },
  bogus: { type: 'bogus' },
};
const rStates: Record<string, readonly AnyEvent[]> = {
  awaitInit: [],
  receiving: [rEvents['turn.init (gaps)']!],
  committing: [rEvents['turn.init (gaps)']!, rEvents['turn.commit']!],
};
const ORDER = { aborted: 'SagaOrderError' } as const;
const BAD = { aborted: 'SagaSignatureError' } as const;
/** `committing` ignores everything but its transaction's outcome: the commit is under way and cannot be undone (the adapter refuses the turns to their senders). */
const rTable: Record<string, Record<string, Outcome>> = {
  awaitInit: {
    'turn.init (in sync)': { to: 'synced' },
    'turn.init (gaps)': { to: 'receiving.waiting' },
    'turn.delta': ORDER,
    'turn.commit': ORDER,
    'turn.bad': BAD,
    abort: ABORT,
    'commit done': 'n/a',
    'commit failed': 'n/a',
    'init timeout': TIMEOUT,
    'delta timeout': 'ignored',
    bogus: 'ignored',
  },
  receiving: {
    'turn.init (in sync)': ORDER,
    'turn.init (gaps)': ORDER,
    'turn.delta': { to: 'receiving.waiting' },
    'turn.commit': { to: 'committing' },
    'turn.bad': BAD,
    abort: ABORT,
    'commit done': 'n/a',
    'commit failed': 'n/a',
    'init timeout': 'ignored',
    'delta timeout': TIMEOUT,
    bogus: 'ignored',
  },
  committing: {
    'turn.init (in sync)': 'ignored',
    'turn.init (gaps)': 'ignored',
    'turn.delta': 'ignored',
    'turn.commit': 'ignored',
    'turn.bad': 'ignored',
    abort: 'ignored',
    'commit done': { to: 'committed' },
    'commit failed': { aborted: 'RangeError' },
    'init timeout': 'ignored',
    'delta timeout': 'ignored',
    bogus: 'ignored',
  },
};

test('responder: every (state × event) pair does what the table says; a turn it does not expect aborts', (t) => {
  sweep(t, responderMachine, rStates, rEvents, rTable);
});

// --- running, on simulated timers ---

const never = fromPromise<never>(() => new Promise(() => {}));
const idle = fromCallback(() => () => {});

/** An actor of `machine` with fakes for its legs, on manual timers; counts its end actions. */
const run = <M extends Machine>(machine: M, actors: Record<string, unknown>) => {
  const clock = manualTimers();
  const ends = { aborted: 0, finished: 0 };
  const provided = (machine as typeof initiatorMachine).provide({
    actors: actors as never,
    actions: { onAborted: () => void ends.aborted++, onFinished: () => void ends.finished++ },
  });
  const actor = createActor(provided, { input: INPUT, clock });
  actor.start();
  const reach = (value: string) => within(waitFor(actor as AnyActorRef, (s) => stateName(s.value) === value), LOCAL_MS, `the machine in ${value}`);
  return { actor: actor as unknown as AnyActorRef & { send(ev: AnyEvent): void }, clock, ends, reach, value: () => stateName(actor.getSnapshot().value) };
};

/** Fires the leg timer: nothing at LEG - 1 ms, the abort at LEG; then no timer is left. */
const timesOut = (t: import('ava').ExecutionContext, m: ReturnType<typeof run>, leg: string) => {
  const at = m.value();
  m.clock.advance(LEG - 1);
  t.is(m.value(), at, `${leg}: not before its time`);
  m.clock.advance(1);
  t.is(m.value(), 'aborted', leg);
  t.like(m.actor.getSnapshot().context, { errorName: 'SagaTimeoutError' });
  t.regex(m.actor.getSnapshot().context.error, /^SagaTimeoutError: /);
  t.deepEqual(m.ends, { aborted: 1, finished: 0 });
  t.is(m.clock.pending(), 0, `${leg}: no timer left`);
};

test('both machines: an ended saga takes no event (an abort after it finished runs no onAborted)', async (t) => {
  const gaps = fromPromise(async () => ({ synced: false }));
  const ended: Array<[string, ReturnType<typeof run>, Record<string, AnyEvent>]> = [];
  const synced = run(initiatorMachine, { sendInit: fromPromise(async () => ({ synced: true })), sendDelta: idle, sendCommit: never });
  await synced.reach('synced');
  ended.push(['initiator synced', synced, iEvents]);
  const committed = run(initiatorMachine, { sendInit: gaps, sendDelta: idle, sendCommit: fromPromise(async () => {}) });
  await committed.reach('delta.waiting');
  committed.actor.send({ type: 'delta.sent' });
  await committed.reach('committed');
  ended.push(['initiator committed', committed, iEvents]);
  const aborted = run(initiatorMachine, { sendInit: never, sendDelta: idle, sendCommit: never });
  aborted.actor.send({ type: 'abort', reason: 'stop' });
  ended.push(['initiator aborted', aborted, iEvents]);
  const rSynced = run(responderMachine, { commitSpace: never });
  rSynced.actor.send({ type: 'turn.init', synced: true });
  ended.push(['responder synced', rSynced, rEvents]);
  const rCommitted = run(responderMachine, { commitSpace: fromPromise(async () => {}) });
  rCommitted.actor.send({ type: 'turn.init', synced: false });
  rCommitted.actor.send({ type: 'turn.commit' });
  await rCommitted.reach('committed');
  ended.push(['responder committed', rCommitted, rEvents]);
  const rAborted = run(responderMachine, { commitSpace: never });
  rAborted.actor.send({ type: 'turn.bad', name: 'SagaSignatureError', message: 'forged' });
  ended.push(['responder aborted', rAborted, rEvents]);
  for (const [label, m, events] of ended) {
    const snap = m.actor.getSnapshot();
    const ends = { ...m.ends };
    t.is(snap.status, 'done', label);
    t.is(ends.aborted + ends.finished, 1, `${label}: one end action`);
    for (const ev of Object.values(events)) m.actor.send(ev);
    m.clock.advance(10 * LEG);
    t.is(m.actor.getSnapshot(), snap, `${label}: the snapshot did not change`);
    t.deepEqual(m.ends, ends, label);
    t.is(m.clock.pending(), 0, `${label}: no timer left`);
  }
});

test('initiator: each leg times out on its own timer (Ack, Delta answer, Committed)', async (t) => {
  const init = run(initiatorMachine, { sendInit: never, sendDelta: idle, sendCommit: never });
  timesOut(t, init, 'the Ack');

  const gaps = fromPromise(async () => ({ synced: false }));
  const delta = run(initiatorMachine, { sendInit: gaps, sendDelta: idle, sendCommit: never });
  await delta.reach('delta.waiting');
  timesOut(t, delta, 'a Delta answer');

  const commit = run(initiatorMachine, { sendInit: gaps, sendDelta: idle, sendCommit: never });
  await commit.reach('delta.waiting');
  commit.actor.send({ type: 'delta.sent' });
  t.is(commit.value(), 'commit');
  timesOut(t, commit, 'the Committed');
});

test('initiator: chunks answered just within the leg timeout keep the saga alive; one late answer ends it', async (t) => {
  const m = run(initiatorMachine, { sendInit: fromPromise(async () => ({ synced: false })), sendDelta: idle, sendCommit: never });
  await m.reach('delta.waiting');
  for (let i = 0; i < 10; i++) {
    m.clock.advance(LEG - 1);
    m.actor.send({ type: 'chunk.sent', entries: 1, bytes: 10 });
  }
  t.is(m.value(), 'delta.waiting', `alive after ${10 * (LEG - 1)} ms in all`);
  t.like(m.actor.getSnapshot().context, { chunks: 10, entries: 10, bytes: 100 });
  t.is(m.clock.pending(), 1, 'one leg timer, not one per chunk');
  timesOut(t, m, 'a late Delta answer');
});

test('initiator: a saga that ends well leaves no timer', async (t) => {
  const m = run(initiatorMachine, { sendInit: fromPromise(async () => ({ synced: false })), sendDelta: idle, sendCommit: fromPromise(async () => {}) });
  await m.reach('delta.waiting');
  m.actor.send({ type: 'chunk.sent', entries: 1, bytes: 10 });
  m.actor.send({ type: 'delta.sent' });
  await m.reach('committed');
  t.deepEqual(m.ends, { aborted: 0, finished: 1 });
  t.is(m.clock.pending(), 0);
  const synced = run(initiatorMachine, { sendInit: fromPromise(async () => ({ synced: true })), sendDelta: idle, sendCommit: never });
  await synced.reach('synced');
  t.is(synced.clock.pending(), 0);
});

test('responder: waiting for the Init, and for each Delta or the Commit, times out', (t) => {
  const awaitInit = run(responderMachine, { commitSpace: never });
  timesOut(t, awaitInit, 'the Init');
  const receiving = run(responderMachine, { commitSpace: never });
  receiving.actor.send({ type: 'turn.init', synced: false });
  receiving.actor.send({ type: 'turn.delta', entries: 1, bytes: 1 });
  timesOut(t, receiving, 'a Delta or the Commit');
});

test('responder: Delta turns just within the leg timeout keep the saga alive; the commit itself has no timer', async (t) => {
  const m = run(responderMachine, { commitSpace: never });
  m.actor.send({ type: 'turn.init', synced: false });
  for (let i = 0; i < 10; i++) {
    m.clock.advance(LEG - 1);
    m.actor.send({ type: 'turn.delta', entries: 2, bytes: 20 });
  }
  t.is(m.value(), 'receiving.waiting');
  t.like(m.actor.getSnapshot().context, { chunks: 10, entries: 20, bytes: 200 });
  m.actor.send({ type: 'turn.commit' });
  t.is(m.value(), 'committing');
  t.is(m.clock.pending(), 0, 'the transaction decides, not a timer');
  m.clock.advance(100 * LEG);
  m.actor.send({ type: 'abort', reason: 'too late' });
  t.is(m.value(), 'committing');
  t.deepEqual(m.ends, { aborted: 0, finished: 0 });

  const done = run(responderMachine, { commitSpace: fromPromise(async () => {}) });
  done.actor.send({ type: 'turn.init', synced: false });
  done.actor.send({ type: 'turn.commit' });
  await done.reach('committed');
  t.deepEqual(done.ends, { aborted: 0, finished: 1 });
  t.is(done.clock.pending(), 0);
});
