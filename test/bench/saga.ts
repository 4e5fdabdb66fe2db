/**
 * Section 10 of `npm run bench`: the sync saga (Init / Ack / Delta / Commit).
 *
 * 1. A push between two real sister processes (`tribe host --core-size 2`, as
 *    a user starts it): N keys of ≈ 1 KiB imported on slot 0 with `tribe space
 *    import`, then `tribe sync --space S --with 1 --json`; the push row's `ms`
 *    (measured in slot 0's host, enliven to Committed). A fresh space per
 *    repetition, so each one moves every row.
 * 2. The same push in this process through the protocol alone: runInitiator
 *    against makeResponder on two SQLite stores, the responder passed as the
 *    endpoint (no CapTP, no network, no base64). A fresh responder store (and
 *    identity) per repetition.
 *    Baseline of 1 and 2, run after each repetition in this process: the same
 *    rows (same table, same sizes) copied between two SQLite files in one
 *    transaction (WAL, synchronous = FULL, as the saga's Commit), both ways —
 *    ATTACH + INSERT … SELECT, and a prepared-statement row loop — the faster
 *    median is the floor.
 * 3. A no-op: a push between sides that are in sync already (spaces of 1,000
 *    and 100,000 small keys, and an empty one), which ends after the Ack. Over
 *    the tribe the baseline is one E() round trip between a vat on slot 0 and
 *    a vat on slot 1 (timed inside the vat, 200 in a row); in this process it
 *    is the same Init and Ack turns sealed and opened (JSON, Ed25519 sign and
 *    verify, hash) with nothing else: the crypto floor of signed turns.
 *
 * Every process this starts is stopped (`tribe stop`), then any slot's process
 * still alive is killed (test/helpers/tribe.ts killTribe). The in-process half
 * (data, floor, parties) is saga-local.ts; profiles: saga-profile.ts.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from '../helpers/bounded.js';
import { cliPath } from '../helpers/cli.js';
import { isAlive, killGroup, spawnTracked } from '../helpers/processes.js';
import { killTribe, slotHome, slotPids, tribeReady } from '../helpers/tribe.js';
import { entriesOf, FLOOR_NAMES, floorOf, floorSample, floorSamples, type FloorSamples, type LocalNoop, type LocalRun, localBulk, localNoops, makeSide, payloadBytes, writeJsonLines } from './saga-local.js';
import { fmt, median, summarize, type RowInput } from './stats.js';

export interface SagaBenchConfig {
  /** Keys of the bulk push. */
  readonly keys: number;
  /** Characters of each bulk value (ASCII: bytes too). */
  readonly valueBytes: number;
  /** Bulk pushes over the tribe (each imports a fresh space first). */
  readonly bulkReps: number;
  /** Bulk pushes in this process (each to a fresh responder store). */
  readonly localBulkReps: number;
  /** Sizes of the spaces that are in sync already (small values). */
  readonly noopKeys: readonly number[];
  /** No-op syncs over the tribe per size (each also takes one E() baseline sample). */
  readonly noopReps: number;
  /** No-op sagas in this process per size. */
  readonly localNoopReps: number;
  /** E() round trips per baseline sample (timed inside the driver vat). */
  readonly pings: number;
  /** Profile the main thread of both sisters into this directory (cpu-prof-preload.ts; written when they stop). */
  readonly profileDir?: string;
}

export interface SagaBenchContext {
  readonly config: SagaBenchConfig;
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
  tempDir(prefix: string): string;
}

/** A tribe not ready within this fails the section (a loaded 2-CPU machine is slow, never this slow). */
const READY_MS = 90_000;
/** One CLI command (an import or a sync of 100,000 keys takes tens of seconds here). */
const CLI_MS = 300_000;
/** After `tribe stop`, how long the sisters get to exit on their own (and write their profiles). */
const STOP_GRACE_MS = 15_000;
const POLL_MS = 50;
/** Characters of each value in the no-op spaces: their cost is per key, so keep the import cheap. */
const NOOP_VALUE_BYTES = 32;
const MB = 1e6;
/** The monotonic clock in µs: the clock of V8's CPU profiles, in every process of this machine. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the tribe through its CLI ------------------------------------------------------------

/** Runs one `tribe` command to its end (bounded; killed on timeout); answers its stdout, throws on a non-zero exit. */
const cli = async (args: readonly string[], what: string, ms = CLI_MS): Promise<string> => {
  const { child, exit } = spawnTracked(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  try {
    await within(closed, ms, what);
  } catch (e) {
    killGroup(child.pid!);
    throw e;
  }
  const { code } = await exit;
  if (code !== 0) throw new Error(`BenchError: tribe ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`);
  return out;
};

interface SyncRow {
  readonly direction: 'push' | 'pull';
  readonly state: string;
  readonly entries: number;
  readonly applied: number;
  readonly ms: number;
  readonly error?: string;
}

const syncOnce = async (home: string, space: string): Promise<{ push: SyncRow; pull: SyncRow }> => {
  const report = JSON.parse(await cli(['sync', '--space', space, '--with', '1', '--json', '--home', home], `tribe sync --space ${space}`)) as { results: SyncRow[] };
  const push = report.results.find((r) => r.direction === 'push');
  const pull = report.results.find((r) => r.direction === 'pull');
  if (!push || !pull || push.state === 'failed' || pull.state === 'failed') throw new Error(`BenchError: tribe sync --space ${space}: ${JSON.stringify(report.results)}`);
  return { push, pull };
};

const rootOn = async (home: string, slot: number, space: string): Promise<{ root: string; count: number }> =>
  JSON.parse(await cli(['space', 'root', space, '--json', '--home', slotHome(home, slot)], `tribe space root on slot ${slot}`));

const until = async (check: () => Promise<boolean>, ms: number, what: string) => {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`BenchError: ${what}: not within ${ms} ms`);
    await sleep(POLL_MS);
  }
};

/** Starts a tribe of two on `home`; answers its stop (graceful, then SIGKILL to whatever a slot still holds). */
const startTribe = async (home: string, profileDir: string | undefined, log: (l: string) => void) => {
  // Node refuses --cpu-prof in NODE_OPTIONS, and the first host spawns slot 1 with its own environment: a preload profiles both.
  const preload = new URL('./cpu-prof-preload.js', import.meta.url).href;
  const env = { ...process.env, ...(profileDir ? { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${preload}`.trim(), TRIBE_BENCH_CPU_PROF_DIR: profileDir } : {}) };
  const t0 = performance.now();
  const first = spawnTracked(process.execPath, [cliPath, 'host', '--home', home, '--core-size', '2', '--no-viz', '--no-discovery'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const stderr: string[] = [];
  first.child.stderr!.on('data', (d) => stderr.push(String(d)));
  const pids = new Set<number>([first.child.pid!]);
  const stop = async () => {
    for (const pid of slotPids(home).values()) pids.add(pid);
    await cli(['stop', '--home', home], 'tribe stop', 30_000).catch((e: unknown) => log(`  tribe stop: ${(e as Error).message}`));
    await until(async () => [...pids].every((p) => !isAlive(p)), STOP_GRACE_MS, 'the sisters to exit after tribe stop').catch(() => {});
    const left = [...pids].filter((p) => isAlive(p)).length;
    await killTribe(home);
    if (isAlive(first.child.pid!)) killGroup(first.child.pid!);
    await within(first.exit, 30_000, 'the first tribe host to exit');
    return left;
  };
  try {
    await until(async () => {
      for (const pid of slotPids(home).values()) pids.add(pid);
      if (first.child.exitCode !== null) throw new Error(`BenchError: tribe host exited: ${stderr.join('').slice(-2000)}`);
      return (await tribeReady(home, 2, 0)) !== undefined && (await tribeReady(home, 2, 1)) !== undefined;
    }, READY_MS, 'a tribe of 2 ready');
  } catch (err) {
    await stop();
    throw err;
  }
  return { readyMs: performance.now() - t0, stop };
};

// --- over the tribe ---------------------------------------------------------------------------

interface TribeSamples {
  readyMs: number;
  readonly pushMs: number[];
  readonly pullAfterPushMs: number[];
  readonly importMs: number[];
  readonly floor: FloorSamples;
  /** By space size (0: empty): the push's and the pull back's ms. */
  readonly noop: Map<number, { push: number[]; pull: number[] }>;
  /** ms per vat-to-vat E() round trip, one sample per no-op round. */
  readonly pingMs: number[];
  /** pid → slot, for saga-profile.ts. */
  readonly slots: Record<number, number>;
  leftAfterStop: number;
}

/** Imports a fresh space per repetition on slot 0 and pushes it to slot 1; a floor sample after each. */
const tribeBulk = async (run: LocalRun, home: string, file: string, reps: number, s: TribeSamples) => {
  const { a, dir, keys, log } = run;
  for (let rep = 0; rep < reps; rep++) {
    const space = `bulk-${rep}`;
    const t = performance.now();
    await run.marked('import', () => cli(['space', 'import', space, file, '--home', home], `tribe space import ${space}`));
    s.importMs.push(performance.now() - t);
    const { push, pull } = await run.marked('bulk push', () => syncOnce(home, space));
    if (push.state !== 'committed' || push.entries !== keys || push.applied !== keys) throw new Error(`BenchError: push of ${space}: ${JSON.stringify(push)}`);
    const [r0, r1] = [await rootOn(home, 0, space), await rootOn(home, 1, space)];
    if (r0.root !== r1.root || r1.count !== keys) throw new Error(`BenchError: ${space} differs after the push: ${JSON.stringify([r0, r1])}`);
    s.pushMs.push(push.ms);
    s.pullAfterPushMs.push(pull.ms);
    floorSample(a.path, 'bulk', dir, keys, rep, s.floor);
    log(`  tribe push ${rep + 1}/${reps}: ${fmt(push.ms, 0)} ms (${fmt((keys * 1000) / push.ms, 0)} keys/s); import ${fmt(s.importMs.at(-1)!, 0)} ms; floor attach ${fmt(s.floor.attach.at(-1)!, 0)} ms, loop ${fmt(s.floor.loop.at(-1)!, 0)} ms`);
  }
};

/** The no-op spaces synced once, then pushed again and again in rotating order, with a vat-to-vat E() sample per round. */
const tribeNoops = async (run: LocalRun, home: string, config: SagaBenchConfig, fileOf: (n: number) => Promise<string>, s: TribeSamples) => {
  const { noopKeys, noopReps, pings } = config;
  for (const n of noopKeys) {
    await cli(['space', 'import', `noop-${n}`, await fileOf(n), '--home', home], `tribe space import noop-${n}`);
    const first = await syncOnce(home, `noop-${n}`);
    if (first.push.applied !== n) throw new Error(`BenchError: the first push of noop-${n}: ${JSON.stringify(first.push)}`);
  }
  await cli(['spawn', actorTs('pinger'), '--name', 'saga-bench-pinger', '--on', '1', '--home', home], 'spawn the pinger on slot 1');
  await cli(['spawn', actorTs('driver'), '--name', 'saga-bench-driver', '--on', '0', '--home', home], 'spawn the driver on slot 0');
  if ((await cli(['call', 'saga-bench-driver', 'connect', '"saga-bench-pinger"', '--home', home], 'connect the driver')).trim() !== 'true') throw new Error('BenchError: the driver did not reach the pinger');
  const kinds = [...s.noop.keys()];
  for (let rep = 0; rep < noopReps; rep++) {
    // Rotate who goes first: drift on a shared machine hits every kind alike.
    for (let i = 0; i <= kinds.length; i++) {
      const k = (i + rep) % (kinds.length + 1);
      if (k === kinds.length) {
        s.pingMs.push(Number(await cli(['call', 'saga-bench-driver', 'sequential', String(pings), '--home', home], 'pings')) / pings);
        continue;
      }
      const n = kinds[k]!;
      const r = await run.marked(`no-op ${n}`, () => syncOnce(home, `noop-${n}`));
      if (r.push.state !== 'synced' || r.pull.state !== 'synced') throw new Error(`BenchError: noop-${n} was not in sync: ${JSON.stringify(r)}`);
      s.noop.get(n)!.push.push(r.push.ms);
      s.noop.get(n)!.pull.push(r.pull.ms);
    }
    run.log(`  no-op round ${rep + 1}/${noopReps}: ${kinds.map((n) => `${fmt(n, 0)} keys ${s.noop.get(n)!.push.at(-1)} ms`).join(', ')}; E() round trip ${fmt(s.pingMs.at(-1)!, 2)} ms`);
  }
};

/** Rows 1 and 3 over a tribe of two on a fresh home; the tribe is stopped (and whatever is left killed) whatever happens. */
const overTheTribe = async (run: LocalRun, config: SagaBenchConfig, home: string, fileOf: (n: number, size: number) => Promise<string>): Promise<TribeSamples> => {
  const s: TribeSamples = { readyMs: 0, pushMs: [], pullAfterPushMs: [], importMs: [], floor: floorSamples(), noop: new Map([0, ...config.noopKeys].map((n) => [n, { push: [], pull: [] }])), pingMs: [], slots: {}, leftAfterStop: 0 };
  const tribe = await startTribe(home, config.profileDir, run.log);
  s.readyMs = tribe.readyMs;
  run.log(`  tribe of 2 ready in ${fmt(tribe.readyMs, 0)} ms${config.profileDir ? ` (profiling into ${config.profileDir})` : ''}`);
  try {
    await tribeBulk(run, home, await fileOf(config.keys, config.valueBytes), config.bulkReps, s);
    await tribeNoops(run, home, config, (n) => fileOf(n, NOOP_VALUE_BYTES), s);
  } finally {
    for (const [slot, pid] of slotPids(home)) s.slots[pid] = slot;
    s.leftAfterStop = await tribe.stop();
  }
  return s;
};

// --- the rows ------------------------------------------------------------------------------------

interface Measured {
  readonly tribe: TribeSamples;
  readonly local: { ms: number[]; floor: FloorSamples };
  readonly localNoop: Map<number, LocalNoop>;
}

const report = (ctx: SagaBenchContext, m: Measured) => {
  const { config, row } = ctx;
  const { keys, valueBytes, noopKeys, noopReps, localNoopReps, pings } = config;
  const bytes = payloadBytes(keys, valueBytes);
  const section = 'sync saga';
  const rate = (ms: number) => ({ keys: (keys * 1000) / ms, mb: (bytes / MB) * (1000 / ms) });
  const bulkRows = (label: string, samples: number[], floor: FloorSamples, extra: string) => {
    const f = floorOf(floor);
    const ms = median(samples);
    const baselineName = `the same rows copied between two SQLite files in this process, one transaction (${FLOOR_NAMES[f.way]}; the other way ${fmt(f.other, 0)} ms)`;
    row({ section, metric: label, unit: 'ms', ours: ms, baseline: f.ms, baselineName, note: `${fmt(Math.min(...samples), 0)}–${fmt(Math.max(...samples), 0)} ms over ${samples.length}; ${extra}` });
    row({ section, metric: '  keys/s', unit: 'keys/s', ours: rate(ms).keys, baseline: rate(f.ms).keys, baselineName: 'the floor above' });
    row({ section, metric: '  MB/s (keys + values)', unit: 'MB/s', ours: rate(ms).mb, baseline: rate(f.ms).mb, baselineName: 'the floor above' });
  };
  const what = `${fmt(keys, 0)} keys × ${valueBytes} B (${fmt(bytes / MB, 1)} MB)`;
  bulkRows(`push ${what} between two sister processes (tribe sync, push row's ms)`, m.tribe.pushMs, m.tribe.floor, `import ${fmt(median(m.tribe.importMs), 0)} ms (untimed)`);
  bulkRows('the same push in one process (runInitiator → makeResponder, no CapTP)', m.local.ms, m.local.floor, `tribe push / in-process push = ${fmt(median(m.tribe.pushMs) / median(m.local.ms), 2)}`);
  for (const n of [...noopKeys, 0]) {
    const s = m.tribe.noop.get(n)!;
    row({
      section,
      metric: `no-op push (in sync, ends after the Ack), ${n === 0 ? 'empty space' : `${fmt(n, 0)} keys`}, between the sisters`,
      unit: 'ms',
      ours: median(s.push),
      baseline: median(m.tribe.pingMs),
      baselineName: `one E() round trip, vat on slot 0 → vat on slot 1 (median of ${pings} in a row, ${noopReps} samples)`,
      note: `${fmt(Math.min(...s.push), 0)}–${fmt(Math.max(...s.push), 0)} ms; the pull back (also in sync) ${fmt(median(s.pull), 0)} ms; ms resolution`,
    });
  }
  for (const n of noopKeys) {
    const s = m.localNoop.get(n)!;
    row({
      section,
      metric: `no-op saga in one process, ${fmt(n, 0)} keys`,
      unit: 'ms',
      ours: median(s.saga),
      baseline: median(s.turns),
      baselineName: 'the same Init and Ack sealed and opened alone (JSON, Ed25519 sign + verify, SHA-256)',
      note: `Init ${fmt(s.initBytes / 1024, 1)} KiB, Ack ${fmt(s.ackBytes / 1024, 1)} KiB; ${localNoopReps} sagas`,
    });
  }
};

const detailsOf = (m: Measured) => {
  const floors = (f: FloorSamples) => ({ attach: summarize(f.attach), loop: summarize(f.loop) });
  const { tribe: t } = m;
  return {
    tribe: { readyMs: t.readyMs, pushMs: summarize(t.pushMs), pullAfterPushMs: summarize(t.pullAfterPushMs), importMs: summarize(t.importMs), leftAfterStop: t.leftAfterStop, floor: floors(t.floor) },
    local: { pushMs: summarize(m.local.ms), floor: floors(m.local.floor) },
    noop: Object.fromEntries([...t.noop].map(([n, s]) => [n, { push: summarize(s.push), pull: summarize(s.pull) }])),
    pingMs: summarize(t.pingMs),
    localNoop: Object.fromEntries([...m.localNoop].map(([n, s]) => [n, { saga: summarize(s.saga), turns: summarize(s.turns), initBytes: s.initBytes, ackBytes: s.ackBytes }])),
  };
};

// --- the section -----------------------------------------------------------------------------------

export async function benchSaga(ctx: SagaBenchContext): Promise<void> {
  const { config, details, log, tempDir } = ctx;
  const { keys, valueBytes, bulkReps, localBulkReps, noopKeys, profileDir } = config;
  const load0 = loadavg();
  log(`[10] sync saga: ${fmt(keys, 0)} keys × ${valueBytes} B (${fmt(payloadBytes(keys, valueBytes) / MB, 1)} MB) × ${bulkReps} over a tribe of 2, × ${localBulkReps} in process; no-ops at ${noopKeys.map((n) => fmt(n, 0)).join(', ')} keys (load ${load0.map((x) => x.toFixed(2)).join(' ')})`);
  const dir = tempDir('tribe-bench-saga-');
  const fileOf = async (n: number, size: number) => {
    const path = join(dir, `${n}x${size}.jsonl`);
    await writeJsonLines(path, n, size);
    return path;
  };
  /** With profileDir: when each sync ran (CLI commands, in-process sagas), for saga-profile.ts to cut the profiles by. */
  const windows: { label: string; from: number; to: number }[] = [];
  // The in-process initiator: it holds every space the in-process rows push, and its file is the floor's source.
  const a = makeSide(dir, 'a');
  const run: LocalRun = {
    a,
    dir,
    keys,
    log,
    async marked(label, fn) {
      const from = nowUs();
      try {
        return await fn();
      } finally {
        windows.push({ label, from, to: nowUs() });
      }
    },
  };
  let slots: Record<number, number> = {};
  try {
    const t = performance.now();
    a.store.putMany('bulk', entriesOf(keys, valueBytes, a.id));
    const fillMs = performance.now() - t;
    log(`  in-process store filled: ${fmt(keys, 0)} keys in ${fmt(fillMs, 0)} ms (putMany: digests, one fsynced transaction)`);
    floorSample(a.path, 'bulk', dir, keys, 0, floorSamples()); // warm-up, untimed
    const tribe = await overTheTribe(run, config, tempDir('tribe-bench-saga-home-'), fileOf);
    slots = tribe.slots;
    const local = await localBulk(run, localBulkReps);
    const localNoop = await localNoops(run, noopKeys, NOOP_VALUE_BYTES, config.localNoopReps);
    const m: Measured = { tribe, local, localNoop };
    report(ctx, m);
    const load1 = loadavg();
    details['saga'] = { keys, valueBytes, payloadBytes: payloadBytes(keys, valueBytes), loadavg: { before: load0, after: load1 }, fillMs, ...detailsOf(m) };
    const tf = floorOf(tribe.floor);
    log(`  medians: tribe push ${fmt(median(tribe.pushMs), 0)} ms, in-process ${fmt(median(local.ms), 0)} ms, floor ${fmt(tf.ms, 0)} / ${fmt(floorOf(local.floor).ms, 0)} ms (${tf.way}); ${tribe.leftAfterStop} process(es) left after tribe stop (killed); load ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    a.store.close();
    if (profileDir) writeFileSync(join(profileDir, 'windows.json'), `${JSON.stringify({ bench: process.pid, slots, windows }, null, 1)}\n`);
  }
}
