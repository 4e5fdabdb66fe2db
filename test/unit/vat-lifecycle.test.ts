/**
 * The vat lifecycle machine, driven by a SimulatedClock: no sleeps, every
 * timing claim is checked to the millisecond. Effects are recording fakes.
 */
import '@endo/init';
import test from 'ava';
import fc from 'fast-check';
import { type AnyStateNode, createActor, initialTransition, SimulatedClock, type StateValue, transition } from 'xstate';
import { phaseOf } from '../../vats/supervisor.js';
import {
  vatLifecycleMachine,
  type VatLifecycleEvent,
  type VatLifecycleInput,
} from '../../vats/vat-lifecycle.machine.js';

const INPUT: VatLifecycleInput = {
  name: 'v',
  pingIntervalMs: 10,
  maxMissed: 3,
  startTimeoutMs: 100,
  stopTimeoutMs: 50,
  externalBudgetBytes: 1000,
};

interface Effect {
  readonly at: number;
  readonly action: string;
  readonly final?: string;
}

const harness = (overrides: Partial<VatLifecycleInput> = {}) => {
  const input = { ...INPUT, ...overrides };
  const clock = new SimulatedClock();
  const effects: Effect[] = [];
  const rec = (action: string) => () => void effects.push({ at: clock.now(), action });
  const machine = vatLifecycleMachine.provide({
    actions: {
      sendPing: rec('sendPing'),
      terminateWorker: rec('terminateWorker'),
      requestStop: rec('requestStop'),
      startLoading: rec('startLoading'),
      announceRunning: rec('announceRunning'),
      announceEnded: (_, params) => void effects.push({ at: clock.now(), action: 'announceEnded', final: params.final }),
    },
  });
  const actor = createActor(machine, { input, clock });
  actor.start();
  return {
    input,
    clock,
    effects,
    actor,
    send: (e: VatLifecycleEvent) => actor.send(e),
    snap: () => actor.getSnapshot(),
    phase: () => phaseOf(actor.getSnapshot().value),
    /** Moves time forward 1 ms at a time, so timers re-armed on the way fire too. */
    advance(ms: number) {
      for (let i = 0; i < ms; i++) clock.increment(1);
    },
    count: (action: string) => effects.filter((e) => e.action === action).length,
    names: () => effects.map((e) => e.action),
    stop: () => actor.stop(),
  };
};
type Harness = ReturnType<typeof harness>;

const toRunning = (h: Harness) => {
  h.send({ type: 'worker.online' });
  h.send({ type: 'load.succeeded' });
};

test('starting → loading → running on worker.online and load.succeeded', (t) => {
  const h = harness();
  t.teardown(h.stop);
  t.is(h.snap().value, 'starting');
  t.deepEqual(h.effects, []);
  h.send({ type: 'worker.online' });
  t.deepEqual(h.snap().value, { alive: { phase: 'loading', watchdog: 'watching' } });
  t.is(h.phase(), 'loading');
  t.deepEqual(h.names(), ['startLoading']);
  h.send({ type: 'load.succeeded' });
  t.is(h.phase(), 'running');
  t.deepEqual(h.names(), ['startLoading', 'announceRunning']);
  t.is(h.snap().status, 'active');
  t.is(h.snap().context.cause, undefined);
});

test('a pong reporting memory outside the heap over budget ends the vat as memory-budget', (t) => {
  const h = harness();
  t.teardown(h.stop);
  toRunning(h);
  h.send({ type: 'heartbeat.pong', externalBytes: 1000 });
  t.is(h.phase(), 'running', 'at the budget is allowed');
  h.send({ type: 'heartbeat.pong', externalBytes: 1001 });
  t.is(h.snap().value, 'crashed');
  t.is(h.snap().context.cause, 'memory-budget');
  t.regex(h.snap().context.detail ?? '', /outside its heap/);
  t.deepEqual(h.names().slice(-2), ['terminateWorker', 'announceEnded']);
});

test('events that do not apply are ignored, not fatal', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.send({ type: 'load.succeeded' }); // before online
  h.send({ type: 'heartbeat.pong' });
  t.is(h.snap().value, 'starting');
  toRunning(h);
  h.send({ type: 'worker.online' }); // twice
  h.send({ type: 'load.failed', detail: 'late' }); // after success
  t.is(h.phase(), 'running');
  t.is(h.count('announceRunning'), 1);
  t.is(h.count('startLoading'), 1);
});

test('load.failed → failed (final) with the detail, and the worker is terminated', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.send({ type: 'worker.online' });
  h.send({ type: 'load.failed', detail: 'ModuleShapeError: no make' });
  t.is(h.snap().value, 'failed');
  t.is(h.snap().status, 'done');
  t.is(h.snap().context.detail, 'ModuleShapeError: no make');
  t.deepEqual(h.names(), ['startLoading', 'terminateWorker', 'announceEnded']);
  t.is(h.effects.at(-1)?.final, 'failed');
  // A final state absorbs everything, timers included.
  h.send({ type: 'worker.exit', code: 1 });
  h.advance(1000);
  t.is(h.snap().value, 'failed');
  t.is(h.count('announceEnded'), 1);
  t.is(h.count('sendPing'), 0);
});

test('watchdog: a ping every pingInterval while alive; a pong clears the outstanding count', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.advance(50); // starting: no pings yet
  t.is(h.count('sendPing'), 0);
  toRunning(h); // alive since t=50
  h.advance(9);
  t.is(h.count('sendPing'), 0);
  h.advance(1);
  t.is(h.count('sendPing'), 1);
  t.is(h.snap().context.outstandingPings, 1);
  h.advance(10);
  t.is(h.count('sendPing'), 2);
  t.is(h.snap().context.outstandingPings, 2);
  h.send({ type: 'heartbeat.pong' });
  t.is(h.snap().context.outstandingPings, 0);
  t.deepEqual(
    h.effects.filter((e) => e.action === 'sendPing').map((e) => e.at),
    [60, 70],
  );
  // Answering every ping keeps the vat alive indefinitely.
  for (let i = 0; i < 100; i++) {
    h.advance(INPUT.pingIntervalMs);
    h.send({ type: 'heartbeat.pong' });
  }
  t.is(h.phase(), 'running');
  t.is(h.count('sendPing'), 102);
  t.is(h.count('terminateWorker'), 0);
});

test('a running vat that stops answering is crashed with time-budget after maxMissed unanswered pings, not before', (t) => {
  const { pingIntervalMs: I, maxMissed } = INPUT;
  const h = harness();
  t.teardown(h.stop);
  toRunning(h);
  // maxMissed pings go out unanswered at I, 2I, … maxMissed·I; the tick after that kills.
  h.advance((maxMissed + 1) * I - 1);
  t.is(h.phase(), 'running', 'still running one ms before the deadline');
  t.is(h.count('sendPing'), maxMissed);
  t.is(h.count('terminateWorker'), 0);
  h.advance(1);
  t.is(h.snap().value, 'crashed');
  t.is(h.snap().status, 'done');
  t.is(h.snap().context.cause, 'time-budget');
  t.regex(h.snap().context.detail ?? '', /time budget/);
  t.deepEqual(h.names().slice(-2), ['terminateWorker', 'announceEnded']);
  t.is(h.effects.at(-1)?.final, 'crashed');
  t.is(h.effects.at(-1)?.at, (maxMissed + 1) * I);
  t.is(h.count('sendPing'), maxMissed, 'no ping after the verdict');
});

test('property: the watchdog kills exactly at the first tick after maxMissed consecutive unanswered pings', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 2, max: 20 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
      (maxMissed, pingIntervalMs, answers) => {
        const h = harness({ maxMissed, pingIntervalMs });
        try {
          toRunning(h);
          // Model: tick k (k = 1, 2, …) kills when the `maxMissed` pings before it went unanswered.
          let outstanding = 0;
          let killedAt: number | undefined;
          for (let k = 1; k <= answers.length + maxMissed + 1 && killedAt === undefined; k++) {
            if (outstanding >= maxMissed) {
              killedAt = k;
              break;
            }
            outstanding++;
            if (answers[k - 1]) outstanding = 0;
          }
          for (let k = 1; h.snap().status === 'active' && k <= answers.length + maxMissed + 1; k++) {
            h.advance(pingIntervalMs);
            if (h.snap().status === 'active' && answers[k - 1]) h.send({ type: 'heartbeat.pong' });
          }
          const ended = h.effects.find((e) => e.action === 'announceEnded');
          if (killedAt === undefined) return h.phase() === 'running' && ended === undefined;
          return (
            h.snap().value === 'crashed' &&
            h.snap().context.cause === 'time-budget' &&
            ended?.at === killedAt * pingIntervalMs
          );
        } finally {
          h.stop();
        }
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test('a vat that finished loading gets a full time budget, whatever pings went unanswered while loading', (t) => {
  // Loading is bounded by the start timeout, not the watchdog, so pings pile up
  // unanswered while `make()` runs. load.succeeded proves the vat's event loop
  // is free again; the time budget of the running vat must start from there.
  const { pingIntervalMs: I, maxMissed } = INPUT;
  const h = harness({ startTimeoutMs: 1000 });
  t.teardown(h.stop);
  h.send({ type: 'worker.online' });
  h.advance(5 * I + 5); // a slow make(): 5 pings unanswered
  t.is(h.phase(), 'loading');
  t.is(h.snap().context.outstandingPings, 5);
  h.send({ type: 'load.succeeded' });
  t.is(h.phase(), 'running');
  h.advance(maxMissed * I);
  t.is(h.phase(), 'running', `killed within ${maxMissed * I} ms of becoming running`);
});

test('loading is bounded by the start timeout, not by the watchdog', (t) => {
  const h = harness({ startTimeoutMs: 100 });
  t.teardown(h.stop);
  h.advance(30);
  h.send({ type: 'worker.online' }); // loading since t=30
  h.advance(99);
  t.is(h.phase(), 'loading', 'unanswered pings alone do not kill a loading vat');
  t.true(h.count('sendPing') > INPUT.maxMissed);
  h.advance(1);
  t.is(h.snap().value, 'crashed');
  t.is(h.snap().context.cause, 'start-timeout');
  t.is(h.effects.at(-1)?.at, 130);
});

test('worker.error with the memory-budget cause → crashed, worker terminated', (t) => {
  const h = harness();
  t.teardown(h.stop);
  toRunning(h);
  h.send({ type: 'worker.error', cause: 'memory-budget', detail: 'vat "v" exceeded its memory budget of 64 MiB' });
  t.is(h.snap().value, 'crashed');
  t.is(h.snap().context.cause, 'memory-budget');
  t.is(h.snap().context.detail, 'vat "v" exceeded its memory budget of 64 MiB');
  t.deepEqual(h.names().slice(-2), ['terminateWorker', 'announceEnded']);
  // The exit that follows termination changes nothing.
  h.send({ type: 'worker.exit', code: 1 });
  t.is(h.snap().context.cause, 'memory-budget');
  t.is(h.count('announceEnded'), 1);
});

test('worker.error while starting or loading → crashed with its cause', (t) => {
  for (const online of [false, true]) {
    const h = harness();
    t.teardown(h.stop);
    if (online) h.send({ type: 'worker.online' });
    h.send({ type: 'worker.error', cause: 'crash', detail: 'boom' });
    t.is(h.snap().value, 'crashed');
    t.is(h.snap().context.cause, 'crash');
    t.is(h.snap().context.detail, 'boom');
    t.is(h.count('terminateWorker'), 1);
  }
});

test('an unexpected worker.exit → crashed with cause crash and the exit code in the detail', (t) => {
  for (const setup of [() => {}, (h: Harness) => h.send({ type: 'worker.online' }), toRunning]) {
    const h = harness();
    t.teardown(h.stop);
    setup(h);
    h.send({ type: 'worker.exit', code: 7 });
    t.is(h.snap().value, 'crashed');
    t.is(h.snap().context.cause, 'crash');
    t.regex(h.snap().context.detail ?? '', /exited unexpectedly \(code 7\)/);
    t.is(h.count('terminateWorker'), 0, 'the worker is already gone');
    t.is(h.effects.at(-1)?.final, 'crashed');
  }
});

test('stop → stopping → worker.exit → stopped', (t) => {
  const h = harness();
  t.teardown(h.stop);
  toRunning(h);
  h.send({ type: 'stop' });
  t.is(h.snap().value, 'stopping');
  t.is(h.snap().context.cause, 'stopped');
  t.is(h.names().at(-1), 'requestStop');
  const pings = h.count('sendPing');
  h.advance(INPUT.stopTimeoutMs - 1);
  t.is(h.snap().value, 'stopping');
  t.is(h.count('sendPing'), pings, 'no pings while stopping');
  h.send({ type: 'worker.exit', code: 0 });
  t.is(h.snap().value, 'stopped');
  t.is(h.snap().status, 'done');
  t.is(h.count('terminateWorker'), 0, 'a worker that exits by itself is not terminated');
  t.is(h.effects.at(-1)?.final, 'stopped');
  h.advance(1000);
  t.is(h.count('terminateWorker'), 0, 'the stop timeout was cancelled');
});

test('stop while loading stops too', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.send({ type: 'worker.online' });
  h.send({ type: 'stop' });
  t.is(h.snap().value, 'stopping');
  h.send({ type: 'load.succeeded' });
  t.is(h.snap().value, 'stopping');
  t.is(h.count('announceRunning'), 0);
});

test('a worker that ignores stop is terminated at the stop timeout and counts as stopped', (t) => {
  const h = harness();
  t.teardown(h.stop);
  toRunning(h);
  h.advance(5);
  h.send({ type: 'stop' });
  h.advance(INPUT.stopTimeoutMs - 1);
  t.is(h.snap().value, 'stopping');
  t.is(h.count('terminateWorker'), 0);
  h.advance(1);
  t.is(h.snap().value, 'stopped');
  t.is(h.snap().context.cause, 'stopped');
  t.deepEqual(h.names().slice(-2), ['terminateWorker', 'announceEnded']);
  t.is(h.effects.at(-1)?.at, 5 + INPUT.stopTimeoutMs);
});

test('stop before the worker is online → stopped at once, worker terminated', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.send({ type: 'stop' });
  t.is(h.snap().value, 'stopped');
  t.is(h.snap().context.cause, 'stopped');
  t.deepEqual(h.names(), ['terminateWorker', 'announceEnded']);
});

test('start timeout → crashed with start-timeout, at exactly startTimeoutMs', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.advance(INPUT.startTimeoutMs - 1);
  t.is(h.snap().value, 'starting');
  h.advance(1);
  t.is(h.snap().value, 'crashed');
  t.is(h.snap().context.cause, 'start-timeout');
  t.regex(h.snap().context.detail ?? '', /did not start within 100 ms/);
  t.deepEqual(h.names(), ['terminateWorker', 'announceEnded']);
  t.is(h.effects.at(-1)?.at, INPUT.startTimeoutMs);
});

test('the start timeout of `starting` is cancelled once the worker is online and loaded', (t) => {
  const h = harness();
  t.teardown(h.stop);
  h.advance(INPUT.startTimeoutMs - 1);
  toRunning(h);
  for (let i = 0; i < 50; i++) {
    h.advance(INPUT.pingIntervalMs);
    h.send({ type: 'heartbeat.pong' });
  }
  t.is(h.phase(), 'running');
  t.is(h.snap().context.cause, undefined);
});

// ---- Pure transition checks over every reachable state ----

const ALL_EVENTS = (() => {
  const user: VatLifecycleEvent[] = [
    { type: 'worker.online' },
    { type: 'load.succeeded' },
    { type: 'load.failed', detail: 'bad module' },
    { type: 'heartbeat.pong' },
    { type: 'heartbeat.pong', externalBytes: INPUT.externalBudgetBytes + 1 },
    { type: 'worker.error', cause: 'memory-budget', detail: 'oom' },
    { type: 'worker.error', cause: 'crash', detail: 'boom' },
    { type: 'worker.exit', code: 1 },
    { type: 'stop' },
  ];
  // Delayed transitions are taken on xstate.after.* events; the machine lists them.
  const delayed = vatLifecycleMachine.events
    .filter((type) => type.startsWith('xstate.after.'))
    .map((type) => ({ type }) as unknown as VatLifecycleEvent);
  return [...user, ...delayed];
})();

const keyOf = (s: { value: unknown; status: string; context: { outstandingPings: number; cause?: unknown } }) =>
  JSON.stringify([s.value, s.status, s.context.outstandingPings, s.context.cause ?? null]);

const reachable = () => {
  const [initial] = initialTransition(vatLifecycleMachine, INPUT);
  const seen = new Map([[keyOf(initial), initial]]);
  const queue = [initial];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const e of ALL_EVENTS) {
      const [next] = transition(vatLifecycleMachine, s, e);
      // Counting pings while loading is unbounded; a few beyond maxMissed cover every guard.
      if (next.context.outstandingPings > INPUT.maxMissed + 2) continue;
      const k = keyOf(next);
      if (!seen.has(k)) {
        seen.set(k, next);
        queue.push(next);
      }
    }
  }
  return [...seen.values()];
};

test('every event in every reachable state gives a defined next state without throwing', (t) => {
  const states = reachable();
  t.true(ALL_EVENTS.some((e) => e.type.includes('pingInterval')), 'delayed events are included');
  const values = new Set(states.map((s) => phaseOf(s.value)));
  t.deepEqual([...values].sort(), ['crashed', 'failed', 'loading', 'running', 'starting', 'stopped', 'stopping']);
  for (const s of states) {
    for (const e of ALL_EVENTS) {
      let next: typeof s;
      try {
        [next] = transition(vatLifecycleMachine, s, e);
      } catch (err) {
        t.fail(`${keyOf(s)} + ${e.type} threw ${String(err)}`);
        continue;
      }
      t.truthy(next.value, `${keyOf(s)} + ${e.type}`);
      t.true(next.status === 'active' || next.status === 'done');
      if (s.status === 'done') {
        t.deepEqual(next.value, s.value, `final ${String(s.value)} absorbs ${e.type}`);
      }
    }
  }
});

test('from every reachable state a worker exit, or a stop plus the stop timeout, ends the vat', (t) => {
  const stopTimeout = ALL_EVENTS.find((e) => e.type.includes('stopTimeout'))!;
  for (const s of reachable()) {
    if (s.status === 'done') continue;
    const [exited] = transition(vatLifecycleMachine, s, { type: 'worker.exit', code: 1 });
    t.is(exited.status, 'done', `worker.exit in ${keyOf(s)}`);
    let [stopped] = transition(vatLifecycleMachine, s, { type: 'stop' });
    if (stopped.status !== 'done') [stopped] = transition(vatLifecycleMachine, stopped, stopTimeout);
    t.is(stopped.status, 'done', `stop in ${keyOf(s)}`);
    t.true(['stopped'].includes(String(stopped.value)), `stop in ${keyOf(s)} ends as ${String(stopped.value)}`);
  }
});

/** Every transition the machine definition declares into a final state, as "source --event--> target". */
const edgesIntoFinal = () => {
  const edges: Array<{ name: string; source: StateValue; event: string; target: string }> = [];
  const walk = (node: AnyStateNode) => {
    for (const [event, defs] of node.transitions) {
      for (const def of defs) {
        for (const target of def.target ?? []) {
          if (target.type !== 'final') continue;
          const source = node.path.reduceRight<StateValue>((inner, key) => (inner === '' ? key : { [key]: inner }), '');
          edges.push({ name: `${node.id} --${event}--> ${target.id}`, source, event, target: target.key });
        }
      }
    }
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(vatLifecycleMachine.root);
  return edges;
};

test('every final state announces its end exactly once with the matching kind', (t) => {
  const edges = edgesIntoFinal();
  t.deepEqual([...new Set(edges.map((e) => e.target))].sort(), ['crashed', 'failed', 'stopped'], 'edges into each final state');
  const taken = new Set<string>();
  for (const s of reachable()) {
    for (const e of ALL_EVENTS) {
      const [next, actions] = transition(vatLifecycleMachine, s, e);
      const announced = actions.filter((a) => a.type === 'announceEnded').map((a) => (a.params as { final: string }).final);
      const entersFinal = s.status !== 'done' && next.status === 'done';
      // An end is announced on the step into a final state, once, with its kind; never on any other step.
      t.deepEqual(announced, entersFinal ? [String(next.value)] : [], `${keyOf(s)} + ${e.type}`);
      if (!entersFinal) continue;
      for (const edge of edges) {
        if (edge.event === e.type && edge.target === next.value && s.matches(edge.source as never)) taken.add(edge.name);
      }
    }
  }
  // The walk took every edge the definition declares into a final state (guarded ones included).
  t.deepEqual(
    edges.map((e) => e.name).filter((name) => !taken.has(name)),
    [],
    'edges into a final state that no reachable state took',
  );
});

test('phaseOf names the phase a person would', (t) => {
  t.is(phaseOf('starting'), 'starting');
  t.is(phaseOf('crashed'), 'crashed');
  t.is(phaseOf({ alive: { phase: 'loading', watchdog: 'watching' } }), 'loading');
  t.is(phaseOf({ alive: { phase: 'running', watchdog: 'watching' } }), 'running');
  // Anything else is shown as it is rather than lost.
  t.is(phaseOf({ other: { x: 'y' } }), '{"other":{"x":"y"}}');
  t.is(phaseOf({ alive: {} }), '{"alive":{}}');
  for (const s of reachable()) t.regex(phaseOf(s.value), /^(starting|loading|running|stopping|stopped|crashed|failed)$/);
});
