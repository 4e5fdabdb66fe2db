/**
 * The bootstrap machine alone on a simulated clock: the happy path, the waits
 * that give up on degraded, losing and regaining sisters, repeated spawn
 * failures, and stop from every state.
 */
import test from 'ava';
import { createActor, SimulatedClock } from 'xstate';
import { type BootstrapEvent, type BootstrapInput, bootstrapMachine } from '../../protocols/bootstrap/bootstrap.machine.js';

const INPUT: BootstrapInput = { coreSize: 3, spawnWaitMs: 1000, connectWaitMs: 500, syncWaitMs: 700, maxSpawnFailures: 3 };

const live = (input: Partial<BootstrapInput> = {}) => {
  const clock = new SimulatedClock();
  const visited: string[] = [];
  const actor = createActor(bootstrapMachine, { input: { ...INPUT, ...input }, clock });
  actor.subscribe((s) => {
    const v = String(s.value);
    if (visited.at(-1) !== v) visited.push(v);
  });
  actor.start();
  const state = () => String(actor.getSnapshot().value);
  const reason = () => actor.getSnapshot().context.reason;
  return { clock, actor, visited, state, reason };
};

const status = (alive: number, expected: number, connected: number, spawner = true, synced = true): BootstrapEvent => ({ type: 'status', alive, expected, connected, spawner, synced });
const UP: BootstrapEvent[] = [{ type: 'identity.loaded' }, { type: 'store.opened' }, { type: 'listening' }, { type: 'discovered', sisters: 1 }];

/** An actor driven to `spawn`. */
const atSpawn = (input: Partial<BootstrapInput> = {}) => {
  const m = live(input);
  for (const e of UP) m.actor.send(e);
  return m;
};

test('happy path: identity → store → listen → discover → spawn → connect → ready', (t) => {
  const m = live();
  t.is(m.state(), 'identity');
  for (const e of UP) m.actor.send(e);
  t.is(m.state(), 'spawn');
  m.actor.send(status(2, 2, 0));
  t.is(m.state(), 'spawn', 'two of three alive: still spawning');
  m.actor.send(status(3, 2, 1));
  t.is(m.state(), 'connect', 'core full, one of two connected');
  m.actor.send(status(3, 2, 2));
  t.is(m.state(), 'ready');
  t.deepEqual(m.visited, ['identity', 'store', 'listen', 'discover', 'spawn', 'connect', 'ready']);
  t.is(m.reason(), undefined);
  const c = m.actor.getSnapshot().context;
  t.like(c, { alive: 3, expected: 2, connected: 2, spawner: true, spawnFailures: 0 });
  m.clock.increment(10_000);
  t.is(m.state(), 'ready', 'the waits were cancelled on the way');
});

test('events out of order are ignored: the steps go one at a time', (t) => {
  const m = live();
  m.actor.send({ type: 'listening' });
  m.actor.send({ type: 'discovered', sisters: 3 });
  m.actor.send(status(3, 0, 0));
  t.is(m.state(), 'identity');
  m.actor.send({ type: 'identity.loaded' });
  m.actor.send({ type: 'listening' });
  t.is(m.state(), 'store');
});

test('spawnWait expiring: degraded naming "1 of 3 sisters alive", exactly at the wait; a healthy status makes it ready', (t) => {
  const m = atSpawn();
  m.actor.send(status(1, 0, 0));
  m.clock.increment(999);
  t.is(m.state(), 'spawn');
  m.clock.increment(1);
  t.is(m.state(), 'degraded');
  t.regex(m.reason() ?? '', /1 of 3 sisters alive/);
  m.actor.send(status(2, 1, 1));
  t.is(m.state(), 'degraded');
  t.regex(m.reason() ?? '', /2 of 3 sisters alive/, 'the reason follows the status');
  m.actor.send(status(3, 2, 2));
  t.is(m.state(), 'ready');
  t.is(m.reason(), undefined);
});

test('connectWait expiring: degraded naming the connected counts; whole again is ready', (t) => {
  const m = atSpawn();
  m.actor.send(status(3, 4, 1));
  t.is(m.state(), 'connect');
  m.clock.increment(499);
  t.is(m.state(), 'connect');
  m.clock.increment(1);
  t.is(m.state(), 'degraded');
  t.regex(m.reason() ?? '', /1 of 4 sisters connected/);
  m.actor.send(status(3, 4, 3));
  t.regex(m.reason() ?? '', /3 of 4 sisters connected/);
  m.actor.send(status(3, 4, 4));
  t.is(m.state(), 'ready');
});

test('sync step: connected but spaces not in sync waits in sync; in sync is ready; syncWait expiring is degraded, and in sync recovers it', (t) => {
  const m = atSpawn();
  m.actor.send(status(3, 2, 2, true, false));
  t.is(m.state(), 'sync');
  m.actor.send(status(3, 2, 2, true, true));
  t.is(m.state(), 'ready');

  const n = atSpawn();
  n.actor.send(status(3, 2, 2, true, false));
  n.clock.increment(699);
  t.is(n.state(), 'sync');
  n.clock.increment(1);
  t.is(n.state(), 'degraded');
  t.regex(n.reason() ?? '', /registry and names are not in sync/);
  n.actor.send(status(3, 2, 2, true, true));
  t.is(n.state(), 'ready');
  // Once ready, a transient difference (a name published a moment ago) does not degrade it.
  n.actor.send(status(3, 2, 2, true, false));
  t.is(n.state(), 'ready');
});

test('spawnWait counts from entering spawn, not from the first status', (t) => {
  const m = live();
  for (const e of UP.slice(0, 3)) m.actor.send(e);
  m.clock.increment(5000);
  t.is(m.state(), 'discover', 'no wait before spawn');
  m.actor.send(UP[3]!);
  m.clock.increment(999);
  t.is(m.state(), 'spawn');
  m.clock.increment(1);
  t.is(m.state(), 'degraded');
  t.regex(m.reason() ?? '', /0 of 3 sisters alive/);
});

test('a sister lost later: degraded, and ready again once the core is whole', (t) => {
  const m = atSpawn();
  m.actor.send(status(3, 2, 2));
  t.is(m.state(), 'ready');
  m.actor.send(status(2, 2, 1, false));
  t.is(m.state(), 'degraded');
  t.regex(m.reason() ?? '', /2 of 3 sisters alive/);
  t.false(m.actor.getSnapshot().context.spawner);
  m.actor.send(status(3, 2, 1));
  t.is(m.state(), 'degraded', 'all alive but one not connected');
  t.regex(m.reason() ?? '', /1 of 2 sisters connected/);
  m.actor.send(status(3, 2, 2));
  t.is(m.state(), 'ready');
  t.is(m.reason(), undefined);
  // A lost session alone degrades too.
  m.actor.send(status(3, 2, 1));
  t.is(m.state(), 'degraded');
  t.regex(m.reason() ?? '', /1 of 2 sisters connected/);
});

test('maxSpawnFailures spawn.failed in a row make it failed; a whole status recovers it', (t) => {
  const m = atSpawn();
  for (let i = 1; i < INPUT.maxSpawnFailures; i++) {
    m.actor.send({ type: 'spawn.failed', detail: `try ${i}` });
    t.is(m.state(), 'spawn', `after ${i} failures`);
    t.is(m.actor.getSnapshot().context.spawnFailures, i);
  }
  m.actor.send({ type: 'spawn.failed', detail: 'SpawnFailedError: no such program' });
  t.is(m.state(), 'failed', `after ${INPUT.maxSpawnFailures} failures`);
  t.is(m.reason(), 'SpawnFailedError: no such program');
  m.clock.increment(10_000);
  t.is(m.state(), 'failed', 'no wait takes it out of failed');
  m.actor.send(status(2, 1, 1));
  t.is(m.state(), 'failed', 'a short core does not recover it');
  m.actor.send(status(3, 2, 2));
  t.is(m.state(), 'ready', 'the first whole status recovers it');
  t.is(m.actor.getSnapshot().context.spawnFailures, 0);
  t.is(m.reason(), undefined);
});

test('spawn failures count on in degraded; ready starts the count afresh', (t) => {
  const m = atSpawn();
  m.actor.send({ type: 'spawn.failed', detail: 'one' });
  m.clock.increment(1000);
  t.is(m.state(), 'degraded');
  m.actor.send({ type: 'spawn.failed', detail: 'two' });
  t.is(m.state(), 'degraded');
  m.actor.send(status(3, 0, 0));
  t.is(m.state(), 'ready');
  m.actor.send(status(2, 0, 0));
  t.is(m.state(), 'degraded');
  m.actor.send({ type: 'spawn.failed', detail: 'one again' });
  m.actor.send({ type: 'spawn.failed', detail: 'two again' });
  t.is(m.state(), 'degraded', 'the count restarted at ready');
  m.actor.send({ type: 'spawn.failed', detail: 'three' });
  t.is(m.state(), 'failed');
});

test('maxSpawnFailures 1: the first failure is final', (t) => {
  const m = atSpawn({ maxSpawnFailures: 1 });
  m.actor.send({ type: 'spawn.failed', detail: 'x' });
  t.is(m.state(), 'failed');
});

test('failed from any early state names its detail', (t) => {
  for (const steps of [0, 1, 2, 3, 4]) {
    const m = live();
    for (const e of UP.slice(0, steps)) m.actor.send(e);
    m.actor.send({ type: 'failed', detail: 'StoreError: disk full' });
    t.is(m.state(), 'failed', `after ${steps} steps`);
    t.is(m.reason(), 'StoreError: disk full');
  }
});

test('stop from every state ends in stopped (final), and nothing moves it after', (t) => {
  const sendAll = (m: ReturnType<typeof live>, events: BootstrapEvent[]) => {
    for (const e of events) m.actor.send(e);
  };
  const reach: Record<string, (m: ReturnType<typeof live>) => void> = {
    identity: () => {},
    store: (m) => sendAll(m, UP.slice(0, 1)),
    listen: (m) => sendAll(m, UP.slice(0, 2)),
    discover: (m) => sendAll(m, UP.slice(0, 3)),
    spawn: (m) => sendAll(m, UP),
    connect: (m) => sendAll(m, [...UP, status(3, 1, 0)]),
    ready: (m) => sendAll(m, [...UP, status(3, 1, 1)]),
    degraded: (m) => {
      sendAll(m, UP);
      m.clock.increment(1000);
    },
    failed: (m) => sendAll(m, [{ type: 'failed', detail: 'x' }]),
  };
  for (const [name, go] of Object.entries(reach)) {
    const m = live();
    go(m);
    t.is(m.state(), name);
    m.actor.send({ type: 'stop' });
    t.is(m.state(), 'stopped', `stop from ${name}`);
    t.is(m.actor.getSnapshot().status, 'done', `stopped is final (from ${name})`);
    m.actor.send(status(3, 0, 0));
    m.actor.send({ type: 'failed', detail: 'late' });
    m.clock.increment(10_000);
    t.is(m.state(), 'stopped');
  }
});

test('context starts from the input with nothing alive', (t) => {
  const m = live();
  const c = m.actor.getSnapshot().context;
  t.like(c, { ...INPUT, alive: 0, expected: 0, connected: 0, spawner: false, spawnFailures: 0, reason: undefined });
});
