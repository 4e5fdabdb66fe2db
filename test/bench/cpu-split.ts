/**
 * Where the CPU of a call between hosts goes, thread by thread: a tool for
 * docs/performance.md's profiles, not part of `npm run bench`. On a shared
 * 2-vCPU machine wall time swings with other load; CPU time per call on each
 * thread does not, so this is the instrument for before/after comparisons.
 *
 *   npm run build && node dist/test/bench/cpu-split.js [calls=4000] [window=1] [only=<name part>]
 *
 * For each contender of section 4 (sessions.ts) it runs `calls` calls with
 * `window` outstanding (1 = sequential) after a warm-up, and reads every
 * thread's on-CPU time from /proc/<pid>/task/<tid>/schedstat (nanoseconds)
 * before and after. Threads are reported as: main (the process's JS thread),
 * busiest other (a vat's worker, when the workload runs one), rest (GC helpers,
 * libuv, idle vats). All in µs of CPU per call.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { E, startHost } from '../../runtime/index.js';
import { make as makeDriver } from './actors/driver.js';
import { startPeer, type Peer } from './net/peers.js';

const calls = Number(process.argv[2] ?? 4000);
const window = Number(process.argv[3] ?? 1);
/** Only the contenders whose name contains this (e.g. 'vat' under --cpu-prof). */
const only = process.argv[4] ?? '';
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

type Sample = Map<number, number>;
const sample = (pid: number): Sample => {
  const out: Sample = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(tid), Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
};
/** µs per call: main thread, busiest other thread, the rest. */
const split = (pid: number, before: Sample, after: Sample) => {
  const deltas = [...after].map(([tid, ns]) => [tid, (ns - (before.get(tid) ?? 0)) / 1000 / calls] as const);
  const main = deltas.find(([tid]) => tid === pid)?.[1] ?? 0;
  const others = deltas.filter(([tid]) => tid !== pid).map(([, us]) => us).sort((a, b) => b - a);
  const busiest = others[0] ?? 0;
  const rest = others.slice(1).reduce((a, b) => a + b, 0);
  return { main, busiest, rest, total: main + busiest + rest };
};

const run = async (name: string, pids: Array<[string, number]>, go: (n: number) => Promise<unknown>, frames?: () => number) => {
  if (!name.includes(only)) return;
  await go(Math.min(1000, calls));
  const before = pids.map(([, pid]) => sample(pid));
  const framesBefore = frames?.() ?? 0;
  const t0 = performance.now();
  await go(calls);
  const ms = performance.now() - t0;
  const perCall = frames ? `, ${((frames() - framesBefore) / calls).toFixed(2)} Encrypted frames/call` : '';
  const parts = pids.map(([label, pid], i) => ({ label, ...split(pid, before[i]!, sample(pid)) }));
  const total = parts.reduce((a, p) => a + p.total, 0);
  const f = (x: number) => x.toFixed(0).padStart(4);
  console.log(`${name.padEnd(16)} ${f(total)} µs CPU/call, ${((calls * 1000) / ms).toFixed(0)} calls/s wall${perCall}`);
  for (const p of parts) console.log(`  ${p.label.padEnd(14)} main ${f(p.main)}  busiest other ${f(p.busiest)}  rest ${f(p.rest)}  = ${f(p.total)}`);
};

const main = async () => {
  const peers: Peer[] = [];
  const home = mkdtempSync(join(tmpdir(), 'tribe-cpu-split-'));
  const host = await startHost({ home, control: false, restore: false, print: () => {}, listen: '127.0.0.1:0' });
  try {
    const hostB = await startPeer('tribe host B', './tribe-host-peer.js');
    peers.push(hostB);
    const refs = hostB.hello['refs'] as { pinger: string; hostPinger: string };
    const workload = (d: any) => (n: number) => (window === 1 ? d.sequential(n) : d.concurrent(n, window));
    const { root: driver } = await host.spawnVat({ module: join(repoRoot, 'test', 'bench', 'actors', 'driver.ts'), name: 'split-driver' });
    await E(driver).connect(refs.pinger);
    const vatLoad = workload({ sequential: (n: number) => E(driver).sequential(n), concurrent: (n: number, w: number) => E(driver).concurrent(n, w) });
    const powers = { names: { lookup: (ref: string) => host.enliven(ref) }, timer: { now: () => performance.now() } };
    const embedder = makeDriver(powers);
    await embedder.connect(refs.pinger);
    const hosts = makeDriver(powers);
    await hosts.connect(refs.hostPinger);
    const rawTarget = await startPeer('raw target', './captp-tcp-peer.js', ['target', 'gc']);
    const rawDriver = await startPeer('raw driver', './captp-tcp-peer.js', ['driver', String(rawTarget.hello['port']), 'gc']);
    peers.push(rawTarget, rawDriver);
    await rawDriver.call('connect');
    console.log(`${calls} calls, ${window} outstanding; µs of CPU per call by thread`);
    const both = (): Array<[string, number]> => [
      ['host A', process.pid],
      ['host B', hostB.pid],
    ];
    const frames = () => host.ps().sessions.reduce((sum, x) => sum + x.sealsIn + x.sealsOut, 0);
    await run('tribe vat↔vat', both(), vatLoad, frames);
    await run('tribe embedder', both(), workload(embedder), frames);
    await run('tribe host↔host', both(), workload(hosts), frames);
    await run('raw-captp-tcp-gc', [['driver', rawDriver.pid], ['target', rawTarget.pid]], (n) =>
      window === 1 ? rawDriver.call('sequential', n) : rawDriver.call('concurrent', n, window),
    );
    if (!'raw-captp-relayed'.includes(only)) return;
    const relayTarget = await startPeer('relay target', './captp-relay-peer.js', ['target', 'gc']);
    const relayDriver = await startPeer('relay driver', './captp-relay-peer.js', ['driver', String(relayTarget.hello['port']), 'gc']);
    peers.push(relayTarget, relayDriver);
    await relayDriver.call('connect');
    await run('raw-captp-relayed', [['driver', relayDriver.pid], ['target', relayTarget.pid]], (n) =>
      window === 1 ? relayDriver.call('sequential', n) : relayDriver.call('concurrent', n, window),
    );
  } finally {
    await host.stop();
    await Promise.all(peers.map((p) => p.stop()));
    rmSync(home, { recursive: true, force: true });
  }
};

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
