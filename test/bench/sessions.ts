/**
 * Section 4 of `npm run bench`: sessions between hosts.
 *
 * 1. Round trips between two processes on loopback (sequential, a sliding
 *    window of outstanding calls, depth-2 pipelined pairs), interleaved:
 *    - tribe: two real hosts. Host A is this process (startHost, listening on
 *      loopback); host B a child process (net/tribe-host-peer.ts). Driver vats
 *      on A look up B's targets by sturdy ref and time the calls inside the vat.
 *    - raw-captp-tcp(-gc): @endo/captp between two locked-down processes over
 *      one TCP socket with Tribe's framing (net/captp-tcp-peer.ts); the goal
 *      baseline (the faster of gcImports off / on).
 *    - raw-captp-relayed: the same, each endpoint in a worker thread whose
 *      process's main thread relays its messages (net/captp-relay-peer.ts): the
 *      thread layout of a vat and its host without Tribe, a ceiling for vat ↔ vat.
 *    - capnweb-ws: Cap'n Web over a `ws` WebSocket, no lockdown
 *      (net/capnweb-ws-peer.ts), for context.
 * 2. Bulk throughput and 3. handshakes: net/path-bench.ts.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E, startHost, type Host } from '../../runtime/index.js';
import { make as makeDriver } from './actors/driver.js';
import { make as makePipeDriver } from './actors/pipe-driver.js';
import { benchBulk, benchHandshakes, type PathBenchContext } from './net/path-bench.js';
import { startPeer, type Peer } from './net/peers.js';
import { fmt, median, summarize, timed, type Summary } from './stats.js';
import { DEFAULT_TRIPLE_MODE } from '../../protocols/triple/triple-session.js';

export interface SessionsConfig {
  /** Sequential calls per repetition. */
  readonly seqCalls: number;
  /** Calls per repetition with `window` outstanding. */
  readonly concCalls: number;
  readonly window: number;
  /** Pipelined pairs (getChild → ping) per repetition. */
  readonly pipePairs: number;
  readonly reps: number;
  readonly warmups: number;
  readonly bulkMiB: number;
  readonly bulkReps: number;
  readonly handshakes: number;
  readonly handshakeReps: number;
}

export interface SessionsContext extends PathBenchContext {
  readonly config: SessionsConfig;
  tempDir(prefix: string): string;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);

interface Contender {
  readonly name: string;
  /** Elapsed ms, measured where the calls are made. */
  sequential(n: number): Promise<number>;
  concurrent(n: number, window: number): Promise<number>;
  /** n pipelined pairs, each awaited. */
  pipelined(n: number): Promise<number>;
}

const ofPeer = (name: string, driver: Peer): Contender => ({
  name,
  sequential: (n) => driver.call('sequential', n),
  concurrent: (n, w) => driver.call('concurrent', n, w),
  pipelined: (n) => driver.call('pipelined', n),
});

const RAW_NAMES = ['raw-captp-tcp', 'raw-captp-tcp-gc'] as const;
const SESSION_GOAL = 0.85;
/** Issue 12: a triple session's round trips, against the single-path session's, in the default mode. */
const TRIPLE_GOAL = 0.7;

const benchRoundTrips = async (ctx: SessionsContext) => {
  const { config, row, details, log } = ctx;
  const peers: Peer[] = [];
  let hostA: Host | undefined;
  let hostSingle: Host | undefined;
  const peer = async (name: string, script: string, args: string[]) => {
    const p = await startPeer(name, script, args);
    peers.push(p);
    return p;
  };
  try {
    // Baselines: a target process and a driver process each.
    const rawPair = async (name: string, gc: boolean) => {
      const flags = gc ? ['gc'] : [];
      const target = await peer(`${name} target`, './captp-tcp-peer.js', ['target', ...flags]);
      const driver = await peer(`${name} driver`, './captp-tcp-peer.js', ['driver', String(target.hello['port']), ...flags]);
      if ((await driver.call('connect')) !== true) throw new Error(`${name} driver could not reach its target`);
      return ofPeer(name, driver);
    };
    /** The thread layout of Tribe's vats without Tribe: each CapTP endpoint in a worker, its process's main thread relaying (net/captp-relay-peer.ts). */
    const relayed = async () => {
      const target = await peer('raw-captp-relayed target', './captp-relay-peer.js', ['target', 'gc']);
      const driver = await peer('raw-captp-relayed driver', './captp-relay-peer.js', ['driver', String(target.hello['port']), 'gc']);
      if ((await driver.call('connect')) !== true) throw new Error('raw-captp-relayed driver could not reach its target');
      return ofPeer('raw-captp-relayed', driver);
    };
    const capnweb = async () => {
      const target = await peer('capnweb-ws target', './capnweb-ws-peer.js', ['target']);
      const driver = await peer('capnweb-ws driver', './capnweb-ws-peer.js', ['driver', String(target.hello['port'])]);
      if ((await driver.call('connect')) !== true) throw new Error('capnweb-ws driver could not reach its target');
      return ofPeer('capnweb-ws', driver);
    };
    // Tribe: host B in a child process, host A here; the vats talk across the hosts' session.
    /** Session frames (both directions, as host A counts them) per call or pair, by mode. */
    const frameTally: Record<string, { frames: number; units: number }> = {};
    let hostRefs: { pinger: string; pipe: string; hostPinger: string; hostPipe: string } | undefined;
    /**
     * `single`: a second host A' that speaks no triple sessions (host option
     * tripleSessions: false), so its session with B is one SecurePath under the
     * mux, as before triple sessions: the same run's single-path rows.
     */
    const tribe = async (single = false): Promise<Contender> => {
      const refs = hostRefs ?? ((await peer('tribe host B', './tribe-host-peer.js', [])).hello['refs'] as { pinger: string; pipe: string; hostPinger: string; hostPipe: string });
      hostRefs = refs;
      const a = await startHost({
        home: ctx.tempDir('tribe-bench-a-'),
        control: false,
        restore: false,
        print: () => {},
        listen: '127.0.0.1:0',
        ...(single ? { tripleSessions: false } : {}),
      });
      if (single) hostSingle = a;
      else hostA = a;
      const { root: driver } = await a.spawnVat({ module: actorTs('driver'), name: 'hosts-driver' });
      const { root: pipeDriver } = await a.spawnVat({ module: actorTs('pipe-driver'), name: 'hosts-pipe-driver' });
      if ((await timed('tribe connect', E(driver).connect(refs.pinger))) !== true) throw new Error('tribe driver could not reach the pinger on host B');
      if ((await timed('tribe connect', E(pipeDriver).connect(refs.pipe))) !== true) {
        throw new Error('tribe pipe driver could not reach its target on host B');
      }
      const frames = () => a.ps().sessions.reduce((sum, s) => sum + s.framesIn + s.framesOut, 0);
      const counted = async (mode: string, n: number, run: () => Promise<number>) => {
        const before = frames();
        const ms = await timed(`tribe ${mode}`, run());
        if (single) return ms;
        frameTally[mode] ??= { frames: 0, units: 0 };
        const t = frameTally[mode]!;
        t.frames += frames() - before;
        t.units += n;
        return ms;
      };
      return {
        name: single ? 'tribe-single-path' : 'tribe',
        sequential: (n) => counted('sequential', n, () => E(driver).sequential(n)),
        concurrent: (n, w) => counted('concurrent', n, () => E(driver).concurrent(n, w)),
        pipelined: (n) => counted('pipelined', n, () => E(pipeDriver).pipelined(n)),
      };
    };
    /**
     * The session alone: host A's own thread calls targets held by host B's thread
     * (the same driver code, run here), so no vat hop is on either side. It shows
     * what the session layer costs apart from the hops between a vat and its host.
     */
    const tribeHosts = async (): Promise<Contender> => {
      const a = hostA!;
      const powers = { names: { lookup: (ref: string) => a.enliven(ref) }, timer: { now: () => performance.now() } };
      const driver = makeDriver(powers);
      const pipeDriver = makePipeDriver(powers);
      if ((await timed('tribe-hosts connect', driver.connect(hostRefs!.hostPinger))) !== true) throw new Error('host A could not reach host B');
      if ((await timed('tribe-hosts connect', pipeDriver.connect(hostRefs!.hostPipe))) !== true) throw new Error('host A could not reach host B');
      return {
        name: 'tribe-hosts',
        sequential: (n) => driver.sequential(n),
        concurrent: (n, w) => driver.concurrent(n, w),
        pipelined: (n) => pipeDriver.pipelined(n),
      };
    };
    /**
     * The embedder: host A's own thread (the startHost API, as a user's program holds it)
     * calls the vats on host B, as a new user would: `E(await host.enliven(ref)).ping(i)`.
     * One vat hop (host B's), none on this side.
     */
    const tribeEmbedder = async (): Promise<Contender> => {
      const a = hostA!;
      const powers = { names: { lookup: (ref: string) => a.enliven(ref) }, timer: { now: () => performance.now() } };
      const driver = makeDriver(powers);
      const pipeDriver = makePipeDriver(powers);
      if ((await timed('tribe-embedder connect', driver.connect(hostRefs!.pinger))) !== true) throw new Error('the embedder could not reach the pinger on host B');
      if ((await timed('tribe-embedder connect', pipeDriver.connect(hostRefs!.pipe))) !== true) throw new Error('the embedder could not reach host B');
      return {
        name: 'tribe-embedder',
        sequential: (n) => driver.sequential(n),
        concurrent: (n, w) => driver.concurrent(n, w),
        pipelined: (n) => pipeDriver.pipelined(n),
      };
    };
    const contenders: Contender[] = [
      await tribe(),
      await tribe(true),
      await tribeEmbedder(),
      await tribeHosts(),
      await rawPair(RAW_NAMES[0], false),
      await rawPair(RAW_NAMES[1], true),
      await relayed(),
      await capnweb(),
    ];

    const modes = [
      { key: 'sequential', label: 'E() calls/s between hosts, sequential', n: config.seqCalls, calls: 1, run: (c: Contender, n: number) => c.sequential(n) },
      {
        key: 'concurrent',
        label: `E() calls/s between hosts, ${config.window} outstanding`,
        n: config.concCalls,
        calls: 1,
        run: (c: Contender, n: number) => c.concurrent(n, config.window),
      },
      // A pair is two calls in (ideally) one round trip; calls/s counts both.
      { key: 'pipelined', label: 'E() calls/s between hosts, depth-2 pipelined pairs', n: config.pipePairs, calls: 2, run: (c: Contender, n: number) => c.pipelined(n) },
    ] as const;
    for (const mode of modes) {
      for (let i = 0; i < config.warmups; i += 1) {
        for (const c of contenders) await mode.run(c, Math.ceil(mode.n / 2));
      }
      const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
      for (let rep = 0; rep < config.reps; rep += 1) {
        // Rotate who goes first, so drift on a noisy machine hits everyone alike.
        for (let i = 0; i < contenders.length; i += 1) {
          const c = contenders[(i + rep) % contenders.length]!;
          const ms = await mode.run(c, mode.n);
          rates.get(c.name)!.push((mode.n * mode.calls * 1000) / Math.max(ms, 1));
        }
      }
      const sums = Object.fromEntries([...rates].map(([k, v]) => [k, summarize(v)])) as Record<string, Summary>;
      const best = RAW_NAMES.reduce((a, b) => (sums[b]!.median > sums[a]!.median ? b : a));
      const other = RAW_NAMES.find((n) => n !== best)!;
      const paired = (a: string, b: string) => rates.get(a)!.map((x, i) => x / rates.get(b)![i]!);
      const vsRaw = paired('tribe', best);
      const vsCapnweb = paired('tribe', 'capnweb-ws');
      details[`sessions.roundTrips.${mode.key}`] = {
        [mode.key === 'pipelined' ? 'pairs' : 'calls']: mode.n,
        callsPerUnit: mode.calls,
        window: mode.key === 'concurrent' ? config.window : 1,
        baseline: best,
        ...sums,
        pairedRatioVsBaseline: summarize(vsRaw),
        pairedRatioVsCapnweb: summarize(vsCapnweb),
        tribeSessionFramesPerUnit: frameTally[mode.key] ? frameTally[mode.key]!.frames / frameTally[mode.key]!.units : undefined,
      };
      const tribeRate = sums['tribe']!.median;
      const raw = sums[best]!.median;
      const capn = sums['capnweb-ws']!.median;
      const ratio = tribeRate / raw;
      const range = (xs: number[]) => `median ${fmt(median(xs), 2)}, range ${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;
      row({
        section: 'sessions',
        metric: mode.label,
        unit: 'calls/s',
        ours: tribeRate,
        baseline: raw,
        baselineName: `${best}: @endo/captp between 2 locked-down processes over 1 loopback TCP socket, Tribe's framing, same workload (the faster raw setup)`,
        note: `goal ≥ ${SESSION_GOAL} × raw-captp-tcp: ${ratio >= SESSION_GOAL ? 'MET' : 'MISSED'}; per-repetition ratios: ${range(vsRaw)}; tribe ${fmt(sums['tribe']!.min, 0)}–${fmt(sums['tribe']!.max, 0)}/s, ${best} ${fmt(sums[best]!.min, 0)}–${fmt(sums[best]!.max, 0)}/s${mode.calls === 2 ? '; a pair (E(E(t).getChild()).ping(i)) counts as 2 calls' : ''}`,
      });
      row({
        section: 'sessions',
        metric: '  tribe vs capnweb-ws',
        unit: 'calls/s',
        ours: tribeRate,
        baseline: capn,
        baselineName: "capnweb-ws: Cap'n Web over a ws WebSocket, 2 processes, no lockdown",
        note: `per-repetition ratios: ${range(vsCapnweb)}; capnweb-ws ${fmt(sums['capnweb-ws']!.min, 0)}–${fmt(sums['capnweb-ws']!.max, 0)}/s`,
      });
      const embedderRate = sums['tribe-embedder']!.median;
      const embedderRatio = embedderRate / raw;
      row({
        section: 'sessions',
        metric: '  tribe, embedder (startHost API) to a vat on the other host',
        unit: 'calls/s',
        ours: embedderRate,
        baseline: raw,
        baselineName: best,
        note: `E(await host.enliven(ref)).ping(i) in host A's thread; goal ≥ ${SESSION_GOAL}: ${embedderRatio >= SESSION_GOAL ? 'MET' : 'MISSED'}; per-repetition ratios: ${range(paired('tribe-embedder', best))}`,
      });
      const hostsRate = sums['tribe-hosts']!.median;
      row({
        section: 'sessions',
        metric: '  tribe, host thread to host thread (the session alone, no vat hop)',
        unit: 'calls/s',
        ours: hostsRate,
        baseline: raw,
        baselineName: best,
        note: `same driver code in host A's thread, targets held by host B's thread; per-repetition ratios: ${range(paired('tribe-hosts', best))}`,
      });
      row({
        section: 'sessions',
        metric: '  raw-captp-relayed: the vats\' thread layout without Tribe (a ceiling for vat ↔ vat)',
        unit: 'calls/s',
        ours: sums['raw-captp-relayed']!.median,
        baseline: raw,
        baselineName: best,
        note: `raw CapTP with each endpoint in a worker and its process's main thread relaying, as a vat and its host; per-repetition ratios: ${range(paired('raw-captp-relayed', best))}; tribe vat ↔ vat / this: ${fmt(tribeRate / sums['raw-captp-relayed']!.median, 2)}`,
      });
      if (mode.key !== 'pipelined') {
        const singleRate = sums['tribe-single-path']!.median;
        const tripleRatio = tribeRate / singleRate;
        row({
          section: 'sessions',
          metric: '  tribe (triple session, one direct path) vs the single-path session',
          unit: 'calls/s',
          ours: tribeRate,
          baseline: singleRate,
          baselineName: 'tribe-single-path: the same hosts\' vats over one SecurePath, no triple session (host option tripleSessions: false)',
          note: `goal ≥ ${TRIPLE_GOAL} (issue 12, default mode ${DEFAULT_TRIPLE_MODE}): ${tripleRatio >= TRIPLE_GOAL ? 'MET' : 'MISSED'}; per-repetition ratios: ${range(paired('tribe', 'tribe-single-path'))}`,
        });
      }
      row({ section: 'sessions', metric: `  ${best} vs capnweb-ws (context)`, unit: 'calls/s', ours: raw, baseline: capn, baselineName: 'capnweb-ws' });
      row({
        section: 'sessions',
        metric: `  ${other} (the other raw setup)`,
        unit: 'calls/s',
        ours: sums[other]!.median,
        baseline: raw,
        baselineName: best,
        note: other === 'raw-captp-tcp' ? 'gcImports off (the default)' : 'gcImports on, as in Tribe',
      });
      log(`  ${mode.key}: ${contenders.map((c) => `${c.name} ${fmt(sums[c.name]!.median, 0)}/s`).join(', ')}`);
    }
    details['sessions.tribeSessions'] = hostA?.ps().sessions;
  } finally {
    await hostA?.stop();
    await hostSingle?.stop();
    await Promise.all(peers.map((p) => p.stop()));
  }
};

/** `TRIBE_BENCH_PART=bulk` (or a list: `roundtrips,bulk,handshakes`) runs only those parts of this section. */
const PARTS = { roundtrips: benchRoundTrips, bulk: benchBulk, handshakes: benchHandshakes } as const;

export async function benchSessions(ctx: SessionsContext): Promise<void> {
  ctx.log('[4/6] sessions between hosts');
  const wanted = process.env['TRIBE_BENCH_PART']?.split(',');
  for (const [name, part] of Object.entries(PARTS)) {
    if (!wanted || wanted.includes(name)) await part(ctx);
  }
}
