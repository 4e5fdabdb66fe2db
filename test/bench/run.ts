/**
 * Tribe benchmark suite: `npm run bench`.
 *
 * 1. Cross-vat E() round trips (sequential, and with 100 outstanding) between
 *    two vats of one host, against raw @endo/captp between two worker threads
 *    on one MessagePort (same lockdown, same workload code), side by side.
 * 2. Actor module load time and vat spawn time, against a bare worker and a
 *    bare worker + @endo/init lockdown.
 * 3. Memory: per idle vat, and per 10,000 small Far objects in one vat, against
 *    the same in bare locked-down workers.
 * 4. Sessions between hosts (sessions.ts): E() round trips between two host
 *    processes against raw @endo/captp over TCP and Cap'n Web over WebSocket;
 *    bulk MB/s through a secure session against plain framed TCP; handshakes/s.
 * 5. The visualizer with 500 live actors in headless Chromium (viz.ts): first
 *    render, one update and a burst of updates, against a bare page on the
 *    same stream.
 * 6. Three-party handoff (handoff.ts): round trips from vat A on a reference to
 *    vat C that a third party (the embedder, vat B, another host) handed on,
 *    against one A looked up itself; handoff latency against a held reference;
 *    in one host and across three.
 * 7. Durable objects (durable.ts): turns/s of a durable kind against the same
 *    code in a non-durable vat; a vat restart with 10,000 durable objects; RSS
 *    per 10,000 durable objects resident against as many plain Far objects.
 * 8. Sessions with bridged paths (bridges.ts): E() round trips through a triple
 *    session with 3 bridges (modes 'all' and 'standby') against the single-path
 *    session; p50/p99 with the direct path slowed or stalled; a bridge's death:
 *    time until its path is replaced, and calls lost.
 * 9. A tribe of sisters (tribe.ts): `tribe host --core-size 3` from spawn to a
 *    ready tribe, against `tribe host --solo` to its ready line; kill -9 of a
 *    sister and of the first host: time to detection and to replacement.
 * 10. The sync saga (saga.ts): a push of 20,000 keys of 1 KiB between two sister
 *    processes (`tribe sync`) and in one process through the protocol alone,
 *    against the same rows copied between two SQLite files; a no-op sync (in
 *    sync already) against one E() round trip, and against its turns alone.
 *
 * Prints a table and writes test-artifacts/bench.json. Every number is a median
 * over repetitions; baselines run interleaved with ours in the same process.
 *
 * Environment (for investigation; `npm run bench` needs none of it):
 *   TRIBE_BENCH_QUICK=1    shrink everything (a smoke test, not a measurement)
 *   TRIBE_BENCH_ONLY=1,3   run only these sections
 *   TRIBE_BENCH_REPS=30    round-trip repetitions (default 11)
 *   TRIBE_BENCH_DURABLE=0  leave out the durable-vat round-trip contender
 *   TRIBE_BENCH_PART=bulk  in section 4, run only these parts (roundtrips, bulk, handshakes)
 *   TRIBE_BENCH_SAGA_KEYS=100000  in section 10, keys of the bulk push (default 20,000)
 *   TRIBE_BENCH_SAGA_PROFILE=DIR  in section 10, run the tribe's hosts with --cpu-prof into DIR
 */
// First: playwright (section 5) starts an AsyncLocalStorage late; see the helper.
import '../helpers/track-promises.js';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { E, startHost } from '../../runtime/index.js';
import { makeModuleReader } from '../../runtime/module-reader.js';
import { loadActorModule } from '../../vats/loader.js';
import { makeModuleCompiler } from '../../vats/module-compiler.js';
import { benchBridges } from './bridges.js';
import { benchDurable } from './durable.js';
import { benchHandoff } from './handoff.js';
import { benchReplicated } from './replicated.js';
import { benchSaga } from './saga.js';
import { benchSessions } from './sessions.js';
import { benchTribe } from './tribe.js';
import { benchViz } from './viz.js';
import { startBenchWorker, startRawEndpoint, type BenchWorker } from './workers.js';
import { fmt, gcHere, median, MiB, quietRss, sleep, summarize, type MemorySample, type RowInput, type Summary } from './stats.js';

const execFileAsync = promisify(execFile);
const QUICK = process.env['TRIBE_BENCH_QUICK'] === '1';
const CONFIG = {
  /** Sequential round trips per repetition. */
  seqCalls: QUICK ? 200 : 1000,
  /** Round trips per repetition with `window` outstanding. */
  concCalls: QUICK ? 400 : 2000,
  window: 100,
  reps: Number(process.env['TRIBE_BENCH_REPS'] ?? (QUICK ? 3 : 11)),
  warmups: 2,
  /** Also time a pair of durable vats (their sends wait for the end-of-turn commit). */
  durablePair: process.env['TRIBE_BENCH_DURABLE'] !== '0',
  spawns: QUICK ? 3 : 10,
  compileReps: QUICK ? 3 : 10,
  coldProbes: QUICK ? 2 : 5,
  idleVats: QUICK ? 3 : 10,
  /** Child processes per idle kind (each starts idleVats units). */
  memReps: QUICK ? 1 : 3,
  actorsPerStep: QUICK ? 1000 : 10000,
  actorSteps: QUICK ? 2 : 4,
  settleMs: QUICK ? 200 : 1000,
  /** Section 4: pipelined pairs (getChild → ping) per repetition between hosts. */
  pipePairs: QUICK ? 100 : 1000,
  /** Section 4: MiB per bulk repetition (64 KiB frames). */
  bulkMiB: QUICK ? 4 : 64,
  bulkReps: QUICK ? 2 : 7,
  /** Section 4: full handshakes per repetition. */
  handshakes: QUICK ? 3 : 20,
  handshakeReps: QUICK ? 2 : 7,
  /** Section 5: live actors on the page, page loads, single updates, bursts. */
  vizActors: 500,
  vizLoads: QUICK ? 2 : 5,
  vizSingles: QUICK ? 10 : 40,
  vizBursts: QUICK ? 2 : 5,
  /** Section 6: timed handoffs (and baseline calls) per setting, after a few untimed ones. */
  handoffSamples: QUICK ? 20 : 200,
  handoffSampleWarmups: 3,
};

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const actorTs = (name: string) => join(repoRoot, 'test', 'bench', 'actors', `${name}.ts`);
const actorJs = (name: string) => fileURLToPath(new URL(`./actors/${name}.js`, import.meta.url));

const tempDirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
};
const newHost = (opts: { exposeGc?: boolean; spareWorkers?: number } = {}) =>
  startHost({ home: tempDir('tribe-bench-'), control: false, restore: false, print: () => {}, ...opts });

// --- results ----------------------------------------------------------------

interface Row extends RowInput {
  /** ours / baseline. */
  readonly ratio?: number;
}
const rows: Row[] = [];
const details: Record<string, unknown> = {};
const row = (r: Omit<Row, 'ratio'>) => {
  const ratio = r.baseline !== undefined && r.baseline !== 0 ? r.ours / r.baseline : undefined;
  rows.push({ ...r, ...(ratio !== undefined ? { ratio } : {}) });
};
const log = (line: string) => process.stderr.write(`${line}\n`);

// --- 1. round trips ---------------------------------------------------------

interface Contender {
  readonly name: string;
  /** Elapsed ms for n sequential calls, measured in the driver thread. */
  sequential(n: number): Promise<number>;
  concurrent(n: number, window: number): Promise<number>;
}

/** Two raw CapTP workers on one MessagePort; returns the driver. */
const startRawPair = async (workers: BenchWorker[], gcImports: boolean): Promise<BenchWorker> => {
  const { port1, port2 } = new MessageChannel();
  const target = startBenchWorker('./raw-captp-worker.js', {
    workerData: { role: 'target', port: port1, gcImports },
    transferList: [port1],
  });
  const driver = startBenchWorker('./raw-captp-worker.js', {
    workerData: { role: 'driver', port: port2, gcImports },
    transferList: [port2],
  });
  workers.push(target, driver);
  await Promise.all([target.ready, driver.ready]);
  if ((await driver.call('connect', 'target')) !== true) throw new Error('raw driver could not reach its target');
  return driver;
};

const RAW_NAMES = ['raw-captp', 'raw-captp-gc'] as const;

const benchRoundTrips = async () => {
  log('[1/6] cross-vat round trips');
  const host = await newHost();
  const workers: BenchWorker[] = [];
  try {
    const vatPair = async (prefix: string, durable: boolean) => {
      await host.spawnVat({ module: actorTs('pinger'), name: `${prefix}-target`, durable });
      const { root } = await host.spawnVat({ module: actorTs('driver'), name: `${prefix}-driver`, durable });
      if ((await E(root).connect(`${prefix}-target`)) !== true) throw new Error(`${prefix} driver could not reach its target`);
      return root;
    };
    const ofVat = (name: string, root: any): Contender => ({
      name,
      sequential: (n) => E(root).sequential(n),
      concurrent: (n, w) => E(root).concurrent(n, w),
    });
    const ofWorker = (name: string, w: BenchWorker): Contender => ({
      name,
      sequential: (n) => w.call('sequential', n),
      concurrent: (n, window) => w.call('concurrent', n, window),
    });
    const contenders: Contender[] = [
      ofVat('tribe', await vatPair('rt', false)),
      // @endo/captp as it comes (gcImports off: answered questions stay in its import table) …
      ofWorker('raw-captp', await startRawPair(workers, false)),
      // … and with gcImports on, as Tribe's connections run it.
      ofWorker('raw-captp-gc', await startRawPair(workers, true)),
    ];
    if (CONFIG.durablePair) contenders.push(ofVat('tribe-durable', await vatPair('rtd', true)));

    const modes = [
      { key: 'sequential', label: 'E() round trips/s, sequential', n: CONFIG.seqCalls, run: (c: Contender, n: number) => c.sequential(n) },
      {
        key: 'concurrent',
        label: `E() round trips/s, ${CONFIG.window} outstanding`,
        n: CONFIG.concCalls,
        run: (c: Contender, n: number) => c.concurrent(n, CONFIG.window),
      },
    ] as const;
    for (const mode of modes) {
      for (let i = 0; i < CONFIG.warmups; i += 1) {
        for (const c of contenders) await mode.run(c, Math.ceil(mode.n / 2));
      }
      const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
      for (let rep = 0; rep < CONFIG.reps; rep += 1) {
        // Rotate who goes first, so drift on a noisy machine hits everyone alike.
        for (let i = 0; i < contenders.length; i += 1) {
          const c = contenders[(i + rep) % contenders.length]!;
          const ms = await mode.run(c, mode.n);
          rates.get(c.name)!.push((mode.n * 1000) / Math.max(ms, 1));
        }
      }
      const sums = Object.fromEntries([...rates].map(([k, v]) => [k, summarize(v)])) as Record<string, Summary>;
      // The goal is judged against the faster raw configuration.
      const best = RAW_NAMES.reduce((a, b) => (sums[b]!.median > sums[a]!.median ? b : a));
      const other = RAW_NAMES.find((n) => n !== best)!;
      const raw = sums[best]!.median;
      const paired = rates.get('tribe')!.map((x, i) => x / rates.get(best)![i]!);
      details[`roundTrips.${mode.key}`] = {
        calls: mode.n,
        window: mode.key === 'concurrent' ? CONFIG.window : 1,
        baseline: best,
        ...sums,
        pairedRatioVsBaseline: summarize(paired),
      };
      const ratio = sums['tribe']!.median / raw;
      row({
        section: 'round trips',
        metric: mode.label,
        unit: 'calls/s',
        ours: sums['tribe']!.median,
        baseline: raw,
        baselineName: `${best}: 2 workers, 1 MessagePort, same lockdown and workload (the faster raw setup)`,
        note: `goal ≥ 0.80 × raw: ${ratio >= 0.8 ? 'MET' : 'MISSED'}; per-repetition ratios: median ${fmt(median(paired), 2)}, range ${fmt(Math.min(...paired), 2)}–${fmt(Math.max(...paired), 2)}; tribe ${fmt(sums['tribe']!.min, 0)}–${fmt(sums['tribe']!.max, 0)}/s, ${best} ${fmt(sums[best]!.min, 0)}–${fmt(sums[best]!.max, 0)}/s`,
      });
      row({
        section: 'round trips',
        metric: `  ${other} (the other raw setup)`,
        unit: 'calls/s',
        ours: sums[other]!.median,
        baseline: raw,
        baselineName: best,
        note: other === 'raw-captp' ? 'gcImports off (the default)' : 'gcImports on, as in Tribe',
      });
      if (sums['tribe-durable']) {
        row({
          section: 'round trips',
          metric: '  tribe, both vats durable',
          unit: 'calls/s',
          ours: sums['tribe-durable'].median,
          baseline: raw,
          baselineName: best,
          note: "a durable vat's sends wait for its end-of-turn commit (setImmediate)",
        });
      }
      log(`  ${mode.key}: ${contenders.map((c) => `${c.name} ${fmt(sums[c.name]!.median, 0)}/s`).join(', ')}`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    await host.stop();
  }
};

// --- 2. module load and spawn -------------------------------------------------

const benchLoadAndSpawn = async () => {
  log('[2/6] module load and vat spawn');
  // Distinct copies of the small module: each is a compile-cache miss in the host.
  const copies = tempDir('tribe-bench-mods-');
  let copyNo = 0;
  const freshCopy = (name: string) => {
    const path = join(copies, `${name}-${++copyNo}.ts`);
    copyFileSync(actorTs(name), path);
    return path;
  };

  // Cold: fresh locked-down threads, as a new host's first spawn pays it.
  const cold = { firstCompileMs: [] as number[], secondCompileMs: [] as number[], instantiateMs: [] as number[] };
  for (let i = 0; i < CONFIG.coldProbes; i += 1) {
    const w = startBenchWorker('./init-worker.js');
    try {
      await w.ready;
      const r = await w.call<{ firstCompileMs: number; secondCompileMs: number; instantiateMs: number }>(
        'probeLoad',
        pathToFileURL(freshCopy('driver')).href,
        pathToFileURL(freshCopy('driver')).href,
      );
      cold.firstCompileMs.push(r.firstCompileMs);
      cold.secondCompileMs.push(r.secondCompileMs);
      cold.instantiateMs.push(r.instantiateMs);
    } finally {
      await w.terminate();
    }
  }
  const coldSum = {
    firstCompileMs: summarize(cold.firstCompileMs),
    secondCompileMs: summarize(cold.secondCompileMs),
    instantiateMs: summarize(cold.instantiateMs),
  };
  details['moduleLoad.coldThread'] = coldSum;

  // Warm, in this (the host's) thread: what each further new file costs the host, and instantiation.
  const compile = makeModuleCompiler(makeModuleReader());
  await compile(pathToFileURL(freshCopy('driver')).href);
  const compileTs: number[] = [];
  const compileJs: number[] = [];
  const instantiate: number[] = [];
  for (let i = 0; i < CONFIG.compileReps; i += 1) {
    const url = pathToFileURL(freshCopy('driver')).href;
    let t = performance.now();
    await compile(url);
    compileTs.push(performance.now() - t);
    const js = join(copies, `driver-js-${i}.js`);
    copyFileSync(actorJs('driver'), js);
    t = performance.now();
    await compile(pathToFileURL(js).href);
    compileJs.push(performance.now() - t);
    t = performance.now();
    await loadActorModule({ entryUrl: url, compile, grants: [], realm: { Date, Math }, name: `bench-${i}` });
    instantiate.push(performance.now() - t);
  }
  const warm = { compileTsMs: summarize(compileTs), compileJsMs: summarize(compileJs), instantiateMs: summarize(instantiate) };
  details['moduleLoad.hostThread'] = warm;
  const loadNew = coldSum.secondCompileMs.median + coldSum.instantiateMs.median;
  row({
    section: 'load & spawn',
    metric: 'actor module load, new .ts file (compile in host + instantiate in fresh vat thread)',
    unit: 'ms',
    ours: loadNew,
    note: `compile ${fmt(coldSum.secondCompileMs.median)} ms (esbuild strip + module analysis; analyser already loaded) + instantiate ${fmt(coldSum.instantiateMs.median)} ms (Compartment import of the precompiled source, cold JIT)`,
  });
  row({
    section: 'load & spawn',
    metric: 'actor module load, file already compiled (instantiate only)',
    unit: 'ms',
    ours: coldSum.instantiateMs.median,
    note: 'plus one host round trip for the cached compile result',
  });
  row({
    section: 'load & spawn',
    metric: 'module compile, first file in a process (loads Babel analyser, starts esbuild)',
    unit: 'ms',
    ours: coldSum.firstCompileMs.median,
    note: "paid once per host, by its first spawn",
  });
  row({
    section: 'load & spawn',
    metric: 'module compile in a warm host thread: .ts / .js',
    unit: 'ms',
    ours: warm.compileTsMs.median,
    note: `.js ${fmt(warm.compileJsMs.median)} ms; instantiate in a warm thread ${fmt(warm.instantiateMs.median)} ms`,
  });

  // No spare workers here: these rows are what a vat's own start-up costs.
  const host = await newHost({ spareWorkers: 0 });
  const workers: BenchWorker[] = [];
  try {
    // One vat first, unmeasured: the host's one-off costs (its first module compile) are not per spawn.
    await host.spawnVat({ module: freshCopy('pinger'), name: 'first' });

    const spawnHit: number[] = [];
    const spawnMiss: number[] = [];
    const spawnJs: number[] = [];
    const bareEmpty: number[] = [];
    const bareInit: number[] = [];
    const rawEndpoint: number[] = [];
    const timed = async (into: number[], spawn: () => Promise<unknown>) => {
      const t = performance.now();
      await spawn();
      into.push(performance.now() - t);
    };
    for (let i = 0; i < CONFIG.spawns; i += 1) {
      const kinds: Array<() => Promise<void>> = [
        async () => {
          const w = startBenchWorker('./empty-worker.js');
          workers.push(w);
          bareEmpty.push(await w.ready);
        },
        async () => {
          const w = startBenchWorker('./init-worker.js');
          workers.push(w);
          bareInit.push(await w.ready);
        },
        async () => {
          const w = startRawEndpoint();
          workers.push(w);
          rawEndpoint.push(await w.ready);
        },
        // The same .ts file every time: compiled once, then served from the host's compile cache.
        () => timed(spawnHit, () => host.spawnVat({ module: actorTs('pinger'), name: `hit-${i}` })),
        // A file the host has not seen: esbuild strip + module analysis in the host first.
        () => timed(spawnMiss, () => host.spawnVat({ module: freshCopy('pinger'), name: `miss-${i}` })),
        () => timed(spawnJs, () => host.spawnVat({ module: actorJs('pinger'), name: `js-${i}` })),
      ];
      // Rotate the order: whatever runs right after a start-up competes with its tail for the CPU.
      for (let k = 0; k < kinds.length; k += 1) {
        await kinds[(k + i) % kinds.length]!();
        await sleep(20);
      }
    }
    const s = {
      spawnCacheHit: summarize(spawnHit),
      spawnCacheMiss: summarize(spawnMiss),
      spawnJs: summarize(spawnJs),
      bareWorker: summarize(bareEmpty),
      bareWorkerWithLockdown: summarize(bareInit),
      rawCapTPEndpoint: summarize(rawEndpoint),
    };
    details['spawn'] = s;
    row({
      section: 'load & spawn',
      metric: 'vat spawn, spawnVat() → root (module cached)',
      unit: 'ms',
      ours: s.spawnCacheHit.median,
      baseline: s.bareWorkerWithLockdown.median,
      baselineName: 'bare worker + @endo/init → ready',
      note: `bare worker alone ${fmt(s.bareWorker.median, 1)} ms; lockdown ${fmt(s.bareWorkerWithLockdown.median - s.bareWorker.median, 1)} ms; the rest ${fmt(s.spawnCacheHit.median - s.bareWorkerWithLockdown.median, 1)} ms; a raw CapTP endpoint (lockdown + @endo/captp, @endo/far loaded) is ready in ${fmt(s.rawCapTPEndpoint.median, 1)} ms`,
    });
    row({
      section: 'load & spawn',
      metric: 'vat spawn, new .ts file each time',
      unit: 'ms',
      ours: s.spawnCacheMiss.median,
      baseline: s.bareWorkerWithLockdown.median,
      baselineName: 'bare worker + @endo/init → ready',
    });
    row({
      section: 'load & spawn',
      metric: 'vat spawn, compiled .js module',
      unit: 'ms',
      ours: s.spawnJs.median,
      baseline: s.bareWorkerWithLockdown.median,
      baselineName: 'bare worker + @endo/init → ready',
    });
    log(`  spawn: cached ${fmt(s.spawnCacheHit.median)} ms, new file ${fmt(s.spawnCacheMiss.median)} ms, bare+lockdown ${fmt(s.bareWorkerWithLockdown.median)} ms`);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    await host.stop();
  }

  // With the default spare worker (startHost's spareWorkers: 1): a spawn takes a worker that
  // is already started and locked down. Spawns are spaced so the spare is refilled in between;
  // back-to-back spawns find it still starting and cost between this and the cold figure.
  const warmHost = await newHost();
  try {
    await warmHost.spawnVat({ module: actorTs('pinger'), name: 'first' });
    const spawnSpare: number[] = [];
    for (let i = 0; i < CONFIG.spawns; i += 1) {
      await sleep(400);
      const t = performance.now();
      await warmHost.spawnVat({ module: actorTs('pinger'), name: `spare-${i}` });
      spawnSpare.push(performance.now() - t);
    }
    const spare = summarize(spawnSpare);
    details['spawnWithSpare'] = spare;
    row({
      section: 'load & spawn',
      metric: 'vat spawn with a spare worker ready (default), module cached',
      unit: 'ms',
      ours: spare.median,
      baseline: (details['spawn'] as { bareWorkerWithLockdown: { median: number } }).bareWorkerWithLockdown.median,
      baselineName: 'bare worker + @endo/init → ready',
      note: 'startHost keeps one worker started and locked down ahead (spareWorkers: 1); the rows above use spareWorkers: 0',
    });
  } finally {
    await warmHost.stop();
  }
};

// --- 3. memory ----------------------------------------------------------------

/**
 * RSS is the one number that covers every thread of the process: vat heaps live
 * in worker isolates that a compartment (no `process`) cannot report on, and the
 * host has no handle on its vats' Worker objects. So: force a full GC in every
 * isolate (this thread, each vat via VatAdmin.collectGarbage, each baseline
 * worker), wait until RSS holds still, and take differences between such quiet
 * points. Idle groups run in child processes of their own (see mem-idle.ts).
 */
const runMemChild = async (kind: string): Promise<{ before: MemorySample; settled: MemorySample; after: MemorySample }> => {
  const { stdout } = await execFileAsync(
    process.execPath,
    [fileURLToPath(new URL('./mem-idle.js', import.meta.url)), kind, String(CONFIG.idleVats), String(CONFIG.settleMs)],
    { timeout: 120_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!);
};

const benchMemory = async () => {
  log('[3/6] memory');
  const kinds = ['empty', 'init', 'raw', 'vat'] as const;
  const perUnit = Object.fromEntries(kinds.map((k) => [k, { settled: [] as number[], collected: [] as number[], threads: [] as number[], childRss: [] as number[] }]));
  for (let rep = 0; rep < CONFIG.memReps; rep += 1) {
    for (let i = 0; i < kinds.length; i += 1) {
      const kind = kinds[(i + rep) % kinds.length]!;
      const r = await runMemChild(kind);
      const u = perUnit[kind]!;
      u.settled.push((r.settled.rss - r.before.rss) / CONFIG.idleVats / MiB);
      u.collected.push((r.after.rss - r.before.rss) / CONFIG.idleVats / MiB);
      u.threads.push((r.after.threads - r.before.threads) / CONFIG.idleVats);
      u.childRss.push((r.after.childRss - r.before.childRss) / CONFIG.idleVats / MiB);
    }
  }
  const idle = Object.fromEntries(
    kinds.map((k) => [
      k,
      {
        settledRssMiB: summarize(perUnit[k]!.settled),
        collectedRssMiB: summarize(perUnit[k]!.collected),
        threads: median(perUnit[k]!.threads),
        childRssMiB: median(perUnit[k]!.childRss),
      },
    ]),
  ) as Record<(typeof kinds)[number], { settledRssMiB: Summary; collectedRssMiB: Summary; threads: number; childRssMiB: number }>;
  details['memory.idle'] = { unitsPerProcess: CONFIG.idleVats, reps: CONFIG.memReps, ...idle };
  row({
    section: 'memory',
    metric: 'host RSS per idle vat, after full GC',
    unit: 'MiB',
    ours: idle.vat.collectedRssMiB.median,
    baseline: idle.init.collectedRssMiB.median,
    baselineName: 'bare worker + @endo/init',
    note: `bare worker alone ${fmt(idle.empty.collectedRssMiB.median, 2)} MiB; raw CapTP endpoint ${fmt(idle.raw.collectedRssMiB.median, 2)} MiB; per vat: +${fmt(idle.vat.threads, 1)} threads, child processes +${fmt(idle.vat.childRssMiB, 2)} MiB`,
  });
  row({
    section: 'memory',
    metric: `host RSS per idle vat, ${CONFIG.settleMs} ms after spawn (no forced GC)`,
    unit: 'MiB',
    ours: idle.vat.settledRssMiB.median,
    baseline: idle.init.settledRssMiB.median,
    baselineName: 'bare worker + @endo/init',
    note: `bare worker alone ${fmt(idle.empty.settledRssMiB.median, 2)} MiB; raw CapTP endpoint ${fmt(idle.raw.settledRssMiB.median, 2)} MiB`,
  });
  log(`  idle vat ${fmt(idle.vat.collectedRssMiB.median, 2)} MiB (bare+lockdown ${fmt(idle.init.collectedRssMiB.median, 2)} MiB)`);

  const workers: BenchWorker[] = [];
  const vats: string[] = [];
  const host = await newHost({ exposeGc: true });
  const collectAll = async () => {
    gcHere();
    await Promise.all([
      ...vats.map(async (n) => E(await host.vatAdmin(n)).collectGarbage()),
      ...workers.map((w) => w.call('gc')),
    ]);
    gcHere();
  };
  const collectAndSample = () => quietRss(collectAll);
  try {
    // Many small actors: a quiet host with just one vat and one bare worker, so the deltas are theirs.
    const { root: many } = await host.spawnVat({ module: actorTs('many'), name: 'mem-many' });
    vats.push('mem-many');
    const bare = startBenchWorker('./init-worker.js');
    workers.push(bare);
    await bare.ready;
    // One unmeasured step on both sides first: JIT, the bare worker's module import, and
    // V8's first growth of old space would otherwise all land in the first delta.
    await E(many).makeMany(CONFIG.actorsPerStep);
    await bare.call('makeMany', CONFIG.actorsPerStep);

    const vatSteps: number[] = [];
    const bareSteps: number[] = [];
    const bareHeapSteps: number[] = [];
    let before = await collectAndSample();
    let heapBefore = await bare.call<number>('heap');
    for (let step = 0; step < CONFIG.actorSteps; step += 1) {
      // One side at a time, so each RSS delta belongs to one side only.
      await E(many).makeMany(CONFIG.actorsPerStep);
      const mid = await collectAndSample();
      vatSteps.push(mid.rss - before.rss);
      await bare.call('makeMany', CONFIG.actorsPerStep);
      const after = await collectAndSample();
      bareSteps.push(after.rss - mid.rss);
      const heapAfter = await bare.call<number>('heap');
      bareHeapSteps.push(heapAfter - heapBefore);
      before = after;
      heapBefore = heapAfter;
    }
    // Per-step deltas jump with V8's page-granular heap growth; the slope over all steps
    // (total growth / total actors) averages that out and is the headline, the steps are kept.
    const per10k = (xs: number[]) => summarize(xs.map((x) => ((x / CONFIG.actorsPerStep) * 10000) / MiB));
    const slope = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / (xs.length * CONFIG.actorsPerStep)) * 10000 / MiB;
    const actors = {
      actorsPerStep: CONFIG.actorsPerStep,
      steps: CONFIG.actorSteps,
      vatRssMiBPer10k: slope(vatSteps),
      bareRssMiBPer10k: slope(bareSteps),
      bareHeapMiBPer10k: slope(bareHeapSteps),
      vatRssSteps: per10k(vatSteps),
      bareRssSteps: per10k(bareSteps),
      bareHeapSteps: per10k(bareHeapSteps),
    };
    details['memory.actors'] = actors;
    row({
      section: 'memory',
      metric: 'host RSS per 10,000 small Far actors in one vat, after full GC',
      unit: 'MiB',
      ours: actors.vatRssMiBPer10k,
      baseline: actors.bareRssMiBPer10k,
      baselineName: 'same objects, same code, in a bare locked-down worker (RSS)',
      note: `≈ ${fmt((actors.vatRssMiBPer10k * MiB) / 10000, 0)} B/actor; slope over ${CONFIG.actorSteps} steps of ${CONFIG.actorsPerStep}; V8 used-heap growth in the bare worker: ${fmt(actors.bareHeapMiBPer10k, 2)} MiB/10k (${fmt((actors.bareHeapMiBPer10k * MiB) / 10000, 0)} B/actor)`,
    });
    log(`  10k actors: vat ${fmt(actors.vatRssMiBPer10k, 2)} MiB, bare ${fmt(actors.bareRssMiBPer10k, 2)} MiB`);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    await host.stop();
  }
};

// --- 4. sessions between hosts ----------------------------------------------------

const benchHostSessions = () =>
  benchSessions({
    config: {
      seqCalls: CONFIG.seqCalls,
      concCalls: CONFIG.concCalls,
      window: CONFIG.window,
      pipePairs: CONFIG.pipePairs,
      reps: CONFIG.reps,
      warmups: CONFIG.warmups,
      bulkMiB: CONFIG.bulkMiB,
      bulkReps: CONFIG.bulkReps,
      handshakes: CONFIG.handshakes,
      handshakeReps: CONFIG.handshakeReps,
    },
    row,
    details,
    log,
    tempDir,
  });

// --- 5. visualizer ----------------------------------------------------------------

const benchVisualizer = () =>
  benchViz({
    config: { actors: CONFIG.vizActors, loads: CONFIG.vizLoads, singles: CONFIG.vizSingles, bursts: CONFIG.vizBursts },
    row,
    details,
    log,
    tempDir,
  });

// --- 6. three-party handoff ----------------------------------------------------------

const benchThreePartyHandoff = () =>
  benchHandoff({
    config: {
      calls: CONFIG.seqCalls,
      reps: CONFIG.reps,
      warmups: CONFIG.warmups,
      samples: CONFIG.handoffSamples,
      sampleWarmups: CONFIG.handoffSampleWarmups,
    },
    row,
    details,
    log,
    tempDir,
  });

const benchDurableObjects = () =>
  benchDurable({
    config: {
      calls: QUICK ? 200 : 1000,
      reps: CONFIG.reps,
      warmups: CONFIG.warmups,
      objects: QUICK ? 2000 : 10_000,
      restartReps: QUICK ? 2 : 5,
      memReps: QUICK ? 1 : 3,
    },
    row,
    details,
    log,
    tempDir,
  });

const benchBridgeSessions = () =>
  benchBridges({
    // Fewer calls than section 4: four contenders, and 'all' sends each frame on four paths (the section stays near a minute).
    config: {
      seqCalls: QUICK ? 100 : 300,
      concCalls: QUICK ? 200 : 1000,
      window: CONFIG.window,
      reps: QUICK ? 3 : 7,
      warmups: 1,
      latencyCalls: QUICK ? 200 : 500,
      latencyReps: QUICK ? 2 : 5,
      stallMs: 4000,
    },
    row,
    details,
    log,
    tempDir,
  });

const benchTribeOfSisters = () =>
  benchTribe({
    // Each run starts 3 host processes and replaces 2 (≈ 25 s on a loaded 2-CPU machine).
    config: { runs: QUICK ? 2 : 5, coreSize: 3 },
    row,
    details,
    log,
    tempDir,
  });

const benchSyncSaga = () =>
  benchSaga({
    // ≈ 2.5 min here: 3 pushes of 20 MB over the tribe (each imported first) and 5 in process, 7 rounds of no-ops.
    config: {
      keys: Number(process.env['TRIBE_BENCH_SAGA_KEYS'] ?? (QUICK ? 2000 : 20_000)),
      valueBytes: 1024,
      bulkReps: QUICK ? 2 : 3,
      localBulkReps: QUICK ? 2 : 5,
      noopKeys: QUICK ? [1000, 10_000] : [1000, 100_000],
      noopReps: QUICK ? 3 : 7,
      localNoopReps: QUICK ? 5 : 21,
      pings: 200,
      ...(process.env['TRIBE_BENCH_SAGA_PROFILE'] ? { profileDir: process.env['TRIBE_BENCH_SAGA_PROFILE'] } : {}),
    },
    row,
    details,
    log,
    tempDir,
  });

const benchReplicatedServices = () =>
  benchReplicated({
    // ≈ 2–3 min here: a tribe of 3 started, 2 × 5 throughput runs per contender, 8 kills of the leader (each waits for the respawn and catch-up).
    config: {
      ops: QUICK ? { 1: 100, 32: 400 } : { 1: 300, 32: 2000 },
      reps: QUICK ? 2 : 5,
      warmupOps: QUICK ? 50 : 100,
      kills: QUICK ? 2 : 8,
    },
    row,
    details,
    log,
    tempDir,
  });

// --- report -------------------------------------------------------------------

const printTable = () => {
  const header = ['metric', 'unit', 'measured', 'baseline', 'ratio'];
  const lines: string[][] = [];
  let section = '';
  const digits = (unit: string, x: number) =>
    unit === 'calls/s' || unit === 'keys/s' || (unit === 'MB/s' && x >= 100) ? fmt(x, 0) : unit === 'MiB' || unit === 'ms CPU' ? fmt(x, 2) : fmt(x, 1);
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      lines.push([`— ${section} —`, '', '', '', '']);
    }
    lines.push([
      r.metric,
      r.unit,
      digits(r.unit, r.ours),
      r.baseline !== undefined ? digits(r.unit, r.baseline) : '',
      r.ratio !== undefined ? fmt(r.ratio, 2) : '',
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmtLine = (l: string[]) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [fmtLine(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmtLine)];
  const notes = rows
    .filter((r) => r.note || r.baselineName)
    .map((r) => `  ${r.metric}: ${[r.baselineName ? `baseline = ${r.baselineName}` : '', r.note ?? ''].filter(Boolean).join('; ')}`);
  const goals = rows
    .filter((r) => r.note?.startsWith('goal') || r.note?.startsWith('target'))
    .map((r) =>
      r.note!.startsWith('goal')
        ? `  ${r.baselineName === 'direct' ? `${r.section}, ${r.metric.trim()}: ${fmt(r.ratio!, 2)} × direct` : `${r.metric}: ${fmt(r.ratio!, 2)} × ${r.goalBaseline ?? 'raw'}`} → ${r.note!.includes('MET') ? 'met' : 'MISSED'}`
        : `  ${r.metric}: ${r.note!.split(';')[0]}`,
    );
  process.stdout.write(
    `\n${out.join('\n')}\n\nratio = measured / baseline (calls/s, MB/s, handshakes/s: higher is better; ms, ms CPU and MiB: lower is better)\n` +
      `\nGoals: tribe ≥ 0.80 × raw @endo/captp within a host; ≥ 0.85 × raw @endo/captp over TCP between hosts; visualizer updates on the page within 250 ms; a handed-on reference ≥ 0.90 × a direct one (section 6); with 3 bridges, ≥ 0.70 × the single-path session in the default mode, p99 with one path slowed or stalled ≤ 1.5 × the fast paths alone, no call lost when a bridge dies (section 8); a replicated service ≥ 0.30 × the same service unreplicated with 32 calls in flight (section 11)\n${goals.join('\n')}\n\nNotes:\n${notes.join('\n')}\n`,
  );
};

const main = async () => {
  const t0 = performance.now();
  const started = new Date().toISOString();
  const loadBefore = loadavg();
  const phases = [benchRoundTrips, benchLoadAndSpawn, benchMemory, benchHostSessions, benchVisualizer, benchThreePartyHandoff, benchDurableObjects, benchBridgeSessions, benchTribeOfSisters, benchSyncSaga, benchReplicatedServices];
  const only = process.env['TRIBE_BENCH_ONLY']; // e.g. "1,3"
  const phaseSeconds: Record<string, number> = {};
  try {
    for (const [i, phase] of phases.entries()) {
      if (only && !only.split(',').includes(String(i + 1))) continue;
      const t = performance.now();
      await phase();
      phaseSeconds[phase.name] = Math.round(performance.now() - t) / 1000;
    }
  } finally {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  }
  const result = {
    started,
    durationS: (performance.now() - t0) / 1000,
    phaseSeconds,
    quick: QUICK,
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      totalMemMiB: Math.round(totalmem() / MiB),
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg(),
    },
    config: CONFIG,
    rows,
    details,
  };
  process.stdout.write(
    `\nTribe bench, ${started}: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} → ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`,
  );
  printTable();
  const outDir = join(repoRoot, 'test-artifacts');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${QUICK ? '(QUICK run: not a measurement) ' : ''}Wrote test-artifacts/bench.json in ${fmt(result.durationS, 0)} s total.\n`);
};

main().then(
  () => process.exit(0),
  (err) => {
    // Under lockdown stacks can be empty: the name and message always print.
    process.stderr.write(`bench failed: ${(err as Error)?.name}: ${(err as Error)?.message}\n${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
