/**
 * Where the CPU goes during section 10's syncs: reads the profiles a
 * `TRIBE_BENCH_SAGA_PROFILE=DIR` run wrote (one per sister, cpu-prof-preload.ts;
 * and the bench process's own when it ran under `node --cpu-prof
 * --cpu-prof-dir=DIR`) and DIR/windows.json (when each sync ran, which pid held
 * which slot), keeps the samples inside the windows of one label, and sums self
 * time by layer and by function.
 *
 *   node dist/test/bench/saga-profile.js DIR [--label='bulk push'] [--top=20]
 *
 * Labels: `import`, `bulk push`, `no-op N` (over the tribe: the whole CLI
 * command, push and pull back), `in-process push`, `in-process no-op N`.
 *
 * Profiles and windows share a clock (the monotonic clock, in µs), so one
 * process's windows cut another's profile.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface Profile {
  readonly nodes: readonly { id: number; callFrame: CallFrame }[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}
interface Windows {
  /** The bench's own pid (its profile, from `node --cpu-prof`, holds the in-process sagas). */
  readonly bench: number;
  /** pid → slot. */
  readonly slots: Record<string, number>;
  readonly windows: readonly { label: string; from: number; to: number }[];
}

/** First match wins. Native calls (better-sqlite3 statements, crypto, writes) count in the JS frame that made them. */
const LAYERS: readonly (readonly [string, (url: string, fn: string) => boolean])[] = [
  ['idle', (_u, fn) => fn === '(idle)' || fn === '(program)' || fn === '(root)'],
  ['GC', (_u, fn) => fn === '(garbage collector)'],
  ['SQLite (space-store.js, better-sqlite3)', (u) => u.includes('better-sqlite3') || u.includes('saga/space-store.js')],
  ['XState', (u) => u.includes('/xstate/')],
  ['node:crypto (hash, sign, verify)', (u) => u.includes('internal/crypto') || u.includes('crypto-node.js')],
  ['saga codec (turn JSON, checks, sizes)', (u) => u.includes('saga/codec.js')],
  ['saga space (entry digests, hex)', (u) => u.includes('saga/space.js')],
  ['TextEncoder / TextDecoder', (u, fn) => u.includes('internal/encoding') || fn === 'encodeUtf8String' || fn === 'decodeUTF8'],
  ['saga initiator / responder', (u) => /saga\/(initiator|responder|endpoint)\.js/.test(u)],
  ['sister-sync (base64, endpoint)', (u) => u.includes('tribe/sister-sync.js')],
  ['SES harden', (u) => /ses\/src\/make-hardener\.js|@endo\/harden\//.test(u)],
  ['@endo marshal / captp / eventual-send / pass-style', (u) => u.includes('@endo/')],
  ['channels, framing, sessions (Tribe transport)', (u) => /dist\/(capabilities|protocols\/(framing|session|triple))\//.test(u)],
  ['socket and thread writes (writev, writeBuffer, postMessage)', (_u, fn) => ['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'postMessage'].includes(fn)],
  ['other node', (u) => u.startsWith('node:')],
];
const layerOf = (f: CallFrame) => LAYERS.find(([, m]) => m(f.url, f.functionName))?.[0] ?? 'other';
const short = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;

const main = () => {
  const args = process.argv.slice(2);
  const dir = args.find((a) => !a.startsWith('--'));
  if (!dir) throw new Error("usage: saga-profile DIR [--label='bulk push'] [--top=20]");
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const label = opt('label') ?? 'bulk push';
  const top = Number(opt('top') ?? 20);
  const w = JSON.parse(readFileSync(join(dir, 'windows.json'), 'utf8')) as Windows;
  const mine = w.windows.filter((x) => x.label === label);
  if (mine.length === 0) throw new Error(`no window labelled ${JSON.stringify(label)}; labels: ${[...new Set(w.windows.map((x) => x.label))].join(', ')}`);
  const wallMs = mine.reduce((s, x) => s + (x.to - x.from), 0) / 1000;
  console.log(`${mine.length} window(s) labelled ${JSON.stringify(label)}, ${wallMs.toFixed(0)} ms of wall time`);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    // The preload names a sister's profile <pid>.cpuprofile; `node --cpu-prof` names the bench's CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile.
    const pid = /^(\d+)\.cpuprofile$/.exec(file)?.[1] ?? /^CPU\.\d+\.\d+\.(\d+)\.0\./.exec(file)?.[1];
    if (pid === undefined) continue;
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    const layers = new Map<string, number>();
    const fns = new Map<string, number>();
    let t = p.startTime;
    let busy = 0;
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      t += dt;
      if (!mine.some((x) => t >= x.from && t <= x.to)) return;
      const f = byId.get(id)!;
      const layer = layerOf(f);
      if (layer === 'idle') return;
      busy += dt;
      layers.set(layer, (layers.get(layer) ?? 0) + dt);
      fns.set(short(f), (fns.get(short(f)) ?? 0) + dt);
    });
    if (busy === 0) continue;
    const who = Number(pid) === w.bench ? 'the bench process' : `slot ${w.slots[pid] ?? '?'}`;
    console.log(`\n## ${who} (pid ${pid}): busy ${(busy / 1000).toFixed(0)} ms of ${wallMs.toFixed(0)} ms\n`);
    const pct = (us: number) => `${((100 * us) / busy).toFixed(1)} %`;
    console.log('| layer (self time) | ms | share of busy |\n| --- | --- | --- |');
    for (const [k, us] of [...layers].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${(us / 1000).toFixed(0)} | ${pct(us)} |`);
    console.log('\n| function (self) | ms | share of busy |\n| --- | --- | --- |');
    for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${(us / 1000).toFixed(0)} | ${pct(us)} |`);
  }
};

main();
