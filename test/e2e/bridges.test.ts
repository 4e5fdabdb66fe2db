/**
 * Paths through bridges (docs/protocol.md section 15), hosts in this process
 * over real TCP on loopback: selection in the handshake, a path through each
 * selected bridge joined to the session, repair through another bridge, and
 * bridges that alter, drop or replay bytes, which the ends detect and route
 * around without ever accepting a bad frame.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import { E } from '@endo/far';
import { IO_MS, until, within } from '../helpers/bounded.js';
import { fixture, withHost } from '../helpers/host.js';
import type { Host, HostOptions } from '../../runtime/index.js';
import type { RelayFault } from '../../protocols/bridge/bridge-service.js';

const quiet: HostOptions = { spareWorkers: 0, viz: false };

const bridgeHosts = async (t: ExecutionContext, n: number, extra: HostOptions = {}) => {
  const hosts: Host[] = [];
  for (let i = 0; i < n; i++) hosts.push(await withHost(t, { ...quiet, bridge: true, ...extra }));
  return hosts;
};
const refOf = (b: Host) => {
  const ref = b.ps().bridgeRef;
  if (!ref) throw new Error('no bridge ref');
  return ref;
};

/** A service host with a party vat 'bob', and a client that dials it through a sturdy ref. */
const serviceAndClient = async (t: ExecutionContext, client: HostOptions, service: HostOptions = {}) => {
  const c = await withHost(t, { ...quiet, ...service });
  await c.spawnVat({ module: fixture('party.ts'), name: 'bob', params: { label: 'bob' } });
  const a = await withHost(t, { ...quiet, ...client });
  const bob = await a.enliven(c.makeSturdyRef('bob'));
  return { a, c, bob };
};

const sessionOf = (h: Host, peer: string) => h.ps().sessions.find((s) => s.peer === peer);
const viaPaths = (h: Host, peer: string) => (sessionOf(h, peer)?.paths ?? []).filter((p) => p.address.startsWith('via '));

/**
 * Until the session has `n` good paths through bridges and its direct one (good
 * at first; later any grade: one slow heartbeat on a loaded machine keeps a path
 * 'degraded' for seconds while its smoothed RTT decays).
 */
const bridged = (h: Host, peer: string, n: number, what: string, directGood = true) =>
  until(
    () => {
      const s = sessionOf(h, peer);
      const via = viaPaths(h, peer).filter((p) => p.grade === 'good');
      return !!s && via.length >= n && s.paths.some((p) => !p.address.startsWith('via ') && (!directGood || p.grade === 'good'));
    },
    IO_MS,
    what,
    () => JSON.stringify(sessionOf(h, peer)),
  );

test('the dialler suggests three bridges, the peer selects them, and the session runs a path through each beside the direct one', async (t) => {
  const bs = await bridgeHosts(t, 3);
  const { a, c, bob } = await serviceAndClient(t, { bridges: bs.map(refOf) });
  t.is(await E(bob).label(), 'bob');
  await bridged(a, c.id, 3, 'three bridged paths on the dialling side');
  await bridged(c, a.id, 3, 'three bridged paths on the accepting side');
  const s = sessionOf(a, c.id)!;
  t.is(s.paths.length, 4, JSON.stringify(s.paths));
  // The session is named by its direct path, and only direct addresses go out as hints for gifts.
  t.false(s.address.startsWith('via '), s.address);
  t.deepEqual(a.remote!.hintsFor(c.id).filter((h) => h.startsWith('via ')), []);
  t.deepEqual(
    [...(s.bridges ?? [])].map((b) => b.bridge).sort(),
    bs.map((b) => b.id.slice(0, 8)).sort(),
    'one slot per bridge',
  );
  t.true((s.bridges ?? []).every((b) => b.live && b.made === 1 && b.failures === 0));
  // The service knew no bridges: it selected the suggested ones, and learned them.
  t.deepEqual([...(c.ps().bridges?.known ?? [])].sort(), bs.map(refOf).sort());
  // Every call arrives once, over whatever paths carry it.
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => E(bob).echo(i)));
  t.deepEqual(answers, Array.from({ length: 200 }, (_, i) => i));
  // Each bridge relays one route for each end, and sees only relayed bytes.
  for (const b of bs) {
    const st = b.ps().bridges!.service!;
    t.is(st.routes, 2, `bridge ${b.id.slice(0, 8)}: ${JSON.stringify(st)}`);
    t.true(st.relayedFrames > 0);
    t.is(sessionOf(b, a.id)?.state !== undefined, true, 'the bridge has a hop session with each end');
  }
});

test('the accepting host selects its own bridges when the dialler knows none', async (t) => {
  const bs = await bridgeHosts(t, 2);
  const { a, c, bob } = await serviceAndClient(t, {}, { bridges: bs.map(refOf) });
  t.is(await E(bob).label(), 'bob');
  // Two bridges: the direct path fills in as the third.
  await bridged(a, c.id, 2, 'two bridged paths');
  t.is(sessionOf(a, c.id)!.paths.length, 3);
});

test('a bridge that stops: its path is made again through another known bridge, and no call is lost', async (t) => {
  const setup = Date.now();
  const bs = await bridgeHosts(t, 4);
  const { a, c, bob } = await serviceAndClient(t, { bridges: bs.map(refOf) });
  await E(bob).label();
  await bridged(a, c.id, 3, 'three bridged paths');
  t.log(`set up in ${Date.now() - setup} ms`);
  const used = new Set((sessionOf(a, c.id)!.bridges ?? []).map((b) => b.bridge));
  const spare = bs.find((b) => !used.has(b.id.slice(0, 8)))!;
  const victim = bs.find((b) => used.has(b.id.slice(0, 8)))!;
  let done = 0;
  const calls = Promise.all(
    Array.from({ length: 10 }, async (_, lane) => {
      for (let i = 0; i < 50; i++) {
        t.is(await E(bob).echo(lane * 1000 + i), lane * 1000 + i);
        done += 1;
      }
    }),
  );
  const t0 = Date.now();
  await victim.stop();
  t.log(`stopped in ${Date.now() - t0} ms`);
  await until(
    () => (sessionOf(a, c.id)!.bridges ?? []).some((b) => b.bridge === spare.id.slice(0, 8) && b.live),
    IO_MS,
    'the path through the stopped bridge to be made through the spare one',
    () => JSON.stringify(sessionOf(a, c.id)?.bridges),
  );
  t.log(`replaced at ${Date.now() - t0} ms`);
  await within(calls, IO_MS, 'every call to settle');
  t.log(`calls settled at ${Date.now() - t0} ms`);
  t.is(done, 500);
  t.false((sessionOf(a, c.id)!.bridges ?? []).some((b) => b.bridge === victim.id.slice(0, 8)), 'the stopped bridge is no longer used');
  await bridged(a, c.id, 3, 'three bridged paths again', false);
  t.log(`three bridged paths again at ${Date.now() - t0} ms`);
  t.is(a.ps().sessions.filter((s) => s.peer === c.id).length, 1, 'the same session throughout');
});

test('a host that is not a bridge refuses by name; the session goes on over the others', async (t) => {
  const bs = await bridgeHosts(t, 1);
  const plain = await withHost(t, quiet);
  const plainRef = `tribe://${plain.id}@127.0.0.1:${plain.address!.port}`;
  const { a, c, bob } = await serviceAndClient(t, { bridges: [plainRef, refOf(bs[0]!)] });
  t.is(await E(bob).label(), 'bob');
  await bridged(a, c.id, 1, 'the path through the real bridge');
  await until(
    () => (sessionOf(a, c.id)!.bridges ?? []).some((b) => b.bridge === plain.id.slice(0, 8) && /NotABridgeError/.test(b.lastError ?? '')),
    IO_MS,
    'the plain host to refuse with NotABridgeError',
    () => JSON.stringify(sessionOf(a, c.id)?.bridges),
  );
});

/** Faults of a hostile bridge, each applied to some of the chunks it relays (after the path's handshake). */
const FAULTS: Record<string, (every: number) => RelayFault> = {
  tampers: (every) => {
    let n = 0;
    return (bytes) => {
      n += 1;
      if (n % every !== 0 || bytes.length < 8) return [bytes];
      const bad = new Uint8Array(bytes);
      bad[bad.length - 1]! ^= 0x40;
      return [bad];
    };
  },
  drops: (every) => {
    let n = 0;
    return (bytes) => {
      n += 1;
      return n % every === 0 ? [] : [bytes];
    };
  },
  replays: (every) => {
    let n = 0;
    return (bytes) => {
      n += 1;
      return n % every === 0 ? [bytes, bytes] : [bytes];
    };
  },
};

for (const [kind, fault] of Object.entries(FAULTS)) {
  test(`a bridge that ${kind} bytes is detected: its paths end, the ends accept no bad frame, and every call completes once`, async (t) => {
    const honest = await bridgeHosts(t, 3);
    const [hostile] = await bridgeHosts(t, 1, { bridgeFault: fault(7) });
    // Suggested in this order, three selected: the hostile one and two honest; the third honest is the spare.
    const { a, c, bob } = await serviceAndClient(t, { bridges: [refOf(hostile!), ...honest.map(refOf)], tripleMode: 'all' });
    const spare = honest[2]!;
    t.is(await E(bob).label(), 'bob');
    const since = sessionOf(a, c.id)!.since;
    // Calls in lanes; each answer is checked: a frame altered and accepted would show here or abort the session.
    for (let round = 0; round < 5; round++) {
      const answers = await within(
        Promise.all(Array.from({ length: 40 }, (_, i) => E(bob).echo(`${round}:${i}:${'x'.repeat(i * 10)}`))),
        IO_MS,
        `round ${round}`,
      );
      t.deepEqual(answers, Array.from({ length: 40 }, (_, i) => `${round}:${i}:${'x'.repeat(i * 10)}`));
    }
    const ends = (h: Host) => h.ps().bridges!.relayedPathEnds;
    await until(
      () => Object.keys(ends(c)).some((k) => k !== 'PathClosedError') || Object.keys(ends(a)).some((k) => k !== 'PathClosedError'),
      IO_MS,
      'an end to detect the hostile bridge',
      () => JSON.stringify({ a: ends(a), c: ends(c) }),
    );
    t.log(`${kind}: path ends at the dialler ${JSON.stringify(ends(a))}, at the service ${JSON.stringify(ends(c))}`);
    const seen = { ...ends(a), ...ends(c) };
    t.true(
      ['AeadError', 'MalformedMessageError', 'PathOverflowError', 'UnexpectedFrameError', 'PathLostError'].some((n) => (seen[n] ?? 0) > 0),
      JSON.stringify(seen),
    );
    // The session never ended, and the honest paths stayed up.
    t.is(sessionOf(a, c.id)!.since, since);
    t.true(viaPaths(a, c.id).filter((p) => !p.address.includes(hostile!.id.slice(0, 8))).length >= 2);
    // Routed around: after two paths through it died young, the slot moved to the spare bridge for good.
    await until(
      () => {
        const slots = sessionOf(a, c.id)!.bridges ?? [];
        return !slots.some((b) => b.bridge === hostile!.id.slice(0, 8)) && slots.some((b) => b.bridge === spare.id.slice(0, 8) && b.live);
      },
      IO_MS,
      'the hostile bridge to be replaced by the spare',
      () => JSON.stringify(sessionOf(a, c.id)!.bridges),
    );
    t.log(`slots after: ${JSON.stringify(sessionOf(a, c.id)!.bridges)}`);
  });
}
