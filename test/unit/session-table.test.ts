/**
 * The session table (protocols/session/session-table.ts) over an in-memory
 * network with a simulated clock per host: crossed connections, adoption
 * races and stopping, each under many seeded schedules that replay exactly.
 */
import test, { type ExecutionContext } from 'ava';
import { encodeFrame, Tag } from '../../protocols/framing/frames.js';
import type { MemoryStream } from '../../protocols/framing/memory-stream.js';
import { DEFAULT_SESSION_LIMITS, sessionLimits } from '../../protocols/session/session-limits.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { makeIdentity } from './session-fixtures.js';
import { makeMemoryNet, type MemoryNet, outcome, startTestHost, type TestHost } from './session-network.js';

const SEEDS = 200;
const crypto = nodeCrypto;

/** Two identities, the smaller VatId first (its connection wins a crossing); fixed by `seed`, so a failing seed replays. */
const twoIds = (seed = 0) =>
  [makeIdentity(crypto, 1 + ((2 * seed) % 250)), makeIdentity(crypto, 1 + ((2 * seed + 1) % 250))].sort((x, y) => (x.vatId < y.vatId ? -1 : 1)) as [
    ReturnType<typeof makeIdentity>,
    ReturnType<typeof makeIdentity>,
  ];

/** Varied schedules: dials that take 0–4 extra steps, writes split into random chunks on some pairs. */
const variedNet = (seed: number) => {
  const net: MemoryNet = makeMemoryNet({
    seed,
    dialSteps: () => Math.floor(net.random() * 5),
    prepare: (_from, _to, mine, theirs) => {
      if (net.random() < 0.3) mine.link.splitWrites(1 + Math.floor(net.random() * 200));
      if (net.random() < 0.3) theirs.link.splitWrites(1 + Math.floor(net.random() * 200));
    },
  });
  return net;
};

/** Nothing of `h` is left: no session, dial, wait, handshake, timer or open stream. */
const assertEmpty = (t: ExecutionContext, net: MemoryNet, h: TestHost, label: string) => {
  const st = h.table.stats();
  t.deepEqual(
    { sessions: st.sessions, dialing: st.dialing, waiting: st.waiting, inFlight: st.inFlight, handshakes: st.handshakesInFlight },
    { sessions: 0, dialing: 0, waiting: 0, inFlight: 0, handshakes: 0 },
    `${label}: the table of ${h.name} is empty`,
  );
  t.deepEqual(h.table.list(), [], `${label}: ${h.name} lists no session`);
  t.is(h.clock.pending, 0, `${label}: ${h.name} has no timer left`);
  const open = net.streamsOf(h.name).filter((s: MemoryStream) => !s.isClosed);
  t.is(open.length, 0, `${label}: every stream of ${h.name} is closed`);
};

test(`crossed connections (${SEEDS} schedules): both sides keep one identical session, and both dials resolve to it without waiting`, async (t) => {
  const survivors = { smaller: 0, larger: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const net = variedNet(seed);
    const [idW, idL] = twoIds(seed);
    const [w, l] = await Promise.all([startTestHost(net, 'w', crypto, idW), startTestHost(net, 'l', crypto, idL)]);
    const fromW = outcome(w.table.connect(idL.vatId, 'l'));
    const fromL = outcome(l.table.connect(idW.vatId, 'w'));
    await net.settle();
    const label = `seed ${seed}`;
    // No simulated time passed, so no crossed-connection wait ran out: both were prompt.
    t.true(fromW.settled && fromL.settled, `${label}: both connects settled without the clock moving`);
    t.is(fromW.error, undefined, `${label}: ${fromW.error?.message}`);
    t.is(fromL.error, undefined, `${label}: ${fromL.error?.message}`);
    const [sw, sl] = [w.table.list(), l.table.list()];
    t.is(sw.length, 1, `${label}: one session at w`);
    t.is(sl.length, 1, `${label}: one session at l`);
    const id = sw[0]?.path.sessionId;
    t.is(sl[0]?.path.sessionId, id, `${label}: the same session on both sides`);
    t.is(fromW.value?.path.sessionId, id, `${label}: w's dial resolved to the surviving session`);
    t.is(fromL.value?.path.sessionId, id, `${label}: l's dial resolved to the surviving session`);
    survivors[sw[0]?.path.role === 'initiator' ? 'smaller' : 'larger'] += 1;
    await Promise.all([w.table.close(), l.table.close()]);
    await net.settle();
    assertEmpty(t, net, w, label);
    assertEmpty(t, net, l, label);
  }
  t.deepEqual(survivors, { smaller: SEEDS, larger: 0 }, 'the connection the smaller VatId initiated survives, always');
});

test(`stop races (${SEEDS} schedules): a host stopped at any point of dials, handshakes and adoptions leaves nothing open, and adopts nothing after`, async (t) => {
  const stoppedAt = new Set<string>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const net = variedNet(seed);
    const [idA, idB] = net.random() < 0.5 ? twoIds(seed) : twoIds(seed).reverse();
    // Now and then a stops in the middle of adopting a session (inside `attach`), not between steps.
    const inAdoption = net.random() < 0.25;
    let stopping: Promise<void> | undefined;
    const stopA = () => {
      stopping ??= a.table.close();
    };
    const a = await startTestHost(net, 'a', crypto, idA!, undefined, () => inAdoption && stopA());
    const b = await startTestHost(net, 'b', crypto, idB!);
    const crossed = net.random() < 0.5;
    const fromA = outcome(a.table.connect(idB!.vatId, 'b'));
    const fromB = crossed ? outcome(b.table.connect(idA!.vatId, 'a')) : undefined;
    const stopAt = Math.floor(net.random() * 30);
    let steps = 0;
    while (steps < stopAt && !stopping && (await net.step())) {
      steps += 1;
      // Time moves too, now and then: timers are armed and cancelled mid-handshake.
      if (net.random() < 0.1) for (const h of [a, b]) h.clock.advance(Math.floor(net.random() * 2000));
    }
    const when = stopping ? 'while adopting' : `after ${steps} steps`;
    stoppedAt.add(`${crossed ? 'crossed' : 'one way'} ${when}`);
    const label = `seed ${seed} (${crossed ? 'crossed' : 'one way'}, a stopped ${when})`;
    stopA();
    // Whatever was in flight rejects at once, not when the network next moves.
    await new Promise<void>((r) => setImmediate(r));
    t.true(fromA.settled, `${label}: a's connect settled at once`);
    if (fromA.error) t.is(fromA.error.name, 'HostStoppingError', `${label}: ${fromA.error.message}`);
    assertEmpty(t, net, a, `${label}, at once`);
    await stopping;
    await net.settle();
    assertEmpty(t, net, a, label);
    t.is(b.table.stats().sessions, 0, `${label}: b holds no session with the stopped host`);
    if (fromB && !fromB.settled) {
      // b lost the tie and waits for a's connection, which the stop cut before it reached b: bounded by crossedWaitMs.
      t.is(b.table.stats().waiting, 1, `${label}: b waits for the connection a was making`);
      b.clock.advance(15_000);
      await net.settle();
    }
    if (fromB) t.true(fromB.settled, `${label}: b's connect settled`);
    await b.table.close();
    await net.settle();
    assertEmpty(t, net, b, `${label}, then b stopped`);
  }
  t.true(stoppedAt.size > 20, `stops fell at many different points (${stoppedAt.size})`);
  t.true(stoppedAt.has('crossed while adopting') && stoppedAt.has('one way while adopting'), 'some fell inside an adoption');
});

test('a dial that lost the crossed-connection tie decides again as soon as the winning session dies during adoption', async (t) => {
  const [idW, idL] = twoIds();
  // The winner's Signature and what follows it reach the loser in one chunk, with a
  // forged Encrypted frame behind them: the loser's path ends while it is being adopted.
  let held: MemoryStream | undefined;
  const net = makeMemoryNet({
    prepare: (from, _to, mine) => {
      if (from !== 'w') return;
      held = mine;
      mine.link.tap((bytes) => {
        if (((bytes[0] as number) & 0x1f) === Tag.Signature) mine.link.hold();
      });
    },
  });
  const w = await startTestHost(net, 'w', crypto, idW);
  const l = await startTestHost(net, 'l', crypto, idL);
  const fromW = outcome(w.table.connect(idL.vatId, 'l'));
  const fromL = outcome(l.table.connect(idW.vatId, 'w'));
  await net.settle();
  t.true(fromW.settled, "the winner's own dial is established (it sent its Signature)");
  t.false(fromL.settled, "the loser waits for the winner's session");
  const chunks = held!.link.takeHeld();
  t.true(chunks.length > 0, 'the Signature was held');
  held!.link.release();
  const all = [...chunks, encodeFrame(Tag.Encrypted, new Uint8Array(40).fill(7))];
  const joined = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of all) {
    joined.set(c, at);
    at += c.length;
  }
  held!.link.inject(joined);
  await net.settle();
  // No simulated time passed: the loser did not sit out crossedWaitMs.
  t.true(fromL.settled, "the loser's connect settled without waiting out the crossed-connection wait");
  t.is(fromL.error, undefined, fromL.error?.message);
  const [sw, sl] = [w.table.list(), l.table.list()];
  t.is(sw.length, 1);
  t.is(sl.length, 1);
  t.is(sw[0]!.path.sessionId, fromL.value!.path.sessionId);
  t.is(sl[0]!.path.sessionId, fromL.value!.path.sessionId);
  await Promise.all([w.table.close(), l.table.close()]);
  await net.settle();
  assertEmpty(t, net, w, 'winner');
  assertEmpty(t, net, l, 'loser');
});

test('stop rejects a dial waiting for a crossed connection at once, with HostStoppingError, and clears its timer', async (t) => {
  const [idW, idL] = twoIds();
  // The winner's dial never arrives: its first write is held in the network.
  const net = makeMemoryNet({ prepare: (from, _to, mine) => from === 'w' && mine.link.hold() });
  const w = await startTestHost(net, 'w', crypto, idW);
  const l = await startTestHost(net, 'l', crypto, idL);
  outcome(w.table.connect(idL.vatId, 'l'));
  const fromL = outcome(l.table.connect(idW.vatId, 'w'));
  await net.settle();
  t.is(l.table.stats().waiting, 1, 'the loser waits for the winner');
  await l.table.close();
  await new Promise<void>((r) => setImmediate(r));
  t.is(fromL.error?.name, 'HostStoppingError');
  // At once: the inbound handshake it had accepted is aborted too, its timer with it.
  assertEmpty(t, net, l, 'loser stopped');
  await w.table.close();
  await net.settle();
  assertEmpty(t, net, w, 'winner stopped');
});

test('a dial whose crossing winner never arrives gives up after crossedWaitMs (SessionLimits), with the refusal it got', async (t) => {
  const [idW, idL] = twoIds();
  const net = makeMemoryNet({ prepare: (from, _to, mine) => from === 'w' && mine.link.hold() });
  const w = await startTestHost(net, 'w', crypto, idW);
  const l = await startTestHost(net, 'l', crypto, idL, { crossedWaitMs: 500 });
  outcome(w.table.connect(idL.vatId, 'l'));
  const fromL = outcome(l.table.connect(idW.vatId, 'w'));
  await net.settle();
  l.clock.advance(499);
  await net.settle();
  t.false(fromL.settled, 'still waiting 1 ms before the bound');
  l.clock.advance(1);
  await net.settle();
  t.is(fromL.error?.name, 'DuplicateConnectionError');
  t.is(l.table.stats().waiting, 0);
  await Promise.all([w.table.close(), l.table.close()]);
  await net.settle();
  assertEmpty(t, net, l, 'loser');
});

test('SessionLimits: defaults as documented; a bad value, or a path limit passed as a session limit, is a RangeError naming it', (t) => {
  t.deepEqual(
    { ...DEFAULT_SESSION_LIMITS },
    { cookieDemandThreshold: 32, crossedWaitMs: 15_000, maxHostTickets: 10_000, maxVatTickets: 10_000, maxChannelsPerSession: 4096, maxRefHops: 4 },
  );
  t.is(sessionLimits({ crossedWaitMs: 5 }).crossedWaitMs, 5);
  t.throws(() => sessionLimits({ maxRefHops: 0 }), { instanceOf: RangeError, message: /sessionLimits\.maxRefHops must be a positive integer/ });
  t.throws(() => sessionLimits({ idleMs: 5 } as never), { instanceOf: RangeError, message: /sessionLimits\.idleMs is not a session limit.*pathLimits/ });
});
