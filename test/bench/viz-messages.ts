/**
 * The cost of tracing calls for the visualizer ("messages between actors"):
 * cross-vat E() round trips/s between two vats of one host, in three settings
 * measured in the same run, repetitions interleaved and rotated:
 *
 * - `off`: a host started with `vizCalls: false` — vats are never told to
 *   trace; their connections still carry the hook, which reads a flag. This is
 *   the host as it ran before call tracing, up to that flag.
 * - `closed`: the default host with no page open (its store's history is a
 *   watcher, which does not count): tracing is off.
 * - `open`: the same host while a watcher takes every batch and serializes it
 *   as the page server does: the vats trace, at most
 *   DEFAULT_CALL_TRACE_LIMITS.callsPerSecond calls a second each, the rest
 *   counted as dropped.
 *
 * The round-trip settings run on a shared machine, where run-to-run noise is
 * larger than the effect; a micro-measurement of the hook itself (per CapTP
 * message, tracing off, and on past the rate) bounds the cost exactly: a
 * round trip passes the hook four times (the call leaves, arrives; its answer
 * leaves, arrives).
 *
 * Run alone: `node dist/test/bench/viz-messages.js` (after `npm run build`);
 * `--quick` for fewer calls. Prints one line per setting and mode, the paired
 * ratios, and the raw numbers as JSON.
 */
import '../helpers/track-promises.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E, startHost, type Host } from '../../runtime/index.js';
import type { Update } from '../../runtime/viz/model.js';
import { DEFAULT_CALL_TRACE_LIMITS, makeCallTracer } from '../../vats/call-trace.js';
import { fmt, summarize } from './stats.js';

const QUICK = process.argv.includes('--quick');
const CONFIG = {
  seqCalls: QUICK ? 500 : 3000,
  concCalls: QUICK ? 1000 : 6000,
  window: 16,
  reps: QUICK ? 3 : 9,
  warmups: 1,
};
/** The goal: tracing costs under this fraction of cross-vat throughput with no page open. */
const CLOSED_GOAL = 0.05;

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);
const homes: string[] = [];
const newHost = (opts: { vizCalls: boolean }) => {
  const home = mkdtempSync(join(tmpdir(), 'tribe-bench-vizmsg-'));
  homes.push(home);
  return startHost({ home, control: false, restore: false, print: () => {}, viz: 0, listen: false, spareWorkers: 0, ...opts });
};

const pair = async (host: Host) => {
  await host.spawnVat({ module: actorTs('pinger'), name: 'target' });
  const { root } = await host.spawnVat({ module: actorTs('driver'), name: 'driver' });
  if ((await E(root).connect('target')) !== true) throw new Error('the driver could not reach its target');
  return root as any;
};

interface Setting {
  readonly key: 'off' | 'closed' | 'open';
  readonly label: string;
  readonly root: any;
  /** Before and after each run: open the "page" or not. */
  readonly around?: () => () => void;
}

/** ns per hook call: tracing off, and on past the rate (a busy vat's usual case: counted, not recorded). */
const microHook = () => {
  const tracer = makeCallTracer({
    self: 'h/a',
    now: Date.now,
    precise: () => performance.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    post: () => {},
    refs: () => [],
  });
  const hook = tracer.hook('h/b', false);
  const call = { type: 'CTP_CALL', epoch: 0, questionID: 'q-1', target: 'o-1', method: { body: '["ping",[1]]', slots: [] } };
  const answer = { type: 'CTP_RETURN', epoch: 0, answerID: 'q-9', result: { body: '1', slots: [] } };
  const N = QUICK ? 1_000_000 : 5_000_000;
  const time = () => {
    const start = performance.now();
    for (let i = 0; i < N; i++) {
      hook('out', call);
      hook('in', answer);
    }
    return ((performance.now() - start) * 1e6) / (2 * N);
  };
  time();
  const off = Math.min(time(), time(), time());
  tracer.set(true);
  // Fill this second's allowance, so the timed calls are past the rate.
  for (let i = 0; i < DEFAULT_CALL_TRACE_LIMITS.callsPerSecond; i++) hook('out', call);
  const over = Math.min(time(), time(), time());
  tracer.set(false);
  return { offNs: off, overRateNs: over };
};

const main = async () => {
  const off = await newHost({ vizCalls: false });
  const on = await newHost({ vizCalls: true });
  let calls = 0;
  let dropped = 0;
  try {
    const settings: Setting[] = [
      { key: 'off', label: 'tracing forced off (vizCalls: false)', root: await pair(off) },
      { key: 'closed', label: 'no page open (default host)', root: await pair(on) },
      {
        key: 'open',
        label: 'a page open (same host)',
        root: undefined,
        // A watcher that serializes every batch, as the page server writes it to its stream.
        around: () =>
          on.inspector.watch((batch: readonly Update[]) => {
            JSON.stringify(batch);
            for (const u of batch) {
              if (u.k === 'call') calls++;
              else if (u.k === 'vat-calls') dropped += u.dropped;
            }
          }),
      },
    ];
    const open = settings[2] as { root: any };
    open.root = settings[1]!.root;
    const modes = [
      { key: 'sequential', label: 'E() round trips/s, sequential', n: CONFIG.seqCalls, run: (r: any, n: number) => E(r).sequential(n) },
      { key: 'concurrent', label: `E() round trips/s, ${CONFIG.window} outstanding`, n: CONFIG.concCalls, run: (r: any, n: number) => E(r).concurrent(n, CONFIG.window) },
    ] as const;
    const results: Record<string, unknown> = {};
    console.log(`viz messages: the cost of call tracing (limit ${DEFAULT_CALL_TRACE_LIMITS.callsPerSecond} traced calls/s per vat)${QUICK ? ' [quick]' : ''}`);
    for (const mode of modes) {
      const runOnce = async (s: Setting, n: number) => {
        const close = s.around?.();
        try {
          return (await mode.run(s.root, n)) as number;
        } finally {
          close?.();
        }
      };
      for (let i = 0; i < CONFIG.warmups; i++) for (const s of settings) await runOnce(s, Math.ceil(mode.n / 2));
      const rates = new Map<string, number[]>(settings.map((s) => [s.key, []]));
      for (let rep = 0; rep < CONFIG.reps; rep++) {
        // Rotate who goes first, so drift on a noisy machine hits everyone alike.
        for (let i = 0; i < settings.length; i++) {
          const s = settings[(i + rep) % settings.length]!;
          const ms = await runOnce(s, mode.n);
          rates.get(s.key)!.push((mode.n * 1000) / Math.max(ms, 1));
        }
      }
      const sums = Object.fromEntries([...rates].map(([k, v]) => [k, summarize(v)]));
      const paired = (k: string) => summarize(rates.get(k)!.map((x, i) => x / rates.get('off')![i]!));
      results[mode.key] = { calls: mode.n, ...sums, closedVsOff: paired('closed'), openVsOff: paired('open') };
      console.log(`\n${mode.label} (${mode.n} calls × ${CONFIG.reps} reps, median [min–max])`);
      for (const s of settings) {
        const sum = sums[s.key]!;
        const ratio = s.key === 'off' ? '' : `  ×${paired(s.key).median.toFixed(3)} of off (paired median)`;
        console.log(`  ${s.label.padEnd(38)} ${fmt(sum.median, 0).padStart(7)} [${fmt(sum.min, 0)}–${fmt(sum.max, 0)}]${ratio}`);
      }
      const cost = 1 - paired('closed').median;
      console.log(`  cost with no page open: ${(cost * 100).toFixed(1)} % (goal < ${CLOSED_GOAL * 100} %)${cost < CLOSED_GOAL ? '' : '  ✗ over the goal'}`);
      console.log(`  cost with a page open:  ${((1 - paired('open').median) * 100).toFixed(1)} %`);
    }
    const micro = microHook();
    const offRtt = 1e9 / (results['sequential'] as { off: { median: number } }).off.median;
    console.log(
      `\nthe hook alone, per CapTP message: ${micro.offNs.toFixed(1)} ns with tracing off, ${micro.overRateNs.toFixed(1)} ns on and past the rate;` +
        ` 4 per round trip = ${((4 * micro.offNs * 100) / offRtt).toFixed(4)} % / ${((4 * micro.overRateNs * 100) / offRtt).toFixed(4)} % of a sequential round trip (${(offRtt / 1000).toFixed(0)} µs)`,
    );
    results['hook'] = micro;
    // Proof that the open setting traced: records reached the watcher, and the rest were counted.
    console.log(`\nwhile open: ${calls} call records reached the watcher, ${dropped} calls counted as not traced`);
    if (calls === 0) throw new Error('no call was traced while the page was open: the bench measured nothing');
    console.log(JSON.stringify({ config: CONFIG, results, traced: calls, dropped }));
  } finally {
    await Promise.all([off.stop(), on.stop()]);
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }
};

await main();
