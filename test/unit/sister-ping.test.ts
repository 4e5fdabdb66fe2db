/**
 * The Sister's pings (vats/sister/sister.ts) against scripted powers: a sister
 * whose session ended (its presence rejects every call for good) is reached
 * afresh through `connect`, so the tribe heals once that sister can be reached
 * again; one that only does not answer in time keeps its reference; a name
 * lookup that times out finds nothing; stopping the tribe names every sister it
 * stopped, even one a round forgot while it stopped.
 */
import '@endo/init';
import { Far } from '@endo/far';
import test from 'ava';
import { make, PING_TIMEOUT_MS } from '../../vats/sister/sister.js';
import type { SisterPowers, SisterView, TribeSisterStatus } from '../../vats/sister/sister-powers.js';
import { LOCAL_MS, until } from '../helpers/bounded.js';

const view = (vatId: string, machine: string, slot = 0): SisterView =>
  harden({ vatId, slot, machine, address: '10.0.0.1:1', bridgeRef: '', pid: 1, startedAt: 1, coreSize: 1, key: '' });

/** A timer whose delays end at once (so rounds run back to back) and whose clock moves `step` ms per delay. */
const fastTimer = (step: number) => {
  let now = 1_000_000;
  return { now: () => now, delay: async (ms: number) => { now += Math.min(ms, step); await new Promise((r) => setImmediate(r)); return now; } };
};

/** A host's powers for its Sister that do nothing, with `overrides` (self, sisters, connect, report, …) in their place. */
const fakePowers = (overrides: Record<string, (...args: any[]) => unknown>): SisterPowers =>
  Far('powers', {
    spawn: async () => 'up' as const,
    quiesce: () => {},
    restarted: () => {},
    widen: () => 0,
    load: () => 0,
    spawnVat: async () => undefined,
    awaitGone: async () => {},
    admit: () => harden({ secret: [], sisters: [] }),
    stopHost: () => {},
    syncRoots: () => harden({}),
    push: async () => harden({ state: 'synced', entries: 0, applied: 0, root: '' }),
    ...overrides,
  }) as unknown as SisterPowers;

/** A sister on another machine, behind `connect`: each connect answers the next presence of `presences`. */
const scripted = (presences: (() => unknown)[]) => {
  const self = view('self', 'm1');
  const other = view('other', 'm2');
  let connects = 0;
  let phase = 'ready';
  const powers = fakePowers({
    self: () => self,
    sisters: () => harden({ local: [self], heard: [other], occupied: [] }),
    connect: async () => {
      const next = presences[Math.min(connects, presences.length - 1)]!;
      connects += 1;
      return next();
    },
    report: () => phase,
  });
  /** Ends the Sister's loop: it returns once quiesced and its host's machine is stopped. */
  const end = (sister: ReturnType<typeof make>) => {
    phase = 'stopped';
    sister.quiesce();
  };
  return { powers, other, connects: () => connects, end };
};

const answering = (other: SisterView) => Far('Sister', { ping: () => harden({ self: other, known: [other], vats: 0, phase: 'ready' }) });
/** A presence of an ended session: every call rejects, as CapTP's do. */
const ended = () => Far('Sister', { ping: () => Promise.reject(new Error('SessionLostError: session ended')) });

const stateOf = (sister: ReturnType<typeof make>) => (sister.status() as TribeSisterStatus).sisters[0]?.state;

test('a sister whose session ended is connected afresh, and becomes connected again', async (t) => {
  const s = scripted([() => ended(), () => ended(), () => answering(view('other', 'm2'))]);
  const sister = make({ timer: fastTimer(100), log: () => {} });
  t.teardown(() => s.end(sister));
  await sister.start(s.powers);
  await until(() => stateOf(sister) === 'connected', LOCAL_MS, 'the sister connected', () => `state ${stateOf(sister)}, ${s.connects()} connects`);
  t.is(s.connects(), 3, 'a connect after each rejected ping');
});

test('a sister that does not answer in time keeps its reference (its session may resume)', async (t) => {
  const silent = () => Far('Sister', { ping: () => new Promise(() => {}) });
  const s = scripted([silent]);
  const sister = make({ timer: fastTimer(PING_TIMEOUT_MS), log: () => {} });
  t.teardown(() => s.end(sister));
  await sister.start(s.powers);
  await until(() => stateOf(sister) === 'unreachable', LOCAL_MS, 'the sister unreachable', () => `state ${stateOf(sister)}`);
  t.is(s.connects(), 1, 'no second connect for a ping that only timed out');
});

test('a name no sister answers for in time is not found (a timeout is no sturdy ref)', async (t) => {
  const other = view('other', 'm2');
  const mute = () => Far('Sister', { ping: () => harden({ self: other, known: [other], vats: 0, phase: 'ready' }), nameRef: () => new Promise(() => {}) });
  const s = scripted([mute]);
  const sister = make({ timer: fastTimer(PING_TIMEOUT_MS), log: () => {} });
  t.teardown(() => s.end(sister));
  await sister.start(s.powers);
  await until(() => stateOf(sister) === 'connected', LOCAL_MS, 'the sister connected', () => `state ${stateOf(sister)}`);
  t.is(await sister.resolve('counter'), undefined);
});

test('stopping the tribe names every sister it stopped, even one a round forgot meanwhile (its record left the registry)', async (t) => {
  const self = view('self', 'm1', 0);
  const sib = view('sib', 'm1', 1);
  let sibAlive = true;
  let sightingsAfterStop = 0;
  let roundSawItGone: () => void = () => {};
  const forgotten = new Promise<void>((r) => (roundSawItGone = r));
  const gone: string[][] = [];
  let phase = 'ready';
  const powers = fakePowers({
    self: () => self,
    sisters: () => {
      if (!sibAlive && ++sightingsAfterStop >= 2) roundSawItGone();
      return harden({ local: sibAlive ? [self, sib] : [self], heard: [], occupied: [0, 1] });
    },
    connect: async () =>
      Far('Sister', {
        ping: () => harden({ self: sib, known: [sib], vats: 0, phase: 'ready' }),
        quiesce: () => true,
        // The sister's process ends at once and its record leaves the registry; it answers once a round has seen that.
        stop: async () => {
          sibAlive = false;
          await forgotten;
          return true;
        },
      }),
    report: () => phase,
    awaitGone: async (views: readonly SisterView[]) => void gone.push(views.map((v) => v.vatId)),
  });
  const sister = make({ timer: fastTimer(100), log: () => {} });
  // The loop of a quiet Sister ends once its host reports stopped.
  t.teardown(() => {
    phase = 'stopped';
  });
  await sister.start(powers);
  await until(() => stateOf(sister) === 'connected', LOCAL_MS, 'the sibling connected', () => `state ${stateOf(sister)}`);
  t.deepEqual(await sister.stopTribe(), ['sib'], 'the sibling it stopped is named');
  t.deepEqual(gone, [['sib']], 'and awaited');
  t.is(stateOf(sister), undefined, 'a round did forget it meanwhile (the race this test is about)');
});
