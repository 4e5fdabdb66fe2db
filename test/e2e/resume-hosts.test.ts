/**
 * Sessions that survive reconnects, with real processes over real TCP: a
 * counter host (`tribe host`, its own process) and a caller host (in this
 * process) that reaches it through a fault-injecting proxy
 * (test/helpers/fault-proxy.ts). The caller dialled, so it re-dials when the
 * proxy cuts its connection; the triple session (docs/protocol.md section 14)
 * keeps the CapTP tables for the grace period.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import { E } from '@endo/far';
import { IO_MS, PROCESS_MS, until, within } from '../helpers/bounded.js';
import { startHostProcess, type RunningHost } from '../helpers/cli.js';
import { counterHost, sessionOf, via } from '../helpers/counter-host.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { withHost } from '../helpers/host.js';
import type { Host, HostOptions } from '../../runtime/index.js';

const caller = (t: ExecutionContext, opts: HostOptions = {}) => withHost(t, { spareWorkers: 0, ...opts });

/** Until the caller's session with `peer` has a live path again after a cut. */
const resumed = (a: Host, peer: string, what: string) =>
  until(
    () => {
      const s = sessionOf(a, peer);
      return !!s && ['critical', 'degraded', 'healthy'].includes(s.state) && s.paths.some((p) => p.grade === 'good');
    },
    IO_MS,
    what,
    () => JSON.stringify(sessionOf(a, peer)),
  );

test.serial('a cut shorter than the grace period: 1,000 calls in flight all complete, each exactly once', async (t) => {
  const b = await counterHost(t);
  const proxy = await startFaultProxy(t, b.target);
  const a = await caller(t);
  const counter = await a.enliven(via(b.ref, proxy));
  t.is(await E(counter).read(), 0);
  const peer = b.host.id;
  t.is(sessionOf(a, peer)?.state !== 'single', true);

  const TOTAL = 1000;
  const LANES = 20;
  const CUT_AT = 300;
  let acked = 0;
  let cutAt = -1;
  // Lanes of sequential calls: calls go on being made during the outage (they wait in the session).
  const lane = async () => {
    for (let i = 0; i < TOTAL / LANES; i++) {
      await E(counter).increment();
      acked += 1;
      if (acked === CUT_AT) {
        // Cut with calls in flight; the link stays down until the caller has re-dialled and been refused twice.
        proxy.block();
        proxy.cut();
        cutAt = acked;
      }
    }
  };
  const all = Promise.allSettled(Array.from({ length: LANES }, lane));
  await until(() => sessionOf(a, peer)?.state === 'resuming', IO_MS, 'the session to lose its path');
  await until(() => (sessionOf(a, peer)?.redialAttempts ?? 0) >= 2, IO_MS, 'the caller to re-dial (visible in ps)', () =>
    JSON.stringify(sessionOf(a, peer)),
  );
  t.true(acked < TOTAL, `calls were in flight at the cut (${cutAt} done then, ${acked} now)`);
  proxy.restore();
  const outcomes = await within(all, IO_MS, 'every call to settle after the link is back');
  const failed = outcomes.filter((o) => o.status === 'rejected');
  t.is(failed.length, 0, failed.slice(0, 3).map((f) => String((f as PromiseRejectedResult).reason)).join('; '));
  t.is(await E(counter).read(), TOTAL, 'the counter counted every call once');
  t.log(`cut after ${cutAt} of ${TOTAL} calls; proxy connections ${proxy.accepted}; ${JSON.stringify(sessionOf(a, peer))}`);
  t.true(proxy.accepted >= 2, 'a second connection carried the rest');
  t.is(a.ps().sessions.length, 1, 'the same session, resumed');
});

test.serial('a cut longer than the grace period: pending calls reject with SessionLostError (grace period), and a later call works over a new session', async (t) => {
  const GRACE = 1500;
  const b = await counterHost(t);
  const proxy = await startFaultProxy(t, b.target);
  const a = await caller(t, { sessionGraceMs: GRACE });
  const ref = via(b.ref, proxy);
  const counter = await a.enliven(ref);
  t.is(await E(counter).increment(), 1);
  proxy.block();
  proxy.cut();
  const cutAt = Date.now();
  const pending = [E(counter).increment(), E(counter).read()];
  const outcomes = await within(Promise.allSettled(pending), IO_MS, 'the pending calls to end');
  const elapsed = Date.now() - cutAt;
  for (const o of outcomes) {
    t.is(o.status, 'rejected');
    const err = (o as PromiseRejectedResult).reason as Error;
    t.is(err.name, 'SessionLostError');
    t.regex(err.message, /TripleSessionLostError: no path for 1500 ms \(the grace period\)/);
  }
  t.true(elapsed >= GRACE - 50, `rejected after ${elapsed} ms, before the grace period`);
  t.is(a.ps().sessions.length, 0);
  proxy.restore();
  // A fresh connection works: the durable reference revives over a new session.
  t.is(await within(E(await a.enliven(ref)).increment(), IO_MS, 'a call over a new session'), 2);
});

test.serial('the peer killed (SIGKILL) and restarted: the old session ends at once with TripleEpochChangedError, the durable reference works again', async (t) => {
  const b = await counterHost(t);
  const a = await caller(t);
  const counter = await a.enliven(b.ref);
  t.is(await E(counter).increment(), 1);
  const peer = b.host.id;
  b.host.proc.kill('SIGKILL');
  await b.host.exited;
  await until(() => sessionOf(a, peer)?.state === 'resuming', IO_MS, 'the session to lose its path');
  // A call made while the peer is down waits in the session (within the grace period).
  const pending = E(counter).read();
  pending.catch(() => {});
  let restarted: RunningHost | undefined;
  const back = startHostProcess(t, b.home, ['--no-viz']).then((h) => (restarted = h));
  const err = (await within(pending.then(() => undefined, (e: Error) => e), PROCESS_MS, 'the pending call to end')) as Error | undefined;
  await within(back, PROCESS_MS, 'the counter host to restart');
  const readyAt = Date.now();
  t.truthy(err, 'the call on the old session rejected');
  t.is(err?.name, 'SessionLostError');
  t.regex(err?.message ?? '', /TripleEpochChangedError: .*restarted/);
  t.truthy(restarted);
  // Ended at once on the re-dial that met the new host, far within the 30 s grace period.
  t.true(Date.now() - readyAt < 10_000);
  // The same presence, never enlivened again.
  t.is(await within(E(counter).read(), IO_MS, 'the durable reference after the restart'), 1);
  t.is(await E(counter).increment(), 2);
});

// Handles that come and go on their own (ava's writes, a handle being closed).
const TRANSIENT = new Set(['TTYWrap', 'CloseReq', 'FSReqCallback']);
/** Timers apart: a few come and go with the work in flight (a heartbeat, an ack, a batch flush); a leak per cycle is 100. */
const handles = () => {
  const all = process.getActiveResourcesInfo().filter((r) => !TRANSIENT.has(r));
  return { timers: all.filter((r) => r === 'Timeout').length, others: all.filter((r) => r !== 'Timeout').sort() };
};
const TIMER_MARGIN = 4;

test.serial('100 cut and resume cycles: every call completes, and no handle is left behind', async (t) => {
  const b = await counterHost(t);
  const proxy = await startFaultProxy(t, b.target);
  const a = await caller(t);
  const counter = await a.enliven(via(b.ref, proxy));
  const peer = b.host.id;
  t.is(await E(counter).increment(), 1);
  const before = handles();
  const CYCLES = 100;
  for (let i = 0; i < CYCLES; i++) {
    const call = E(counter).increment();
    proxy.cut();
    await within(call, IO_MS, `the call of cycle ${i}`);
    await resumed(a, peer, `the session to resume in cycle ${i}`);
  }
  t.is(await E(counter).read(), CYCLES + 1);
  t.is(a.ps().sessions.length, 1);
  await until(() => proxy.open <= 1, IO_MS, 'cut connections to be gone');
  const after = handles();
  t.deepEqual(after.others, before.others, 'the same sockets, servers and pipes as before the cycles');
  t.true(after.timers <= before.timers + TIMER_MARGIN, `timers: ${before.timers} before, ${after.timers} after`);
  t.is(sessionOf(a, peer)?.paths.length, 1, 'one path: the cut ones were detached');
  t.true(proxy.accepted >= CYCLES, `${proxy.accepted} connections for ${CYCLES} cycles`);
});
