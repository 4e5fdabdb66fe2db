/**
 * Section 9 of `npm run bench`: a tribe of sisters (`tribe host`), real processes
 * started with the CLI, as a user starts them. Each run, on a fresh tribe home:
 *
 * 1. Start: from the spawn of `tribe host --core-size 3` to a ready tribe (slot
 *    0's ps says `ready` with 2 connected sisters, and slots 1 and 2 say ready
 *    too); also the first host's own `ready pid=` line. Baseline, in the same
 *    run (the order alternates): `tribe host --solo` from its spawn to its
 *    `ready pid=` line.
 * 2. kill -9 of sister slot 1: until slot 0 no longer lists it as connected or
 *    its registry record is gone (detected), and until a new process holds
 *    slot 1 and slot 0 says ready with 2 connected sisters again (replaced).
 * 3. kill -9 of slot 0 (the first host, the spawner): the same, as slot 1 sees
 *    it; slot 1, the lowest live slot, respawns slot 0.
 * Baseline of 2 and 3: the solo start of 1 (a replacement is a start plus a
 * detection).
 *
 * Times are polled (ps over the control socket, the registry and pid files) every
 * POLL_MS. Every run ends with `tribe stop`, then SIGKILL to any process any slot
 * held during the run; how many were left is in the details.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { within } from '../helpers/bounded.js';
import { cliPath, tribe } from '../helpers/cli.js';
import { isAlive, spawnTracked } from '../helpers/processes.js';
import { psOf, slotHome, slotPids, tribeReady } from '../helpers/tribe.js';
import { fmt, summarize, type RowInput, type Summary } from './stats.js';

export interface TribeBenchConfig {
  /** Runs, each on a fresh tribe home (start, kill -9 of slot 1, kill -9 of slot 0, stop). */
  readonly runs: number;
  /** Sisters in the tribe (`--core-size`). */
  readonly coreSize: number;
}

export interface TribeBenchContext {
  readonly config: TribeBenchConfig;
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
  tempDir(prefix: string): string;
}

/** Poll interval of ps, the registry and the pid files: the resolution of every time here. */
const POLL_MS = 20;
/** A start or a replacement not done within this fails the run (a loaded 2-CPU machine is slow, never this slow). */
const STEP_MS = 60_000;
/** After `tribe stop`, processes still alive after this are counted as left behind (then SIGKILLed). */
const STOP_GRACE_MS = 10_000;
/** Flags of every host the bench starts: no visualizer; the tribe's sisters find each other through the registry, not UDP. */
const HOST_FLAGS = ['--no-viz'];
const TRIBE_FLAGS = [...HOST_FLAGS, '--no-discovery'];

interface Started {
  /** performance.now() just before the spawn. */
  readonly t0: number;
  readonly child: ChildProcess;
  readonly exit: Promise<unknown>;
  /** ms from the spawn to the host's `ready pid=` line. */
  readonly ready: Promise<number>;
  readonly output: string[];
}

/** Spawns `tribe host --home home …args`; the clock starts just before the spawn. */
const startCliHost = (home: string, args: readonly string[]): Started => {
  const t0 = performance.now();
  const { child, exit } = spawnTracked(process.execPath, [cliPath, 'host', '--home', home, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stderr!.on('data', (d) => output.push(String(d)));
  // A listener, not `for await`: leaving that loop would close the pipe under a host that still writes to it.
  const ready = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (line.startsWith('ready pid=')) resolve(performance.now() - t0);
    });
    void exit.then(() => reject(new Error(`BenchError: tribe host ${args.join(' ')} exited before its ready line:\n${output.join('\n')}`)));
  });
  ready.catch(() => {});
  return { t0, child, exit, ready, output };
};

/** Polls `check` every POLL_MS until it holds; resolves with ms since `t0`, or rejects after `ms` with what was seen last. */
const pollUntil = async (t0: number, what: string, check: () => Promise<boolean>, seen: () => Promise<unknown>, ms = STEP_MS): Promise<number> => {
  const deadline = performance.now() + ms;
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() >= deadline) {
      const last = JSON.stringify(await seen().catch((e: unknown) => String(e))).slice(0, 2000);
      throw new Error(`BenchError: ${what}: not within ${ms} ms (last seen: ${last})`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
};

const sisterIn = async (home: string, viewer: number, slot: number) => (await psOf(slotHome(home, viewer)))?.tribe?.sisters?.find((s) => s.slot === slot);

/** One plain host: spawn to its ready line, then stopped. */
const soloStart = async (home: string): Promise<number> => {
  const solo = startCliHost(home, ['--solo', ...HOST_FLAGS]);
  try {
    return await within(solo.ready, STEP_MS, `tribe host --solo (${home}) to print its ready line`);
  } finally {
    await tribe(['stop', '--home', home]).catch(() => {});
    if (isAlive(solo.child.pid!)) solo.child.kill('SIGKILL');
    await within(solo.exit, STEP_MS, 'the solo host to exit');
  }
};

interface Loss {
  /** ms from the kill until the viewer no longer lists the slot's old process as connected, or its record is gone. */
  readonly detectedMs: number;
  readonly detectedBy: 'registry' | 'ps';
  /** ms until a new process is in the slot's pid file. */
  readonly respawnedMs: number;
  /** ms until the viewer says ready with every sister connected, the new process among them. */
  readonly replacedMs: number;
}

/** kill -9 of `slot`'s process, watched from `viewer`'s ps and the tribe home's files. */
const killAndWatch = async (home: string, size: number, slot: number, viewer: number, seenPids: Set<number>): Promise<Loss> => {
  const old = slotPids(home).get(slot);
  if (old === undefined || !isAlive(old)) throw new Error(`BenchError: no live process in slot ${slot} to kill`);
  const record = join(home, 'registry', `${slot}.json`);
  process.kill(old, 'SIGKILL');
  const t0 = performance.now();
  let detected: { ms: number; by: 'registry' | 'ps' } | undefined;
  let respawnedMs: number | undefined;
  const replacedMs = await pollUntil(
    t0,
    `slot ${slot} replaced after kill -9, as slot ${viewer} sees it`,
    async () => {
      if (!detected) {
        if (!existsSync(record)) detected = { ms: performance.now() - t0, by: 'registry' };
        else {
          const s = await sisterIn(home, viewer, slot);
          if (!s || s.pid !== old || s.state !== 'connected') detected = { ms: performance.now() - t0, by: 'ps' };
        }
      }
      const now = slotPids(home).get(slot);
      if (now === undefined || now === old || !isAlive(now)) return false;
      seenPids.add(now);
      respawnedMs ??= performance.now() - t0;
      if (!detected) return false;
      const ready = await tribeReady(home, size, viewer);
      return ready?.tribe?.sisters?.find((s) => s.slot === slot)?.pid === now;
    },
    () => psOf(slotHome(home, viewer)),
  );
  return { detectedMs: detected!.ms, detectedBy: detected!.by, respawnedMs: respawnedMs!, replacedMs };
};

interface TribeRun {
  readonly firstReadyLineMs: number;
  /** Slot 0 ready with every sister connected. */
  readonly slot0ReadyMs: number;
  /** Every slot ready with every sister connected, seen in one poll. */
  readonly allReadyMs: number;
  readonly sister: Loss;
  readonly first: Loss;
  readonly stopMs: number;
  /** Processes any slot held that were still alive after `tribe stop` (then SIGKILLed). */
  readonly leftAfterStop: number;
}

const allSlotsReady = async (home: string, size: number) => {
  for (let slot = 0; slot < size; slot += 1) if (!(await tribeReady(home, size, slot))) return false;
  return true;
};

/** One tribe on a fresh home: start, kill -9 of slot 1, kill -9 of slot 0, stop. */
const tribeRun = async (home: string, size: number): Promise<TribeRun> => {
  const first = startCliHost(home, ['--core-size', String(size), ...TRIBE_FLAGS]);
  const { t0 } = first;
  const seenPids = new Set<number>([first.child.pid!]);
  const seen = () => psOf(home);
  try {
    const firstReadyLineMs = await within(first.ready, STEP_MS, 'the first tribe host to print its ready line');
    let slot0ReadyMs: number | undefined;
    const allReadyMs = await pollUntil(
      t0,
      `a tribe of ${size} ready`,
      async () => {
        for (const pid of slotPids(home).values()) seenPids.add(pid);
        if (!(await tribeReady(home, size, 0))) return false;
        slot0ReadyMs ??= performance.now() - t0;
        for (let slot = 1; slot < size; slot += 1) if (!(await tribeReady(home, size, slot))) return false;
        return true;
      },
      seen,
    );
    const sister = await killAndWatch(home, size, 1, 0, seenPids);
    // Untimed: the whole tribe settles before its first host dies.
    await pollUntil(performance.now(), 'every slot ready again', () => allSlotsReady(home, size), seen);
    const firstLoss = await killAndWatch(home, size, 0, 1, seenPids);
    const stopAt = performance.now();
    const stopped = await tribe(['stop', '--home', home]);
    const stopMs = performance.now() - stopAt;
    if (stopped.code !== 0) throw new Error(`BenchError: tribe stop failed: ${stopped.stderr}`);
    // `tribe stop` returns once asked; the processes end a moment later.
    const alive = () => [...seenPids].filter((pid) => isAlive(pid)).length;
    await pollUntil(performance.now(), 'every sister to exit after tribe stop', async () => alive() === 0, async () => alive(), STOP_GRACE_MS).catch(() => {});
    const leftAfterStop = alive();
    return { firstReadyLineMs, slot0ReadyMs: slot0ReadyMs!, allReadyMs, sister, first: firstLoss, stopMs, leftAfterStop };
  } finally {
    await tribe(['stop', '--home', home]).catch(() => {});
    for (const pid of slotPids(home).values()) seenPids.add(pid);
    for (const pid of seenPids) {
      if (pid !== process.pid && isAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    await within(first.exit, STEP_MS, 'the first tribe host to exit');
  }
};

const range = (s: Summary, digits = 0) => `${fmt(s.min, digits)}–${fmt(s.max, digits)}`;

export async function benchTribe({ config, row, details, log, tempDir }: TribeBenchContext): Promise<void> {
  const { runs, coreSize: size } = config;
  log(`[9] a tribe of ${size} sisters: start, kill -9 of a sister and of the first host (${runs} runs)`);
  const solo: number[] = [];
  const results: TribeRun[] = [];
  for (let i = 0; i < runs; i += 1) {
    // Alternate who goes first, so drift on a shared machine hits both alike.
    const soloFirst = i % 2 === 0;
    if (soloFirst) solo.push(await soloStart(tempDir('tribe-bench-solo-')));
    const r = await tribeRun(tempDir('tribe-bench-tribe-'), size);
    results.push(r);
    if (!soloFirst) solo.push(await soloStart(tempDir('tribe-bench-solo-')));
    log(
      `  run ${i + 1}: solo ${fmt(solo.at(-1)!, 0)} ms; tribe: first ready line ${fmt(r.firstReadyLineMs, 0)}, slot 0 ready ${fmt(r.slot0ReadyMs, 0)}, all ready ${fmt(r.allReadyMs, 0)} ms; ` +
        `kill slot 1: detected ${fmt(r.sister.detectedMs, 0)} (${r.sister.detectedBy}), new pid ${fmt(r.sister.respawnedMs, 0)}, replaced ${fmt(r.sister.replacedMs, 0)} ms; ` +
        `kill slot 0: detected ${fmt(r.first.detectedMs, 0)} (${r.first.detectedBy}), new pid ${fmt(r.first.respawnedMs, 0)}, replaced ${fmt(r.first.replacedMs, 0)} ms; ` +
        `stop ${fmt(r.stopMs, 0)} ms, ${r.leftAfterStop} left after stop`,
    );
  }
  const of = (pick: (r: TribeRun) => number) => summarize(results.map(pick));
  const soloSum = summarize(solo);
  const sums = {
    solo: soloSum,
    firstReadyLine: of((r) => r.firstReadyLineMs),
    slot0Ready: of((r) => r.slot0ReadyMs),
    allReady: of((r) => r.allReadyMs),
    sisterDetected: of((r) => r.sister.detectedMs),
    sisterRespawned: of((r) => r.sister.respawnedMs),
    sisterReplaced: of((r) => r.sister.replacedMs),
    firstDetected: of((r) => r.first.detectedMs),
    firstRespawned: of((r) => r.first.respawnedMs),
    firstReplaced: of((r) => r.first.replacedMs),
    stop: of((r) => r.stopMs),
  };
  const by = (pick: (r: TribeRun) => Loss) => results.map((r) => pick(r).detectedBy).join(', ');
  details['tribe'] = { runs, coreSize: size, pollMs: POLL_MS, ...sums, detectedBy: { sister: by((r) => r.sister), first: by((r) => r.first) }, leftAfterStop: results.map((r) => r.leftAfterStop) };
  const base = soloSum.median;
  const baselineName = 'tribe host --solo: spawn → its ready line';
  row({
    section: 'tribe',
    metric: `tribe host --core-size ${size}: spawn → tribe ready (every slot ready, ${size - 1} sisters connected)`,
    unit: 'ms',
    ours: sums.allReady.median,
    baseline: base,
    baselineName,
    note: `slot 0 ready at ${fmt(sums.slot0Ready.median, 0)} ms; ${range(sums.allReady)} ms over ${runs} runs; solo ${range(soloSum)} ms`,
  });
  row({ section: 'tribe', metric: "  the first host's own ready line (tribe mode)", unit: 'ms', ours: sums.firstReadyLine.median, baseline: base, baselineName, note: `${range(sums.firstReadyLine)} ms` });
  for (const [label, slot, viewer, d, p, r] of [
    ['a sister (slot 1)', 1, 0, sums.sisterDetected, sums.sisterRespawned, sums.sisterReplaced],
    ['the first host (slot 0, the spawner)', 0, 1, sums.firstDetected, sums.firstRespawned, sums.firstReplaced],
  ] as const) {
    row({
      section: 'tribe',
      metric: `kill -9 of ${label} → detected by slot ${viewer}`,
      unit: 'ms',
      ours: d.median,
      note: `not listed as connected in slot ${viewer}'s ps, or its registry record gone (${by((x) => (slot === 1 ? x.sister : x.first))}); ${range(d)} ms`,
    });
    row({
      section: 'tribe',
      metric: `  → replaced (new process in slot ${slot}, slot ${viewer} ready with ${size - 1} connected)`,
      unit: 'ms',
      ours: r.median,
      baseline: base,
      baselineName,
      note: `new pid in slot ${slot} after ${fmt(p.median, 0)} ms; ${range(r)} ms`,
    });
  }
  log(`  medians: solo ${fmt(base, 0)} ms, tribe ready ${fmt(sums.allReady.median, 0)} ms, sister replaced ${fmt(sums.sisterReplaced.median, 0)} ms, first host replaced ${fmt(sums.firstReplaced.median, 0)} ms`);
}
