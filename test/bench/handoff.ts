/**
 * Section 6 of `npm run bench`: three-party handoff.
 *
 * A reference to an object of vat C reaches vat A through a third party — the
 * embedder (host API), another vat B, or another host. Where a handoff is
 * implemented, A then calls C over its own channel; where it is not, the
 * reference stays a proxy through the third party. This section measures the
 * difference with the user-level API only (actor modules, startHost, E,
 * names.lookup, sturdy refs), so it reads the same before and after.
 *
 * 1. Round trips/s, sequential calls from vat A (timed inside A) on a
 *    reference to C obtained: directly (A looks C up itself: the baseline);
 *    handed on by the embedder; handed on by vat B; a non-root object of C
 *    handed on by B; and, for context, a non-root object A made itself.
 * 2. The same across three hosts: C on host 3 and A on host 2 (child
 *    processes), the third party on host 1 (this process: its embedder and
 *    its vat B). Direct = A enlivens C's sturdy ref itself. Host 1's session
 *    frame counters tell whether calls still pass through it.
 * 3. Handoff latency, in one host and across hosts: the embedder times
 *    `E(b).handOn(i)` — B hands a fresh counter of C to A, A's first call on it
 *    is answered — against `E(b).callHeld(i)`, the same call through A on a
 *    fresh counter A made itself. Both include one embedder → B round trip;
 *    their difference is the handoff's cost.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E, startHost, type Host } from '../../runtime/index.js';
import { startPeer, type Peer } from './net/peers.js';
import { fmt, median, quantile, summarize, timed, type RowInput, type Summary } from './stats.js';

export interface HandoffConfig {
  /** Sequential calls per round-trip repetition. */
  readonly calls: number;
  readonly reps: number;
  readonly warmups: number;
  /** Timed handoffs (and as many baseline calls) per setting. */
  readonly samples: number;
  /** Untimed handoffs first: the first one may set up a channel. */
  readonly sampleWarmups: number;
}

export interface HandoffContext {
  readonly config: HandoffConfig;
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
  tempDir(prefix: string): string;
}

/** A handed-on reference should reach at least this fraction of a direct one's round trips/s. */
const HANDOFF_GOAL = 0.9;

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);

/** How vat A got its reference to C, as keys of the holder actor (actors/handoff-holder.ts). */
const VARIANTS = [
  { key: 'direct', label: 'E() round trips/s, A → C, reference A looked up itself (direct)' },
  { key: 'host', label: '  C root handed to A by the embedder' },
  { key: 'vat', label: '  C root handed to A by vat B' },
  { key: 'vat-counter', label: '  non-root object of C handed to A by vat B' },
  { key: 'direct-counter', label: '  non-root object of C that A made itself (context)' },
] as const;
type VariantKey = (typeof VARIANTS)[number]['key'];

/** One setting (one host, or three): A's and B's roots as the embedder holds them. */
interface Setting {
  readonly section: string;
  readonly detailKey: string;
  readonly a: any;
  readonly b: any;
  /** How each variant's reference reached A, for the notes. */
  readonly how: Record<VariantKey, string>;
  /** Session frames (in + out) host 1 has carried so far; undefined within one host. */
  readonly relayFrames?: () => number;
}

/** Gives A its five references to C (the direct one first: the counters are made through it). */
const handOnAll = async (s: Setting, direct: Promise<boolean>, embedderC: unknown) => {
  const ok = (what: string, v: boolean) => {
    if (v !== true) throw new Error(`${s.section}: ${what} did not answer its first ping`);
  };
  ok('direct', await timed(`${s.section} direct`, direct));
  ok('host', await timed(`${s.section} host hand-on`, E(s.a).setTarget('host', embedderC)));
  ok('vat', await timed(`${s.section} vat hand-on`, E(s.b).handRoot('vat')));
  ok('vat-counter', await timed(`${s.section} counter hand-on`, E(s.b).handCounter('vat-counter')));
  ok('direct-counter', await timed(`${s.section} own counter`, E(s.a).makeOwn('direct-counter', 'direct')));
};

const range = (xs: readonly number[]) => `median ${fmt(median(xs), 2)}, range ${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;

const measureRoundTrips = async (ctx: HandoffContext, s: Setting) => {
  const { config } = ctx;
  const run = (key: VariantKey, n: number) => timed(`${s.section} ${key} calls`, E(s.a).sequential(key, n) as Promise<number>);
  for (let i = 0; i < config.warmups; i += 1) {
    for (const v of VARIANTS) await run(v.key, Math.ceil(config.calls / 2));
  }
  const rates = new Map<VariantKey, number[]>(VARIANTS.map((v) => [v.key, []]));
  const frames = new Map<VariantKey, number[]>(VARIANTS.map((v) => [v.key, []]));
  for (let rep = 0; rep < config.reps; rep += 1) {
    // Rotate who goes first, so drift on a noisy machine hits everyone alike.
    for (let i = 0; i < VARIANTS.length; i += 1) {
      const { key } = VARIANTS[(i + rep) % VARIANTS.length]!;
      const before = s.relayFrames?.() ?? 0;
      const ms = await run(key, config.calls);
      frames.get(key)!.push(((s.relayFrames?.() ?? 0) - before) / config.calls);
      rates.get(key)!.push((config.calls * 1000) / Math.max(ms, 1));
    }
  }
  const sums = Object.fromEntries([...rates].map(([k, v]) => [k, summarize(v)])) as Record<VariantKey, Summary>;
  const paired = (k: VariantKey) => rates.get(k)!.map((x, i) => x / rates.get('direct')![i]!);
  // Frames through host 1 per call: the fewest of any repetition. A run can only gain frames from
  // elsewhere (CTP_DROPs of an earlier proxied run's answers arrive when some GC finalizes them; the
  // embedder's start and answer of the run), never lose its own.
  const relayPerCall = (k: VariantKey) => (s.relayFrames ? Math.min(...frames.get(k)!) : undefined);
  ctx.details[`${s.detailKey}.roundTrips`] = {
    calls: config.calls,
    ...sums,
    pairedRatioVsDirect: Object.fromEntries(VARIANTS.map((v) => [v.key, summarize(paired(v.key))])),
    ...(s.relayFrames ? { host1FramesPerCall: Object.fromEntries(VARIANTS.map((v) => [v.key, summarize(frames.get(v.key)!)])) } : {}),
  };
  const direct = sums.direct.median;
  for (const v of VARIANTS) {
    const ours = sums[v.key].median;
    const ratio = ours / direct;
    const relay = relayPerCall(v.key);
    const relayNote = relay !== undefined ? `; session frames through host 1 per call ${fmt(relay, 2)} (fewest of any repetition)` : '';
    const spread = `${fmt(sums[v.key].min, 0)}–${fmt(sums[v.key].max, 0)}/s${relayNote}`;
    if (v.key === 'direct') {
      ctx.row({ section: s.section, metric: v.label, unit: 'calls/s', ours, note: `${s.how.direct}; the baseline of the rows below; ${spread}` });
      continue;
    }
    const goal = v.key === 'direct-counter' ? '' : `goal ≥ ${HANDOFF_GOAL} × direct: ${ratio >= HANDOFF_GOAL ? 'MET' : 'MISSED'}; `;
    ctx.row({
      section: s.section,
      metric: v.label,
      unit: 'calls/s',
      ours,
      baseline: direct,
      baselineName: 'direct',
      note: `${goal}${s.how[v.key]}; per-repetition ratios ${range(paired(v.key))}; ${spread}`,
    });
  }
  ctx.log(`  ${s.section}: ${VARIANTS.map((v) => `${v.key} ${fmt(sums[v.key].median, 0)}/s`).join(', ')}`);
};

const measureLatency = async (ctx: HandoffContext, s: Setting) => {
  const { config } = ctx;
  const handoff: number[] = [];
  const held: number[] = [];
  const warm: { handoff: number; held: number }[] = [];
  const relay: number[] = [];
  const clock = async (what: string, p: () => Promise<unknown>) => {
    const t = performance.now();
    if ((await timed(`${s.section} ${what}`, p())) !== 1) throw new Error(`${s.section}: ${what} answered wrongly`);
    return performance.now() - t;
  };
  for (let i = 0; i < config.sampleWarmups + config.samples; i += 1) {
    // Fresh objects of C for this sample, made before the clock starts: B's for the handoff, A's own for the baseline.
    await timed(`${s.section} prepare`, Promise.all([E(s.b).prepare(i), E(s.a).holdFresh(i, 'direct')]));
    let h = 0;
    let b = 0;
    const before = s.relayFrames?.() ?? 0;
    if (i % 2 === 0) {
      h = await clock('handOn', () => E(s.b).handOn(i));
      b = await clock('callHeld', () => E(s.b).callHeld(i));
    } else {
      b = await clock('callHeld', () => E(s.b).callHeld(i));
      h = await clock('handOn', () => E(s.b).handOn(i));
    }
    if (i < config.sampleWarmups) {
      warm.push({ handoff: h, held: b });
      continue;
    }
    relay.push((s.relayFrames?.() ?? 0) - before);
    handoff.push(h);
    held.push(b);
  }
  const diff = handoff.map((x, i) => x - held[i]!);
  const sum = { handoff: summarize(handoff), held: summarize(held), difference: summarize(diff) };
  ctx.details[`${s.detailKey}.latency`] = {
    samples: config.samples,
    ...sum,
    p90: { handoff: quantile(handoff, 0.9), held: quantile(held, 0.9), difference: quantile(diff, 0.9) },
    warmups: warm,
    // The fewest of any sample: late CTP_DROPs of earlier calls can only add frames (see measureRoundTrips).
    ...(s.relayFrames ? { host1FramesPerSamplePair: { fewest: Math.min(...relay), median: median(relay) } } : {}),
  };
  const what = `timed by the embedder around E(b).handOn(i) (B hands a fresh counter of C to A, A's first call on it answered); baseline E(b).callHeld(i), the same call on a fresh counter A made itself; both include one embedder → B round trip`;
  ctx.row({
    section: s.section,
    metric: 'handoff latency, median: hand-on → first call answered',
    unit: 'ms',
    ours: sum.handoff.median,
    baseline: sum.held.median,
    baselineName: 'A already holds the object',
    note: `handoff cost (median of paired differences) ${fmt(sum.difference.median, 2)} ms over ${config.samples} samples; ${what}; first (warm-up) handoff ${fmt(warm[0]?.handoff ?? NaN, 2)} ms`,
  });
  ctx.row({
    section: s.section,
    metric: '  handoff latency, p90',
    unit: 'ms',
    ours: quantile(handoff, 0.9),
    baseline: quantile(held, 0.9),
    baselineName: 'A already holds the object',
    note: `p90 of paired differences ${fmt(quantile(diff, 0.9), 2)} ms`,
  });
  ctx.log(`  ${s.section} latency: handoff ${fmt(sum.handoff.median, 2)} ms, held ${fmt(sum.held.median, 2)} ms (median)`);
};

const oneHost = async (ctx: HandoffContext) => {
  const host = await startHost({ home: ctx.tempDir('tribe-bench-handoff-'), control: false, restore: false, print: () => {} });
  try {
    const { root: c } = await host.spawnVat({ module: actorTs('handoff-target'), name: 'handoff-c' });
    const { root: a } = await host.spawnVat({ module: actorTs('handoff-holder'), name: 'handoff-a' });
    const { root: b } = await host.spawnVat({ module: actorTs('handoff-passer'), name: 'handoff-b' });
    if ((await timed('handoff B connect', E(b).connect('handoff-a', 'handoff-c'))) !== true) throw new Error('vat B could not reach vat C');
    const s: Setting = {
      section: 'handoff, one host',
      detailKey: 'handoff.oneHost',
      a,
      b,
      how: {
        direct: "A: powers.names.lookup('c')",
        host: "the embedder's spawnVat root of C, E(a).setTarget(cRoot)",
        vat: "B: names.lookup('c'), then E(a).setTarget(c)",
        'vat-counter': 'B: E(c).makeCounter(), then E(a).setTarget(counter)',
        'direct-counter': 'A: E(direct).makeCounter()',
      },
    };
    await handOnAll(s, E(a).lookup('direct', 'handoff-c'), c);
    await measureRoundTrips(ctx, s);
    await measureLatency(ctx, s);
    ctx.details['handoff.oneHost.vatPeers'] = host.ps().vats.map((v) => ({ name: v.name, peers: v.peers }));
  } finally {
    await host.stop();
  }
};

const framesOf = (sessions: readonly { framesIn: number; framesOut: number }[]) => sessions.reduce((n, x) => n + x.framesIn + x.framesOut, 0);

const threeHosts = async (ctx: HandoffContext) => {
  const peers: Peer[] = [];
  let host1: Host | undefined;
  try {
    const host3 = await startPeer('handoff host 3', './vat-host-peer.js', ['handoff-c=handoff-target']);
    peers.push(host3);
    const host2 = await startPeer('handoff host 2', './vat-host-peer.js', ['handoff-a=handoff-holder']);
    peers.push(host2);
    const cRef = host3.hello['refs']['handoff-c'] as string;
    const aRef = host2.hello['refs']['handoff-a'] as string;
    const h1 = await startHost({ home: ctx.tempDir('tribe-bench-handoff-1-'), control: false, restore: false, print: () => {}, listen: '127.0.0.1:0' });
    host1 = h1;
    const { root: b } = await h1.spawnVat({ module: actorTs('handoff-passer'), name: 'handoff-b' });
    if ((await timed('handoff B connect', E(b).connect(aRef, cRef))) !== true) throw new Error('vat B on host 1 could not reach vat C on host 3');
    const a = await timed('enliven A', h1.enliven(aRef));
    const c = await timed('enliven C', h1.enliven(cRef));
    const s: Setting = {
      section: 'handoff, three hosts',
      detailKey: 'handoff.threeHosts',
      a,
      b,
      how: {
        direct: "A on host 2: powers.names.lookup(C's sturdy ref)",
        host: "host 1's embedder: host.enliven(C's sturdy ref), then E(a).setTarget(c) on A reached by its sturdy ref",
        vat: "vat B on host 1: names.lookup of both sturdy refs, then E(a).setTarget(c)",
        'vat-counter': 'vat B on host 1: E(c).makeCounter(), then E(a).setTarget(counter)',
        'direct-counter': 'A on host 2: E(direct).makeCounter()',
      },
      relayFrames: () => framesOf(h1.ps().sessions),
    };
    await handOnAll(s, E(a).lookup('direct', cRef), c);
    await measureRoundTrips(ctx, s);
    await measureLatency(ctx, s);
    ctx.details['handoff.threeHosts.sessions'] = {
      host1: h1.ps().sessions,
      host2: await host2.call('sessions'),
      host3: await host3.call('sessions'),
    };
  } finally {
    await host1?.stop();
    await Promise.all(peers.map((p) => p.stop()));
  }
};

export async function benchHandoff(ctx: HandoffContext): Promise<void> {
  ctx.log('[6/6] three-party handoff');
  await oneHost(ctx);
  await threeHosts(ctx);
}
