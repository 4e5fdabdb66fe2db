/**
 * Sums the self time of a V8 `.cpuprofile` (from `node --cpu-prof`) by layer of
 * the @endo stack, and splits SES `harden` time by who called it (the nearest
 * frame outside the hardener). For captp-micro.ts profiles; see
 * docs/performance-upstream-draft.md.
 *
 *   node dist/test/bench/cpuprofile-summary.js FILE.cpuprofile [--calls=N] [--top=30]
 *
 * `--calls`: round trips in the profile, to print µs per call next to the shares.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Layers, first match wins; `url` is the frame's file URL, `fn` its function name. */
const LAYERS: readonly (readonly [string, (url: string, fn: string) => boolean])[] = [
  ['GC', (_u, fn) => fn === '(garbage collector)'],
  ['idle / program', (_u, fn) => fn === '(idle)' || fn === '(program)' || fn === '(root)'],
  ['SES harden', (u) => /ses\/src\/make-hardener\.js|@endo\/harden\//.test(u)],
  ['@endo/marshal', (u) => u.includes('@endo/marshal/')],
  ['@endo/pass-style (Far, passStyleOf)', (u) => u.includes('@endo/pass-style/')],
  ['@endo/eventual-send (E, HandledPromise)', (u) => u.includes('@endo/eventual-send/')],
  ['@endo/captp', (u) => u.includes('@endo/captp/')],
  ['microtask queue (promise reactions)', (_u, fn) => fn === 'runMicrotasks'],
  ['other SES / @endo', (u) => u.includes('/ses/') || u.includes('@endo/')],
  ['node internals (timers, MessagePort, async hooks)', (u) => u.startsWith('node:')],
  ['bench glue', (u) => u.includes('/test/bench/')],
];
const layerOf = (f: CallFrame): string => LAYERS.find(([, m]) => m(f.url, f.functionName))?.[0] ?? 'other';

const short = (f: CallFrame): string => {
  const file = f.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
};

export interface ProfileSummary {
  readonly totalMs: number;
  readonly layers: readonly { name: string; ms: number }[];
  readonly hardenCallers: readonly { caller: string; ms: number }[];
  readonly top: readonly { fn: string; ms: number }[];
}

export const summarizeProfile = (p: Profile): ProfileSummary => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });

  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const layers = new Map<string, number>();
  const callers = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const layer = layerOf(node.callFrame);
    total += us;
    add(layers, layer, us);
    add(fns, short(node.callFrame), us);
    if (layer === 'SES harden') {
      let up = parent.get(id);
      while (up !== undefined && layerOf(byId.get(up)!.callFrame) === 'SES harden') up = parent.get(up);
      add(callers, up === undefined ? '(none)' : short(byId.get(up)!.callFrame), us);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total / 1000,
    layers: sorted(layers).map(([name, us]) => ({ name, ms: us / 1000 })),
    hardenCallers: sorted(callers).map(([caller, us]) => ({ caller, ms: us / 1000 })),
    top: sorted(fns).map(([fn, us]) => ({ fn, ms: us / 1000 })),
  };
};

const main = () => {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) throw new Error('usage: cpuprofile-summary FILE.cpuprofile [--calls=N] [--top=30]');
  const num = (name: string) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? NaN);
  const calls = num('calls');
  const top = Number.isNaN(num('top')) ? 30 : num('top');
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const busy = s.totalMs - (s.layers.find((l) => l.name === 'idle / program')?.ms ?? 0);
  const row = (label: string, ms: number) =>
    `| ${label} | ${((100 * ms) / busy).toFixed(1)} % |${Number.isNaN(calls) ? '' : ` ${((ms * 1000) / calls).toFixed(1)} |`}`;
  console.log(`total ${s.totalMs.toFixed(0)} ms, busy (without idle/program) ${busy.toFixed(0)} ms`);
  console.log(`\n| layer (self time) | share of busy |${Number.isNaN(calls) ? '' : ' µs per call |'}`);
  for (const l of s.layers) if (l.name !== 'idle / program') console.log(row(l.name, l.ms));
  const perCall = Number.isNaN(calls) ? '' : ' µs per call |';
  console.log(`\n| harden called from | share of busy |${perCall}`);
  for (const c of s.hardenCallers.slice(0, top)) console.log(row(c.caller, c.ms));
  console.log(`\n| function (self) | share of busy |${perCall}`);
  for (const f of s.top.slice(0, top)) console.log(row(f.fn, f.ms));
};

if (import.meta.url === `file://${process.argv[1]}`) main();
