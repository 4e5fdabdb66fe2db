/**
 * The real CapTP mux (capabilities/session-mux.ts) over triple sessions in
 * place of a SecurePath: the triple session is a FramePath, so the mux takes it
 * unchanged. CapTP calls go on while one path is cut with frames in flight and
 * another goes silent: every call is answered, none runs twice.
 */
import '@endo/init';
import test from 'ava';
import { E, Far } from '@endo/far';
import { makeConnection } from '../../capabilities/connection.js';
import { makeSessionMux } from '../../capabilities/session-mux.js';
import { makeTripleSession } from '../../protocols/triple/triple-session.js';
import { TEST_LIMITS } from './triple-fixtures.js';
import { makeHeapClock, makeLink, seededRandom } from './triple-network.js';

test('CapTP over a triple session: 300 calls, a path cut mid-stream and another gone silent, each call runs once', async (t) => {
  const clock = makeHeapClock();
  const random = seededRandom(7);
  const a = makeTripleSession({ name: 'A', clock, epoch: 1, limits: TEST_LIMITS, mode: 'standby' });
  const b = makeTripleSession({ name: 'B', clock, epoch: 2, limits: TEST_LIMITS, mode: 'standby' });
  const links = [0, 1, 2].map(() => {
    const l = makeLink(clock, random, { drop: 0.05, duplicate: 0.05, corrupt: 0, corruptKills: 0, delayMs: 5, jitterMs: 10 });
    a.attach(l.a);
    b.attach(l.b);
    return l;
  });
  const ma = makeSessionMux({ path: a, name: 'a', gateway: Far('GwA', {}) });
  const mb = makeSessionMux({ path: b, name: 'b', gateway: Far('GwB', {}) });
  let count = 0;
  const counter = Far('Counter', { increment: (by: number) => (count += by) });
  // A channel x↔y with the counter as y's bootstrap.
  const endpoint = (mux: typeof ma, local: string, remote: string, bootstrap: unknown) => {
    let conn!: ReturnType<typeof makeConnection>;
    const send = mux.open(local, remote, { deliver: (m) => conn.dispatch(m), close: (r) => conn.abort(r) });
    conn = makeConnection({ name: `${local}->${remote}`, send, bootstrap });
    return conn;
  };
  const x = endpoint(ma, 'x', 'y', Far('X', {}));
  endpoint(mb, 'y', 'x', counter);

  let stop = false;
  const pump = (async () => {
    while (!stop) {
      clock.advance(2);
      await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    const remote = await x.getBootstrap();
    const results: number[] = [];
    for (let round = 0; round < 30; round++) {
      if (round === 10) links[0]!.cut();
      if (round === 20) links[1]!.partitioned = true;
      // Ten calls in flight at once, so the cut catches some on the way.
      results.push(...(await Promise.all(Array.from({ length: 10 }, () => E(remote).increment(1)))));
    }
    t.is(count, 300, 'every call ran exactly once');
    t.deepEqual(
      results,
      Array.from({ length: 300 }, (_, i) => i + 1),
      'answers in call order',
    );
    t.false(a.lifetime.isClosed);
    t.true(links[0]!.lifetime.isClosed);
    t.is(a.state, 'critical');
  } finally {
    stop = true;
    await pump;
    a.abort(new Error('test over'));
    b.abort(new Error('test over'));
  }
});
