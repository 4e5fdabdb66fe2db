/**
 * The saga under faults, one at each leg, through the in-memory wire's hooks:
 * a turn or its answer lost, a leg held past its timeout (simulated clocks:
 * no test waits on real time), either side crashing mid-Delta (its store
 * closed and reopened). After each: both durable spaces as they were (but
 * for a Committed lost after the responder committed), no temp rows, no
 * timers left, both sides' records say aborted and why, and a retry over a
 * healthy wire converges.
 */
import test, { type ExecutionContext } from 'ava';
import { runInitiator, type SagaOutcome } from '../../protocols/saga/initiator.js';
import type { SagaLimits } from '../../protocols/saga/limits.js';
import { LOCAL_MS, within } from '../helpers/bounded.js';
import { dump, entries, makeSide, type Side, type Wire, wire } from './saga-fixtures.js';

const SPACE = 'notes';
/** Simulated: the clocks move only when a test advances them. */
const LEG = 1000;
/** Small chunks, so a Delta takes several turns and "the middle one" exists. */
const LIMITS: Partial<SagaLimits> = { legTimeoutMs: LEG, chunkBytes: 320 };

/** The transport lost a turn or its answer. */
class WireLostError extends Error {
  override name = 'WireLostError';
}
const lost = (what: string) => {
  throw new WireLostError(`WireLostError: ${what} lost`);
};

interface Scene {
  readonly a: Side;
  readonly b: Side;
  readonly before: { a: ReturnType<typeof dump>; b: ReturnType<typeof dump> };
  /** The initiator (a, as it is now: a crash gives it a new party) syncing to b over `w`. */
  run(w: Wire): Promise<SagaOutcome>;
}

/** b holds part of what a holds and an older version of one key: a saga from a to b makes them equal. */
const scene = (t: ExecutionContext, limits: Partial<SagaLimits> = {}): Scene => {
  const a = makeSide(t, 'a', { ...LIMITS, ...limits }, { manualClock: true });
  const b = makeSide(t, 'b', { ...LIMITS, ...limits }, { manualClock: true });
  const shared = entries(20, { prefix: 'shared/' });
  b.store.putMany(SPACE, [...shared, { key: 'both', value: 'old', clock: 10, origin: 'b', deleted: false }]);
  a.store.putMany(SPACE, [...shared, ...entries(40, { prefix: 'a/' }), { key: 'both', value: 'new', clock: 20, origin: 'a', deleted: false }]);
  return {
    a,
    b,
    before: { a: dump(a.store, SPACE), b: dump(b.store, SPACE) },
    run: (w) => runInitiator(a.party, { vatId: b.id, key: b.key.publicKey }, SPACE, w),
  };
};

/** A promise a hook blocks on until the test releases it; `reached` resolves when the hook got there. */
const gate = (what: string) => {
  let release!: () => void;
  let arrive!: () => void;
  const opened = new Promise<void>((r) => {
    release = r;
  });
  const reached = within(
    new Promise<void>((r) => {
      arrive = r;
    }),
    LOCAL_MS,
    what,
  );
  return {
    reached,
    release,
    wait: () => {
      arrive();
      return opened;
    },
  };
};
const never = () => new Promise<never>(() => {});

/** No trace of the failed saga: spaces as before, nothing staged, no timer, nothing in flight. */
const clean = (t: ExecutionContext, s: Scene, w: Wire, opts: { committed?: boolean } = {}) => {
  t.deepEqual(dump(s.a.store, SPACE), s.before.a, "the initiator's space never changes");
  if (!opts.committed) t.deepEqual(dump(s.b.store, SPACE), s.before.b, "the responder's space is as before");
  t.is(s.a.store.tempRows(), 0);
  t.is(s.b.store.tempRows(), 0);
  t.is(s.a.clock?.pending(), 0, 'no initiator timer left');
  t.is(s.b.clock?.pending(), 0, 'no responder timer left');
  t.is(w.responder.active, 0);
  t.deepEqual(s.a.book.list(), []);
  t.deepEqual(s.b.book.list(), []);
};

/** The initiator's run failed with `name` (or one of `names`) and says so in its record. */
const initiatorFailed = async (t: ExecutionContext, s: Scene, run: Promise<SagaOutcome>, names: string | readonly string[]) => {
  const err = await t.throwsAsync(run);
  t.true([names].flat().includes(err?.name ?? ''), `${err?.name}: ${err?.message}`);
  t.like(s.a.store.sagas()[0], { role: 'initiator', state: 'aborted', errorName: err?.name });
  t.like(await s.a.endOf('initiator'), { state: 'aborted', errorName: err?.name });
};

/** The responder's saga ended aborted, for one of `names`. */
const responderAborted = async (t: ExecutionContext, s: Scene, names: readonly string[]) => {
  const end = await s.b.endOf('responder');
  t.is(end.state, 'aborted');
  t.true(names.includes(end.errorName!), `responder aborted with ${end.errorName}: ${end.error}`);
  t.like(s.b.store.sagas()[0], { role: 'responder', state: 'aborted', errorName: end.errorName });
};

/** A new saga over a healthy wire brings b to a's entries. */
const retryConverges = async (t: ExecutionContext, s: Scene) => {
  const out = await s.run(wire(s.a, s.b));
  t.is(out.state, 'committed');
  t.is(s.b.store.root(SPACE), s.a.store.root(SPACE));
  t.deepEqual(dump(s.b.store, SPACE), dump(s.a.store, SPACE));
  t.is(s.a.store.tempRows() + s.b.store.tempRows(), 0);
};

test('the scene: a healthy saga takes several Delta turns and converges', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  const out = await s.run(w);
  t.true(out.chunks >= 5, `${out.chunks} chunks`);
  t.is(out.entries, 41);
  t.is(s.b.store.root(SPACE), s.a.store.root(SPACE));
  t.is(s.a.clock?.pending(), 0);
  t.is(s.b.clock?.pending(), 0);
});

test('the Init lost: the initiator aborts, the responder never began; a retry converges', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  w.onTurn = (leg, _n, bytes) => (leg === 'init' ? lost('the Init') : bytes);
  await initiatorFailed(t, s, s.run(w), 'WireLostError');
  t.deepEqual(s.b.store.sagas(), []);
  clean(t, s, w);
  await retryConverges(t, s);
});

test("the Ack lost: the initiator aborts, and its abort turn ends the responder's saga", async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  w.onAnswer = (leg) => (leg === 'init' ? lost('the Ack') : undefined);
  await initiatorFailed(t, s, s.run(w), 'WireLostError');
  await responderAborted(t, s, ['SagaAbortedError']);
  clean(t, s, w);
  await retryConverges(t, s);
});

for (const [which, n] of [
  ['first', 0],
  ['middle', 3],
] as const) {
  test(`the ${which} Delta turn lost on its way: both sides abort, nothing staged is left`, async (t) => {
    const s = scene(t);
    const w = wire(s.a, s.b);
    w.onTurn = (leg, i, bytes) => (leg === 'delta' && i === n ? lost(`Delta ${i}`) : bytes);
    await initiatorFailed(t, s, s.run(w), 'WireLostError');
    // The next Delta in the window may reach the responder first (a gap in the chain), or the abort turn does.
    await responderAborted(t, s, ['SagaOrderError', 'SagaAbortedError']);
    clean(t, s, w);
    await retryConverges(t, s);
  });

  test(`the answer to the ${which} Delta turn lost: both sides abort, what the responder staged is discarded`, async (t) => {
    const s = scene(t);
    const w = wire(s.a, s.b);
    let staged = 0;
    w.onAnswer = (leg, i) => {
      if (leg !== 'delta' || i !== n) return;
      staged = s.b.store.tempRows();
      lost(`the answer to Delta ${i}`);
    };
    await initiatorFailed(t, s, s.run(w), 'WireLostError');
    t.true(staged > 0, 'the responder had staged entries when the answer was lost');
    await responderAborted(t, s, ['SagaAbortedError']);
    clean(t, s, w);
    await retryConverges(t, s);
  });
}

test('the Commit lost before the responder got it: both abort, nothing committed', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  w.onTurn = (leg, _n, bytes) => (leg === 'commit' ? lost('the Commit') : bytes);
  await initiatorFailed(t, s, s.run(w), 'WireLostError');
  await responderAborted(t, s, ['SagaAbortedError']);
  clean(t, s, w);
  await retryConverges(t, s);
});

test('the Committed answer lost after the responder committed: its space has the entries, the initiator reports failure, a retry ends after the Ack', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  w.onAnswer = (leg) => (leg === 'commit' ? lost('the Committed answer') : undefined);
  await initiatorFailed(t, s, s.run(w), 'WireLostError');
  t.like(await s.b.endOf('responder'), { state: 'committed' });
  t.like(s.b.store.sagas()[0], { role: 'responder', state: 'committed', applied: 41 });
  t.is(s.b.store.root(SPACE), s.a.store.root(SPACE), 'the responder committed: that is correct');
  clean(t, s, w, { committed: true });
  const again = await s.run(wire(s.a, s.b));
  t.is(again.state, 'synced');
  t.is(again.entries, 0);
  t.like(s.b.store.sagas()[0], { state: 'synced' });
});

test('the Init held past the leg timeout: the initiator aborts with SagaTimeoutError; delivered late, it starts a saga the responder ends on its own timeout', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  const held = gate('the Init to be held');
  let acked!: () => void;
  const ack = within(new Promise<void>((r) => (acked = r)), LOCAL_MS, 'the late Init answered');
  w.onTurn = async (leg, _n, bytes) => {
    if (leg === 'init') await held.wait();
    return bytes;
  };
  w.onAnswer = (leg) => (leg === 'init' ? acked() : undefined);
  const run = s.run(w);
  await held.reached;
  s.a.clock!.advance(LEG - 1);
  t.like(s.a.store.sagas()[0], { state: 'open' }, 'not before its time');
  s.a.clock!.advance(1);
  await initiatorFailed(t, s, run, 'SagaTimeoutError');
  held.release();
  await ack;
  t.is(w.responder.active, 1, 'the late Init began a saga');
  t.true(s.b.clock!.pending() > 0);
  s.b.clock!.advance(LEG);
  await responderAborted(t, s, ['SagaTimeoutError']);
  clean(t, s, w);
  await retryConverges(t, s);
});

test("a Delta's answer held past the leg timeout: the initiator aborts with SagaTimeoutError, its abort turn ends the responder's saga", async (t) => {
  // One turn in flight: while the answer is held, nothing else moves.
  const s = scene(t, { window: 1 });
  const w = wire(s.a, s.b);
  const held = gate("Delta 2's answer to be held");
  w.onAnswer = async (leg, n) => {
    if (leg === 'delta' && n === 2) await held.wait();
  };
  const run = s.run(w);
  await held.reached;
  s.a.clock!.advance(LEG - 1);
  t.like(s.a.store.sagas()[0], { state: 'open' }, 'not before its time');
  s.a.clock!.advance(1);
  await initiatorFailed(t, s, run, 'SagaTimeoutError');
  await responderAborted(t, s, ['SagaAbortedError']);
  held.release();
  clean(t, s, w);
  await retryConverges(t, s);
});

test('the Commit held past the leg timeout: both abort; delivered late, it commits nothing (SagaReplayError)', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  const held = gate('the Commit to be held');
  let commit: Uint8Array | undefined;
  w.onTurn = (leg, _n, bytes) => {
    if (leg !== 'commit') return bytes;
    commit = bytes;
    held.wait();
    return never();
  };
  const run = s.run(w);
  await held.reached;
  s.a.clock!.advance(LEG);
  await initiatorFailed(t, s, run, 'SagaTimeoutError');
  await responderAborted(t, s, ['SagaAbortedError']);
  // The held Commit reaches the responder after all: the saga is over there.
  w.onTurn = undefined;
  await t.throwsAsync(w.commit(commit!), { name: 'SagaReplayError' });
  clean(t, s, w);
  await retryConverges(t, s);
});

test('the Committed answer held past the leg timeout: the responder committed, the initiator reports SagaTimeoutError', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  const held = gate('the Committed answer to be held');
  w.onAnswer = async (leg) => {
    if (leg === 'commit') await held.wait();
  };
  const run = s.run(w);
  await held.reached;
  t.like(s.b.store.sagas()[0], { state: 'committed' });
  s.a.clock!.advance(LEG);
  await initiatorFailed(t, s, run, 'SagaTimeoutError');
  held.release();
  clean(t, s, w, { committed: true });
  t.is(s.b.store.root(SPACE), s.a.store.root(SPACE));
  t.is((await s.run(wire(s.a, s.b))).state, 'synced');
});

test('the responder crashes mid-Delta: reopened, its store marks the saga aborted and drops the temp rows; the initiator aborts; a retry converges', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  let staged = 0;
  w.onAnswer = (leg, n) => {
    if (leg !== 'delta' || n !== 1) return;
    staged = s.b.store.tempRows();
    w.restartResponder();
    lost('the answer (the responder died)');
  };
  await initiatorFailed(t, s, s.run(w), 'WireLostError');
  t.true(staged > 0, 'the responder had staged entries when it died');
  t.true(s.b.store.recovered >= 1, `recovered ${s.b.store.recovered}`);
  t.like(s.b.store.sagas()[0], { role: 'responder', state: 'aborted', errorName: 'SagaAbortedError' });
  t.regex(s.b.store.sagas()[0]?.outcome ?? '', /crashed/);
  clean(t, s, w);
  await retryConverges(t, s);
});

test('the initiator vanishes mid-Delta (its process dies): the responder aborts on its own leg timeout, its temp rows go; the initiator reopened finds its saga aborted', async (t) => {
  const s = scene(t, { window: 1 });
  const w = wire(s.a, s.b);
  const gone = gate('Delta 2 to be sent');
  let staged = 0;
  w.onTurn = (leg, n, bytes) => {
    if (leg !== 'delta' || n < 2) return bytes;
    if (n === 2) {
      staged = s.b.store.tempRows();
      // The process dies here: its store is closed and opened again, nothing it sends arrives.
      s.a.reopen();
      gone.wait();
    }
    return never();
  };
  const zombie = s.run(w);
  zombie.catch(() => {});
  await gone.reached;
  t.true(staged > 0);
  t.true(s.a.store.recovered >= 1, `recovered ${s.a.store.recovered}`);
  t.like(s.a.store.sagas()[0], { role: 'initiator', state: 'aborted', errorName: 'SagaAbortedError' });
  t.is(s.a.store.tempRows(), 0);
  t.is(w.responder.active, 1);
  s.b.clock!.advance(LEG - 1);
  t.is(s.b.store.tempRows(), staged, 'not before its time');
  s.b.clock!.advance(1);
  await responderAborted(t, s, ['SagaTimeoutError']);
  t.is(s.a.clock?.pending(), 0, "the reopened initiator's clock is fresh");
  clean(t, s, w);
  await retryConverges(t, s);
});

test('the responder host stops mid-Delta (responder.close): the saga aborts on both sides', async (t) => {
  const s = scene(t);
  const w = wire(s.a, s.b);
  w.onAnswer = (leg, n) => (leg === 'delta' && n === 1 ? w.responder.close('the host stops') : undefined);
  // The initiator learns it from its next turn: refused as a turn of a saga that is over.
  await initiatorFailed(t, s, s.run(w), ['SagaReplayError', 'SagaAbortedError']);
  await responderAborted(t, s, ['SagaAbortedError']);
  clean(t, s, w);
  await retryConverges(t, s);
});
