/**
 * Bridges under kill -9, with real processes over real TCP (docs/protocol.md
 * section 15): a client host (in this process, `bridges: [three refs]`), a
 * service host with a durable counter (`tribe host`, its own process) and three
 * bridge hosts (`tribe host --bridge`, each its own process and home). The
 * client dials, so it suggests the bridges and keeps the session's bridged
 * paths (runtime/sessions/bridges.ts); the session is a triple session in mode
 * 'all', so every call goes on every live path at once and a path that dies
 * mid-call costs nothing but its copy.
 *
 * While 10,000 increments run (BRIDGES_KILL_CALLS to change it), bridges are
 * killed (SIGKILL) and restarted from the same home (same identity and port):
 * one, then two at once. Every call must settle fulfilled, the counter must
 * count each exactly once, and the paths must be repaired on the same session.
 * The second test cuts the direct path instead (the client reaches the service
 * through test/helpers/fault-proxy.ts): the calls go on over the bridges, and
 * the direct path is dialled again once the proxy forwards again.
 *
 * Calls are gated (`gate`) so that each fault happens with calls in flight and
 * calls keep being made while it lasts, however fast or slow the machine is;
 * times (kill → slot down, restart → repaired) and rates are logged, not asserted.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import { E } from '@endo/far';
import { IO_MS, PROCESS_MS, until, within } from '../helpers/bounded.js';
import { startHostProcess, tribe, type RunningHost } from '../helpers/cli.js';
import { counterHost, sessionOf, via } from '../helpers/counter-host.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { tempHome, withHost } from '../helpers/host.js';
import type { Host } from '../../runtime/index.js';

/** The must-show's count; lower it with BRIDGES_KILL_CALLS on a slow machine (the rate is logged). */
const TOTAL = Number(process.env.BRIDGES_KILL_CALLS ?? 10_000);
/** Lanes of sequential calls: enough calls in flight that every fault catches some. */
const LANES = 20;
/** Paths one session runs through bridges (MAX_BRIDGED_PATHS). */
const BRIDGED = 3;

interface BridgeHost {
  host: RunningHost;
  readonly home: string;
  readonly ref: string;
  /** Its VatId as `ps` shows it in slots and path addresses ('via <short>'). */
  readonly short: string;
}

const BRIDGE_ARGS = ['--bridge', '--no-viz'];

/** A bridge host process in its own home, and its ref from `tribe ps --json`. */
const bridgeHost = async (t: ExecutionContext): Promise<BridgeHost> => {
  const home = tempHome(t);
  const host = await startHostProcess(t, home, BRIDGE_ARGS);
  const ps = await tribe(['ps', '--json', '--home', home]);
  t.is(ps.code, 0, ps.stderr);
  const ref = (JSON.parse(ps.stdout) as { bridgeRef?: string }).bridgeRef;
  if (!ref) throw new Error(`no bridgeRef in tribe ps --json of ${home}: ${ps.stdout}`);
  return { host, home, ref, short: host.id.slice(0, 8) };
};

const isBridged = (address: string) => address.startsWith('via ');

/** What a wait that failed saw last: the session's paths and bridge slots. */
const show = (a: Host, peer: string) => () => {
  const s = sessionOf(a, peer);
  if (!s) return 'no session';
  return JSON.stringify({
    state: s.state,
    since: s.since,
    paths: s.paths.map((p) => `${p.address} ${p.grade}`),
    bridges: s.bridges,
  });
};

/** The bridge `b`'s path on the session is up: its slot live and a 'via' path through it good. */
const bridgedGood = (a: Host, peer: string, b: BridgeHost) => {
  const s = sessionOf(a, peer);
  return (
    !!s &&
    !!s.bridges?.some((x) => x.bridge === b.short && x.live) &&
    s.paths.some((p) => p.address === `via ${b.short}` && p.grade === 'good')
  );
};
const slotDown = (a: Host, peer: string, b: BridgeHost) => !!sessionOf(a, peer)?.bridges?.some((x) => x.bridge === b.short && !x.live);
const directPaths = (a: Host, peer: string) => (sessionOf(a, peer)?.paths ?? []).filter((p) => !isBridged(p.address));

/**
 * What `victims`' slots and paths went through (each change, ms after `t0`), for the log:
 * a slow repair shows its failed tries and their errors.
 */
const makeTrace = (a: Host, peer: string, victims: BridgeHost[], t0: number) => {
  const seen: string[] = [];
  let last = '';
  return {
    note() {
      const s = sessionOf(a, peer);
      const now = victims
        .map((b) => {
          const slot = s?.bridges?.find((x) => x.bridge === b.short);
          const path = s?.paths.find((p) => p.address === `via ${b.short}`);
          const hop = a.ps().sessions.find((x) => x.peer === b.host.id);
          const hopText = hop ? `${hop.state}${hop.redialAttempts ? ` redials=${hop.redialAttempts}` : ''}${hop.redialError ? ` (${hop.redialError})` : ''}` : 'none';
          return `${b.short}: hop ${hopText}, slot ${slot ? `${slot.live ? 'live' : 'down'} made=${slot.made} failures=${slot.failures}${slot.lastError ? ` (${slot.lastError})` : ''}` : 'none'}, path ${path?.grade ?? 'none'}`;
        })
        .join('; ');
      if (now !== last) seen.push(`+${Date.now() - t0} ms ${now}`);
      last = now;
    },
    /** Notes the state, then checks `done`: for `until`. */
    noting(done: () => boolean) {
      return () => {
        this.note();
        return done();
      };
    },
    seen,
  };
};

/** Until every bridge's path is up and a direct one is good. */
const allUp = (a: Host, peer: string, bridges: BridgeHost[], what: string) =>
  until(
    () => bridges.every((b) => bridgedGood(a, peer, b)) && directPaths(a, peer).some((p) => p.grade === 'good'),
    IO_MS,
    what,
    show(a, peer),
  );

/**
 * Calls made in lanes, each lane one call after another; call number `n` (counted
 * across lanes) is not made before every gate below `n` has opened. Each call's
 * outcome is kept.
 */
const makeLoad = (counter: any, total: number) => {
  const gates: Array<{ at: number; open: Promise<void> }> = [];
  let issued = 0;
  let settled = 0;
  let fulfilled = 0;
  const rejected: unknown[] = [];
  const lane = async () => {
    for (;;) {
      const n = issued;
      if (n >= total) return;
      issued += 1;
      for (const g of gates) if (n >= g.at) await g.open;
      try {
        await E(counter).increment();
        fulfilled += 1;
      } catch (err) {
        rejected.push(err);
      } finally {
        settled += 1;
      }
    }
  };
  return {
    /** Calls from `at` on wait for `open`. Call before `run`. */
    gate(at: number, open: Promise<unknown>) {
      const opened = open.then(() => undefined);
      // A fault that fails fails the test where it is awaited; the lanes held here stop with it.
      opened.catch(() => {});
      gates.push({ at, open: opened });
    },
    run: () => Promise.all(Array.from({ length: LANES }, lane)),
    get settled() {
      return settled;
    },
    get fulfilled() {
      return fulfilled;
    },
    rejected,
  };
};

/** Until at least `n` calls have settled. */
const settledAtLeast = (load: { settled: number }, n: number, what: string) =>
  until(() => load.settled >= n, IO_MS, what, () => `${load.settled} settled`);

/** Milliseconds since `t0`, for the log. */
const since = (t0: number) => Date.now() - t0;

/** The five processes (in parallel: each is a Node start with lockdown) and the client host in this process. */
const setUp = async (t: ExecutionContext, direct: 'direct' | 'proxy') => {
  const t0 = Date.now();
  const [service, ...bridges] = await Promise.all([counterHost(t), bridgeHost(t), bridgeHost(t), bridgeHost(t)]);
  const proxy = direct === 'proxy' ? await startFaultProxy(t, service!.target) : undefined;
  const a = await withHost(t, { spareWorkers: 0, bridges: bridges.map((b) => b.ref) });
  const counter = await within(a.enliven(proxy ? via(service!.ref, proxy) : service!.ref), IO_MS, 'the client to enliven the counter');
  t.is(await E(counter).read(), 0);
  const peer = service!.host.id;
  const t1 = Date.now();
  await allUp(a, peer, bridges, `the client's session with the service to have ${BRIDGED} bridged paths and the direct one good`);
  const s = sessionOf(a, peer)!;
  t.is(s.paths.filter((p) => isBridged(p.address)).length, BRIDGED);
  t.is(s.role, 'initiator', 'the client dialled');
  t.log(`set up in ${since(t0)} ms (bridged paths good ${since(t1)} ms after the first call): ${s.paths.map((p) => `${p.address} ${p.grade}`).join(', ')}`);
  return { a, service: service!, bridges, counter, peer, proxy, since: s.since };
};

/** SIGKILL, and the process is gone. */
const kill9 = async (b: BridgeHost) => {
  b.host.proc.kill('SIGKILL');
  await b.host.exited;
};

/** `tribe host --bridge` again from the same home: the same identity, listening on the same port. */
const restart = async (t: ExecutionContext, b: BridgeHost) => {
  const was = b.host.listen;
  b.host = await startHostProcess(t, b.home, BRIDGE_ARGS);
  t.is(b.host.listen, was, `bridge ${b.short} listens where it did`);
};

/** The checks after a run: every call settled fulfilled and counted once, the same session, every path back. */
const checkAfter = async (
  t: ExecutionContext,
  s: Awaited<ReturnType<typeof setUp>>,
  load: ReturnType<typeof makeLoad>,
  outcome: Promise<unknown>,
) => {
  await within(outcome, IO_MS, 'every call to settle');
  t.is(load.settled, TOTAL, 'every call settled');
  t.is(load.rejected.length, 0, load.rejected.slice(0, 3).map(String).join('; '));
  t.is(load.fulfilled, TOTAL);
  t.is(await within(E(s.counter).read(), IO_MS, 'the count'), TOTAL, 'each call counted exactly once');
  await allUp(s.a, s.peer, s.bridges, 'every path to be up after the run');
  const after = sessionOf(s.a, s.peer)!;
  t.is(after.since, s.since, 'the same session');
  t.is(s.a.ps().sessions.filter((x) => x.peer === s.peer).length, 1);
  t.is(after.paths.filter((p) => isBridged(p.address) && p.grade === 'good').length, BRIDGED);
  t.true(after.paths.some((p) => !isBridged(p.address)), 'the direct path is there');
  t.log(`after: ${show(s.a, s.peer)()}`);
};

/**
 * Runs the load while the faults are made (`faults.done`, within `faults.ms`), logs
 * `log` and the rate (with `note()` after it), then checkAfter.
 */
const runAndCheck = async (
  t: ExecutionContext,
  s: Awaited<ReturnType<typeof setUp>>,
  load: ReturnType<typeof makeLoad>,
  faults: { done: Promise<unknown>; ms: number; what: string },
  log: readonly string[],
  note = () => '',
) => {
  const t0 = Date.now();
  const outcome = load.run();
  await within(faults.done, faults.ms, faults.what);
  await within(outcome, IO_MS, 'every call to settle');
  const ms = since(t0);
  for (const line of log) t.log(line);
  t.log(`${TOTAL} calls in ${ms} ms: ${Math.round((TOTAL * 1000) / ms)} calls/s (${LANES} lanes)${note()}`);
  await checkAfter(t, s, load, outcome);
};

test.serial(`${TOTAL} calls while bridges are killed (SIGKILL) and restarted, one then two at once: none lost, none duplicated, the paths repaired`, async (t) => {
  const s = await setUp(t, 'direct');
  const { a, peer, bridges } = s;
  const [b1, b2, b3] = bridges as [BridgeHost, BridgeHost, BridgeHost];
  const load = makeLoad(s.counter, TOTAL);
  const log: string[] = [];

  /** Kills `victims` with calls in flight, restarts them, and waits until their paths are repaired. */
  const fault = async (victims: BridgeHost[], startAt: number) => {
    await settledAtLeast(load, startAt, `${startAt} calls before the kill`);
    const names = victims.map((b) => b.short).join(' and ');
    const k = Date.now();
    const atKill = load.settled;
    t.true(load.settled < TOTAL, 'calls in flight at the kill');
    const trace = makeTrace(a, peer, victims, k);
    await Promise.all(victims.map(kill9));
    await until(trace.noting(() => victims.every((b) => slotDown(a, peer, b))), IO_MS, `the slots of ${names} to show live=false`, show(a, peer));
    const down = since(k);
    const r = Date.now();
    trace.seen.push(`+${since(k)} ms restarting`);
    await Promise.all(victims.map((b) => restart(t, b)));
    trace.seen.push(`+${since(k)} ms restarted`);
    const restarted = since(r);
    const ready = Date.now();
    await until(trace.noting(() => victims.every((b) => bridgedGood(a, peer, b))), IO_MS, `the paths through ${names} to be repaired`, () => `${show(a, peer)()}\n${trace.seen.join('\n')}`);
    const repaired = since(ready);
    const settledMeanwhile = load.settled - atKill;
    t.true(settledMeanwhile > 0, `calls went on while ${names} were down`);
    log.push(
      `kill -9 ${names} at call ${atKill}: slot down ${down} ms after the kill; restart took ${restarted} ms; repaired ${repaired} ms after the restart (${since(r)} ms after restarting began); ${settledMeanwhile} calls settled meanwhile`,
      ...trace.seen.map((l) => `  ${l}`),
    );
  };

  // Kill one at 10%, two at 50%; calls past 40% and 80% wait for the repairs, so calls go on through each fault.
  const first = fault([b1], Math.floor(TOTAL * 0.1));
  const second = first.then(() => fault([b2, b3], Math.floor(TOTAL * 0.5)));
  first.catch(() => {});
  second.catch(() => {});
  load.gate(Math.floor(TOTAL * 0.4), first);
  load.gate(Math.floor(TOTAL * 0.8), second);
  await runAndCheck(t, s, load, { done: second, ms: 2 * PROCESS_MS, what: 'both faults to be made and repaired' }, log);
  for (const b of bridges) {
    const slot = sessionOf(a, peer)!.bridges!.find((x) => x.bridge === b.short)!;
    t.true(slot.made >= 2, `bridge ${b.short}'s path was made again (${slot.made} made)`);
  }
});

test.serial(`${TOTAL} calls while the direct path's link is cut and blocked: they go on over the bridges, and the direct path comes back`, async (t) => {
  const s = await setUp(t, 'proxy');
  const { a, peer } = s;
  const proxy = s.proxy!;
  const load = makeLoad(s.counter, TOTAL);
  const log: string[] = [];
  const acceptedBefore = proxy.accepted;

  const fault = async () => {
    await settledAtLeast(load, Math.floor(TOTAL * 0.2), 'calls before the cut');
    const k = Date.now();
    const atCut = load.settled;
    proxy.block();
    proxy.cut();
    await until(() => directPaths(a, peer).length === 0, IO_MS, 'the direct path to be gone', show(a, peer));
    const gone = since(k);
    const goneAt = Date.now();
    const atGone = load.settled;
    // The link stays down while calls go on over the bridges only.
    await settledAtLeast(load, atGone + Math.floor(TOTAL * 0.3), 'calls over the bridges alone');
    t.is(directPaths(a, peer).length, 0, 'no direct path while the link was down');
    const bridgedOnly = load.settled - atGone;
    const bridgedMs = since(goneAt);
    const r = Date.now();
    proxy.restore();
    await until(() => directPaths(a, peer).some((p) => p.grade === 'good'), IO_MS, 'the direct path to come back', show(a, peer));
    log.push(
      `cut at call ${atCut}: direct path gone ${gone} ms after the cut; ${bridgedOnly} calls settled over the bridges alone in ${bridgedMs} ms; direct path back ${since(r)} ms after the proxy forwarded again`,
    );
  };

  const faulted = fault();
  faulted.catch(() => {});
  // Calls past 80% wait for the direct path to be back: some go over it again.
  load.gate(Math.floor(TOTAL * 0.8), faulted);
  await runAndCheck(t, s, load, { done: faulted, ms: 2 * IO_MS, what: 'the cut to be made and healed' }, log, () => `; proxy connections ${proxy.accepted - acceptedBefore} after setup`);
  t.true(proxy.accepted > acceptedBefore, 'the direct path was dialled again through the proxy');
});
