/**
 * Measures proposed @endo patches (docs/patches/*.patch) with captp-micro.ts,
 * each alone and all together, against the unpatched packages, in one run.
 *
 * For each variant it copies the project's node_modules/@endo and
 * node_modules/ses to a temporary directory and applies the variant's patches
 * there (`patch -p1`); the project's own node_modules is never touched. Then it
 * runs `captp-micro.js --endo=<that copy>` in a fresh process per variant and
 * round, rotating the order every round so that drift on a shared machine hits
 * all variants alike, and prints medians and ratios to the first variant (by
 * default the unpatched one).
 *
 *   node dist/test/bench/captp-variants.js [--rounds=5] [--variants=pristine,NAME,...,all | leave-one-out]
 *     [--out=FILE.json] [captp-micro options: --setup=inproc --reps=3 --seq=2000 ...]
 *   node dist/test/bench/captp-variants.js --check
 *
 * `--check` measures nothing: it runs captp-equivalence.js for every variant
 * and fails unless each transcript equals the unpatched one.
 *
 * `pristine` is the unpatched packages, NAME a file docs/patches/NAME.patch, and
 * `all` every patch in docs/patches applied in name order, `all-NAME` all but
 * NAME (what NAME adds to the others); `project` runs on the
 * project's own node_modules (no copy), which `--tables=tribe` needs. A variant
 * may add captp-micro options of its own after `@`: `pristine@batch=microtask`
 * is the unpatched packages with batched messages. Ratios are to the first
 * variant listed (by default `pristine`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';
import type { Sample } from './captp-micro.js';

const here = fileURLToPath(new URL('.', import.meta.url));
/** dist/test/bench → the project root. */
const projectRoot = join(here, '..', '..', '..');
const patchDir = join(projectRoot, 'docs', 'patches');
const microScript = join(here, 'captp-micro.js');

const allPatches = (): string[] =>
  readdirSync(patchDir)
    .filter((f) => f.endsWith('.patch'))
    .map((f) => f.slice(0, -'.patch'.length))
    .sort();

/** A copy of @endo and ses with `patches` applied; returns the directory holding its node_modules. */
const buildVariant = (root: string, name: string, patches: readonly string[]): string => {
  const dir = join(root, name);
  const nm = join(dir, 'node_modules');
  mkdirSync(nm, { recursive: true });
  for (const pkg of ['@endo', 'ses']) cpSync(join(projectRoot, 'node_modules', pkg), join(nm, pkg), { recursive: true });
  for (const p of patches) {
    execFileSync('patch', ['-p1', '--forward', '--batch', '-s', '-d', nm, '-i', join(patchDir, `${p}.patch`)], { stdio: 'inherit' });
  }
  return dir;
};

/** captp-equivalence.js's transcript for one variant; a crash ends it with a line saying so. */
const transcript = (endo: string): string => {
  try {
    return execFileSync(process.execPath, [join(here, 'captp-equivalence.js'), `--endo=${endo}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    return `${stdout}\nCRASHED: ${String(stderr).trim().split('\n').slice(0, 3).join(' | ')}`;
  }
};

/** Every variant's transcript against the unpatched one; returns whether all are identical. */
const check = (dirs: ReadonlyMap<string, string>): boolean => {
  const base = transcript(dirs.get('pristine')!).split('\n');
  let same = true;
  for (const [v, dir] of dirs) {
    if (v === 'pristine') continue;
    const lines = transcript(dir).split('\n');
    const at = lines.findIndex((l, i) => l !== base[i]);
    if (at < 0 && lines.length === base.length) {
      console.log(`${v}: transcript identical (${lines.length} lines)`);
      continue;
    }
    same = false;
    const n = at < 0 ? Math.min(lines.length, base.length) : at;
    const crash = lines.find((l) => l.startsWith('CRASHED: '));
    console.log(`${v}: transcript differs at line ${n + 1}:\n  pristine: ${base[n]}\n  ${v}: ${crash ?? lines[n]}`);
  }
  return same;
};

const runMicro = (endo: string | undefined, passThrough: readonly string[]): Promise<Sample[]> =>
  new Promise((resolve, reject) => {
    const endoArg = endo === undefined ? [] : [`--endo=${endo}`];
    const child = spawn(process.execPath, [microScript, ...endoArg, '--json', ...passThrough], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`captp-micro exited with ${code} for ${endo}`));
      try {
        resolve((JSON.parse(out.trim().split('\n').pop()!) as { samples: Sample[] }).samples);
      } catch (err) {
        reject(err);
      }
    });
  });

/** The patches a variant's code applies, in name order. */
const patchesOf = (code: string, patches: readonly string[]): string[] => {
  if (code === 'pristine') return [];
  if (code === 'all') return [...patches];
  if (code.startsWith('all-')) {
    const left = code.slice('all-'.length);
    if (!patches.includes(left)) throw new Error(`no patch ${left} to leave out`);
    return patches.filter((p) => p !== left);
  }
  if (!patches.includes(code)) throw new Error(`no patch docs/patches/${code}.patch`);
  return [code];
};

/** `NAME@opt=value@...`: the code is NAME's, and captp-micro gets `--opt=value ...` on top. */
const codeOf = (variant: string): string => variant.split('@')[0]!;
const optionsOf = (variant: string): string[] =>
  variant
    .split('@')
    .slice(1)
    .map((o) => `--${o}`);

interface Row {
  variant: string;
  setup: string;
  mode: string;
  callsPerSec: number;
  cpuUsPerCall: number;
  /** Median over rounds of (this variant's median calls/s ÷ the first variant's, same round). */
  ratio: number;
  /** The same for CPU per call (below 1 = cheaper). */
  cpuRatio: number;
}

const main = async () => {
  const args = process.argv.slice(2);
  const get = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const rounds = Number(get('rounds') ?? '5');
  const out = get('out');
  const patches = allPatches();
  const variantList = get('variants') ?? ['pristine', ...patches, 'all'].join(',');
  /** `--variants=leave-one-out`: pristine, all, and all but each patch. */
  const variants = (
    variantList === 'leave-one-out' ? ['pristine', 'all', ...patches.map((p) => `all-${p}`)].join(',') : variantList
  ).split(',');
  const own = new Set(['rounds', 'variants', 'out', 'check']);
  const passThrough = args.filter((a) => !own.has(a.slice(2).split('=')[0]!));

  const root = mkdtempSync(join(tmpdir(), 'tribe-captp-variants-'));
  try {
    const dirs = new Map<string, string>();
    for (const v of new Set(variants.map(codeOf))) {
      if (v === 'project') continue;
      const applied = patchesOf(v, patches);
      dirs.set(v, buildVariant(root, v, applied));
    }
    if (args.includes('--check')) {
      if (!dirs.has('pristine')) throw new Error('--check needs the pristine variant');
      dirs.delete('project');
      if (variants.some((v) => v.includes('@'))) throw new Error('--check compares code only: drop the @options');
      process.exitCode = check(dirs) ? 0 : 1;
      return;
    }
    /** samples[variant][round] */
    const samples = new Map<string, Sample[][]>(variants.map((v) => [v, []]));
    for (let r = 0; r < rounds; r += 1) {
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      for (const v of order) {
        process.stderr.write(`round ${r + 1}/${rounds}: ${v}\n`);
        samples.get(v)!.push(await runMicro(dirs.get(codeOf(v)), [...passThrough, ...optionsOf(v)]));
      }
    }
    const pick = (s: readonly Sample[], setup: string, mode: string, key: 'callsPerSec' | 'cpuUsPerCall') =>
      median(s.filter((x) => x.setup === setup && x.mode === mode).map((x) => x[key]));
    const rows: Row[] = [];
    const base = samples.get(variants[0]!);
    for (const v of variants) {
      const perRound = samples.get(v)!;
      const flat = perRound.flat();
      for (const setup of ['inproc', 'workers']) {
        for (const mode of ['sequential', 'outstanding']) {
          if (!flat.some((x) => x.setup === setup && x.mode === mode)) continue;
          const ratioOf = (key: 'callsPerSec' | 'cpuUsPerCall') =>
            base ? median(perRound.map((s, r) => pick(s, setup, mode, key) / pick(base[r]!, setup, mode, key))) : NaN;
          rows.push({
            variant: v,
            setup,
            mode,
            callsPerSec: pick(flat, setup, mode, 'callsPerSec'),
            cpuUsPerCall: pick(flat, setup, mode, 'cpuUsPerCall'),
            ratio: ratioOf('callsPerSec'),
            cpuRatio: ratioOf('cpuUsPerCall'),
          });
        }
      }
    }
    console.log(`captp-micro over patched @endo copies: ${rounds} rounds, ${passThrough.join(' ') || 'default options'}`);
    console.log('\n| variant | setup | mode | calls/s | ratio | µs CPU/call | CPU ratio |');
    console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      console.log(
        `| ${r.variant} | ${r.setup} | ${r.mode} | ${Math.round(r.callsPerSec)} | ${r.ratio.toFixed(2)} | ${r.cpuUsPerCall.toFixed(1)} | ${r.cpuRatio.toFixed(2)} |`,
      );
    }
    if (out) writeFileSync(out, JSON.stringify({ rounds, passThrough, variants, rows, samples: Object.fromEntries(samples) }, null, 1));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
};

await main();
