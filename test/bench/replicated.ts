/**
 * Section 11 of `npm run bench`: replicated services ("triple services",
 * runtime/replica/). A tribe of three real `tribe host` processes on a fresh
 * home (`--core-size 3 --no-viz --no-discovery`), as a user starts it:
 *
 * 1. Throughput: vats/examples/counter.ts spawned `--replicas 3`, and as the
 *    baseline the same module spawned `--durable --on <the leader's slot>` (an
 *    unreplicated durable counter on the sister that leads the service). One
 *    client on the leader's sister (runtime/client.ts, its control socket)
 *    looks both up and runs N increments with K calls in flight (K = 1, 32);
 *    ops/s per K, the two interleaved per repetition (the order rotates).
 *    The leader's commitIndex before and after each replicated run gives
 *    increments per log entry: how many turns' write-sets one entry carried.
 *    A repetition during which the service's term changed (an election: a
 *    loaded machine can delay heartbeats past the election timeout) is run
 *    again, on the sister that leads then (with a baseline counter of its own).
 * 2. Commit latency: every call of the K = 1 runs timed on its own; median and
 *    p99 of the pooled samples, replicated against unreplicated.
 * 3. Failover: a client on a surviving sister calls `increment` in a loop, one
 *    in flight; kill -9 of the leader's host process (its slot's host.pid);
 *    the time from the kill to the answer of the first call sent after it.
 *    Between kills: the killed sister is respawned by its spawner (same VatId)
 *    and has applied everything the leader committed (ps `lastApplied` equal
 *    to the leader's `commitIndex`). No natural baseline: an absolute, with
 *    the Raft election timeout range as context. At the end the counter must
 *    read exactly the number of increments answered (none lost, none twice).
 *
 * Every process this starts is stopped (`tribe stop`), then any process any
 * slot held is killed (test/helpers/tribe.ts killTribe, and the pids seen).
 */
import { loadavg } from 'node:os';
import { E } from '@endo/far';
import { connect, type TribeClient } from '../../runtime/client.js';
import type { HostStatus, ServiceStatus } from '../../runtime/host-api.js';
import { DEFAULT_RAFT_LIMITS } from '../../protocols/raft/limits.js';
import { within } from '../helpers/bounded.js';
import { cliPath, tribe } from '../helpers/cli.js';
import { example } from '../helpers/host.js';
import { isAlive, killGroup, spawnTracked } from '../helpers/processes.js';
import { killTribe, psOf, slotHome, slotPids, tribeReady } from '../helpers/tribe.js';
import { fmt, median, quantile, summarize, type RowInput } from './stats.js';

export interface ReplicatedBenchConfig {
  /** Increments per repetition, by calls in flight. */
  readonly ops: Readonly<Record<number, number>>;
  /** Repetitions of each (K, contender). */
  readonly reps: number;
  /** Untimed increments per contender and K before the first repetition. */
  readonly warmupOps: number;
  /** kill -9 of the leader, each after the tribe has recovered from the last. */
  readonly kills: number;
}

export interface ReplicatedBenchContext {
  readonly config: ReplicatedBenchConfig;
  row(r: RowInput): void;
  readonly details: Record<string, unknown>;
  log(line: string): void;
  tempDir(prefix: string): string;
}

const CORE = 3;
/** Calls in flight per throughput mode; the goal is judged at the last. */
export const WINDOWS = [1, 32] as const;
/** Replicated ops/s ≥ this × the unreplicated service at K = 32. */
const GOAL_RATIO = 0.3;
/** A tribe not ready, a leader not agreed or a sister not caught up within this fails the section. */
const STEP_MS = 90_000;
/** After `tribe stop`, how long the sisters get to exit on their own. */
const STOP_GRACE_MS = 15_000;
/** Poll interval of ps and the pid files while waiting for a state (not a timed resolution: failover is timed by the calls). */
const POLL_MS = 50;
/** Answered increments before the kill: the loop is in its steady state. */
const CALLS_BEFORE_KILL = 20;
/** Attempts per kept repetition before the section gives up (each failed one saw an election). */
const MAX_ATTEMPTS_PER_REP = 3;
const REPLICATED = 'bench-replicated';
const PLAIN = 'bench-plain';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pollUntil = async <T>(check: () => Promise<T | undefined | false>, what: string, seen?: () => Promise<unknown>, ms = STEP_MS): Promise<T> => {
  const deadline = performance.now() + ms;
  for (;;) {
    const got = await check();
    if (got !== undefined && got !== false) return got;
    if (performance.now() > deadline) {
      const last = seen ? JSON.stringify(await seen().catch((e: unknown) => String(e))).slice(0, 2000) : '';
      throw new Error(`BenchError: ${what}: not within ${ms} ms${last ? ` (last seen: ${last})` : ''}`);
    }
    await sleep(POLL_MS);
  }
};

const cli = async (args: string[]): Promise<string> => {
  const r = await tribe(args);
  if (r.code !== 0) throw new Error(`BenchError: tribe ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
};

// --- the tribe -------------------------------------------------------------------------------

interface Tribe {
  readonly home: string;
  /** Every pid any slot held: killed at the end if still alive. */
  readonly pids: Set<number>;
  stop(): Promise<number>;
}

const startTribe = async (home: string, log: (l: string) => void): Promise<Tribe> => {
  const first = spawnTracked(process.execPath, [cliPath, 'host', '--home', home, '--core-size', String(CORE), '--no-viz', '--no-discovery'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  first.child.stderr!.on('data', (d) => stderr.push(String(d)));
  const pids = new Set<number>([first.child.pid!]);
  const note = () => {
    for (const pid of slotPids(home).values()) pids.add(pid);
  };
  const stop = async () => {
    note();
    await tribe(['stop', '--home', home]).catch((e: unknown) => log(`  tribe stop: ${(e as Error).message}`));
    await pollUntil(async () => [...pids].every((p) => !isAlive(p)), 'the sisters to exit after tribe stop', undefined, STOP_GRACE_MS).catch(() => {});
    const left = [...pids].filter((p) => isAlive(p)).length;
    await killTribe(home);
    for (const pid of pids) {
      if (pid !== process.pid && isAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
    if (isAlive(first.child.pid!)) killGroup(first.child.pid!);
    await within(first.exit, 30_000, 'the first tribe host to exit');
    return left;
  };
  const t: Tribe = { home, pids, stop };
  try {
    await pollUntil(async () => {
      note();
      // The first host is killed later on purpose; before it is ready, its exit is a failure.
      if (first.child.exitCode !== null) throw new Error(`BenchError: tribe host exited: ${stderr.join('').slice(-2000)}`);
      for (let k = 0; k < CORE; k++) if (!(await tribeReady(home, CORE, k))) return false;
      return true;
    }, `a tribe of ${CORE} ready`);
  } catch (err) {
    await stop();
    throw err;
  }
  return t;
};

const serviceIn = (ps: HostStatus | undefined): ServiceStatus | undefined => ps?.services?.find((s) => s.name === REPLICATED);

interface Leader {
  readonly id: string;
  readonly slot: number;
  readonly term: number;
  readonly commitIndex: number;
}

/** The leader every slot in `slots` names, in one term, serving; undefined while they disagree. */
const agreedLeader = async (home: string, slots: readonly number[]): Promise<Leader | undefined> => {
  const seen = await Promise.all(slots.map(async (k) => ({ k, ps: await psOf(slotHome(home, k)) })));
  const services = seen.map((s) => serviceIn(s.ps));
  const first = services[0];
  if (!first?.leader || services.some((s) => !s || s.leader !== first.leader || s.term !== first.term)) return undefined;
  const at = seen.find((s) => s.ps?.id === first.leader);
  const mine = serviceIn(at?.ps);
  if (!at || !mine?.serving) return undefined;
  return { id: first.leader, slot: at.k, term: first.term, commitIndex: mine.commitIndex };
};

const lookupEventually = (client: TribeClient, name: string) =>
  pollUntil(async () => {
    try {
      return { ref: await client.lookup(name) };
    } catch {
      return undefined;
    }
  }, `${name} published on ${client.home}`).then((x) => x.ref);

// --- throughput and latency --------------------------------------------------------------------

interface Run {
  readonly ms: number;
  /** Per call, ms (K = 1 only). */
  readonly latencies: number[];
}

/** n increments with k in flight; every call timed when k = 1. */
const drive = async (ref: unknown, n: number, k: number): Promise<Run> => {
  let issued = 0;
  const latencies: number[] = [];
  const worker = async () => {
    while (issued < n) {
      issued += 1;
      const t = performance.now();
      await E(ref as any).increment();
      if (k === 1) latencies.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: k }, worker));
  return { ms: performance.now() - t0, latencies };
};

interface Throughput {
  /** By K: ops/s per kept repetition. */
  readonly rates: Map<number, { replicated: number[]; plain: number[] }>;
  /** By K: increments per log entry per kept replicated repetition. */
  readonly opsPerEntry: Map<number, number[]>;
  readonly latency: { replicated: number[]; plain: number[] };
  /** Repetitions run again because the service's term changed during their replicated run (an election). */
  discarded: number;
  /** The slots the leader was on, in order (a new one each time the leader moved between repetitions). */
  readonly leaderSlots: number[];
  /** Increments the replicated counter answered in the throughput runs, and what it reads at the end of the section. */
  issued: number;
  finalCount: number;
}

/** The leader's sister, as the throughput runs use it: a client there, the front, and an unreplicated counter there. */
interface Placement {
  readonly slot: number;
  readonly client: TribeClient;
  readonly refs: { readonly replicated: unknown; readonly plain: unknown };
  /** Ks both contenders have been warmed up at here. */
  readonly warm: Set<number>;
}

/**
 * The placement on the sister that leads now (made the first time it leads: the
 * baseline counter spawned there), and the term it leads in. Load on a shared
 * machine can delay heartbeats past the election timeout; the leader may move.
 */
const placeAtLeader = async (home: string, placements: Map<number, Placement>): Promise<{ at: Placement; term: number }> => {
  const leader = await pollUntil(() => agreedLeader(home, [0, 1, 2]), 'the replicas to agree on a serving leader', () => psOf(home));
  let at = placements.get(leader.slot);
  if (!at) {
    const plain = `${PLAIN}-${leader.slot}`;
    await cli(['spawn', example('counter.ts'), '--name', plain, '--durable', '--on', String(leader.slot), '--home', home]);
    const client = await connect({ home: slotHome(home, leader.slot) });
    if (!(await client.ps()).vats.some((v) => v.name === plain)) throw new Error(`BenchError: ${plain} does not run on slot ${leader.slot}, the leader's sister`);
    at = { slot: leader.slot, client, refs: { replicated: await lookupEventually(client, REPLICATED), plain: await lookupEventually(client, plain) }, warm: new Set() };
    placements.set(leader.slot, at);
  }
  return { at, term: leader.term };
};

/** Repetitions of both contenders per K, interleaved; a repetition whose replicated run saw an election is run again. */
const throughput = async (t: Tribe, config: ReplicatedBenchConfig, log: (l: string) => void): Promise<Throughput> => {
  const { home } = t;
  const spawned = await cli(['spawn', example('counter.ts'), '--name', REPLICATED, '--replicas', String(CORE), '--home', home]);
  log(`  ${spawned.trim()}`);
  const m: Throughput = { rates: new Map(WINDOWS.map((k) => [k, { replicated: [], plain: [] }])), opsPerEntry: new Map(WINDOWS.map((k) => [k, []])), latency: { replicated: [], plain: [] }, discarded: 0, leaderSlots: [], issued: 0, finalCount: 0 };
  const placements = new Map<number, Placement>();
  try {
    for (const k of WINDOWS) {
      const n = config.ops[k]!;
      for (let rep = 0, attempt = 0; rep < config.reps; attempt++) {
        if (attempt >= config.reps * MAX_ATTEMPTS_PER_REP) throw new Error(`BenchError: ${m.discarded} of ${attempt} repetitions at K=${k} saw an election`);
        const { at, term } = await placeAtLeader(home, placements);
        if (m.leaderSlots.at(-1) !== at.slot) m.leaderSlots.push(at.slot);
        if (!at.warm.has(k)) {
          await drive(at.refs.replicated, config.warmupOps, k);
          await drive(at.refs.plain, config.warmupOps, k);
          m.issued += config.warmupOps;
          at.warm.add(k);
        }
        const status = async () => serviceIn(await at.client.ps());
        const runs: Partial<Record<'replicated' | 'plain', Run>> = {};
        let entries = NaN;
        let elected = false;
        // Rotate who goes first, so drift on a shared machine hits both alike.
        for (const which of rep % 2 === 0 ? (['replicated', 'plain'] as const) : (['plain', 'replicated'] as const)) {
          const before = which === 'replicated' ? await status() : undefined;
          runs[which] = await drive(at.refs[which], n, k);
          if (which !== 'replicated') continue;
          m.issued += n;
          const after = await status();
          elected = before?.term !== term || after?.term !== term || after.role !== 'leader';
          entries = (after?.commitIndex ?? NaN) - (before?.commitIndex ?? NaN);
        }
        const rate = (w: 'replicated' | 'plain') => (n * 1000) / runs[w]!.ms;
        const line = `replicated ${fmt(rate('replicated'), 0)}/s, plain ${fmt(rate('plain'), 0)}/s; ${fmt(n / entries, 2)} increments/entry (leader on slot ${at.slot})`;
        if (elected) {
          m.discarded += 1;
          log(`  K=${k} rep ${rep + 1}/${config.reps}: ${line}: an election during it (term ${term} → ${(await status())?.term}); run again`);
          continue;
        }
        for (const w of ['replicated', 'plain'] as const) {
          m.rates.get(k)![w].push(rate(w));
          if (k === 1) m.latency[w].push(...runs[w]!.latencies);
        }
        m.opsPerEntry.get(k)!.push(n / entries);
        rep += 1;
        log(`  K=${k} rep ${rep}/${config.reps}: ${line}`);
      }
    }
  } finally {
    await Promise.all([...placements.values()].map((p) => p.client.close().catch(() => {})));
  }
  return m;
};

// --- failover ----------------------------------------------------------------------------------

interface Kill {
  readonly killedSlot: number;
  readonly clientSlot: number;
  /** From the kill to the answer of the first call sent after it. */
  readonly failoverMs: number;
  /** From the kill to the answer of the call in flight through it. */
  readonly firstAnswerMs: number;
  /** The service's term before the kill, and once the killed sister caught up. */
  readonly termBefore: number;
  readonly termAfter: number;
  /** From the kill until a new process held the slot, and until it had applied the leader's commitIndex. */
  readonly respawnMs: number;
  readonly caughtUpMs: number;
  /** Increments answered in this round (each applied once: checked against the count at the end). */
  readonly answered: number;
}

/** One kill -9 of the leader's host, timed from a client on a surviving sister; answers once the killed sister has caught up. */
const killLeader = async (t: Tribe): Promise<Kill> => {
  const { home } = t;
  const leader = await pollUntil(() => agreedLeader(home, [0, 1, 2]), 'a serving leader all three agree on', () => psOf(home));
  const clientSlot = [0, 1, 2].find((k) => k !== leader.slot)!;
  const pid = slotPids(home).get(leader.slot);
  if (pid === undefined || !isAlive(pid)) throw new Error(`BenchError: no live process in slot ${leader.slot}, the leader's`);
  const client = await connect({ home: slotHome(home, clientSlot) });
  try {
    const front = await lookupEventually(client, REPLICATED);
    let killedAt: number | undefined;
    let firstAnswerAt: number | undefined;
    let answered = 0;
    // Resolves with the answer time of the first call sent after the kill. The kill comes
    // right after a call is sent, so one call is in flight through it (its front retries it
    // with the same call id at the next leader): that call's answer is `firstAnswerAt`.
    const loop = (async () => {
      for (;;) {
        const sent = performance.now();
        const answer = E(front).increment();
        if (killedAt === undefined && answered >= CALLS_BEFORE_KILL) {
          process.kill(pid, 'SIGKILL');
          killedAt = performance.now();
        }
        await answer;
        const at = performance.now();
        answered += 1;
        if (killedAt !== undefined) {
          firstAnswerAt ??= at;
          if (sent > killedAt) return at;
        }
      }
    })();
    const resumedAt = await within(loop, STEP_MS, 'the first call after the kill to be answered');
    const respawnedAt = await pollUntil(async () => {
      const now = slotPids(home).get(leader.slot);
      if (now === undefined || now === pid || !isAlive(now)) return undefined;
      t.pids.add(now);
      return performance.now();
    }, `slot ${leader.slot} respawned`);
    const next = await pollUntil(async () => {
      const l = await agreedLeader(home, [0, 1, 2]);
      if (!l) return undefined;
      const killed = serviceIn(await psOf(slotHome(home, leader.slot)));
      const now = serviceIn(await psOf(slotHome(home, l.slot)));
      return killed && now && killed.lastApplied === now.commitIndex ? l : undefined;
    }, `slot ${leader.slot} caught up`, async () => Promise.all([0, 1, 2].map(async (k) => serviceIn(await psOf(slotHome(home, k))))));
    return {
      killedSlot: leader.slot,
      clientSlot,
      failoverMs: resumedAt - killedAt!,
      firstAnswerMs: firstAnswerAt! - killedAt!,
      termBefore: leader.term,
      termAfter: next.term,
      respawnMs: respawnedAt - killedAt!,
      caughtUpMs: performance.now() - killedAt!,
      answered,
    };
  } finally {
    await client.close().catch(() => {});
  }
};

// --- the rows ------------------------------------------------------------------------------------

const report = (ctx: ReplicatedBenchContext, m: Throughput, kills: readonly Kill[]) => {
  const { config, row } = ctx;
  const section = 'replicated services';
  const baselineName = `the same module spawned --durable --on the leader's sister (one durable vat, same client, same host)`;
  for (const k of WINDOWS) {
    const r = m.rates.get(k)!;
    const rep = median(r.replicated);
    const plain = median(r.plain);
    const ratio = rep / plain;
    const paired = r.replicated.map((x, i) => x / r.plain[i]!);
    const entries = median(m.opsPerEntry.get(k)!);
    const goal = k === WINDOWS.at(-1);
    const range = `${m.discarded > 0 && goal ? `${m.discarded} repetition(s) run again after an election during them (leader on slots ${m.leaderSlots.join(' → ')}); ` : ''}replicated ${fmt(Math.min(...r.replicated), 0)}–${fmt(Math.max(...r.replicated), 0)}/s, unreplicated ${fmt(Math.min(...r.plain), 0)}–${fmt(Math.max(...r.plain), 0)}/s over ${r.plain.length}; per-repetition ratios ${fmt(Math.min(...paired), 2)}–${fmt(Math.max(...paired), 2)}; ${fmt(entries, 2)} increments per log entry`;
    row({
      section,
      metric: `increments/s, counter --replicas ${CORE} (client on the leader's sister), ${k} in flight`,
      unit: 'calls/s',
      ours: rep,
      baseline: plain,
      baselineName,
      ...(goal ? { goalBaseline: 'unreplicated' } : {}),
      note: goal ? `goal ≥ ${fmt(GOAL_RATIO, 2)} × unreplicated at ${k} in flight: ${ratio >= GOAL_RATIO ? 'MET' : 'MISSED'}; ${range}` : range,
    });
  }
  const lat = m.latency;
  for (const [metric, q] of [
    ['one increment, 1 in flight: median latency', 0.5],
    ['  p99 latency', 0.99],
  ] as const) {
    row({
      section,
      metric,
      unit: 'ms',
      ours: quantile(lat.replicated, q),
      baseline: quantile(lat.plain, q),
      baselineName: 'the unreplicated durable counter above',
      note: `${fmt(lat.replicated.length, 0)} calls each, pooled over ${config.reps} repetitions`,
    });
  }
  if (kills.length > 0) {
    const failover = kills.map((k) => k.failoverMs);
    const few = kills.length < 100;
    const { electionMinMs, electionMaxMs, heartbeatMs } = DEFAULT_RAFT_LIMITS;
    const context = `Raft election timeout ${electionMinMs}–${electionMaxMs} ms, heartbeat ${heartbeatMs} ms (DEFAULT_RAFT_LIMITS)`;
    row({
      section,
      metric: `kill -9 of the leader's host → first call sent after it answered (median of ${kills.length})`,
      unit: 'ms',
      ours: median(failover),
      note: `no natural baseline; context: ${context}; ${fmt(Math.min(...failover), 0)}–${fmt(Math.max(...failover), 0)} ms; client on a surviving sister, 1 in flight; the call in flight through the kill answered after ${fmt(median(kills.map((k) => k.firstAnswerMs)), 0)} ms (median), once`,
    });
    row({
      section,
      metric: `  p99${few ? ` (= max of ${kills.length})` : ''}`,
      unit: 'ms',
      ours: quantile(failover, 0.99),
      note: few ? `with ${kills.length} samples p99 is the largest` : '',
    });
    row({
      section,
      metric: '  killed sister respawned → caught up (lastApplied = commitIndex), from the kill',
      unit: 'ms',
      ours: median(kills.map((k) => k.caughtUpMs)),
      note: `new process in the slot after ${fmt(median(kills.map((k) => k.respawnMs)), 0)} ms (median); untimed between kills`,
    });
  }
};

// --- the section -----------------------------------------------------------------------------------

export async function benchReplicated(ctx: ReplicatedBenchContext): Promise<void> {
  const { config, details, log, tempDir } = ctx;
  const load0 = loadavg();
  log(`[11] replicated services: counter --replicas ${CORE} vs --durable, ${WINDOWS.map((k) => `${fmt(config.ops[k]!, 0)} increments at K=${k}`).join(', ')} × ${config.reps}; ${config.kills} kills of the leader (load ${load0.map((x) => x.toFixed(2)).join(' ')})`);
  const t0 = performance.now();
  const t = await startTribe(tempDir('tribe-bench-replicated-'), log);
  log(`  tribe of ${CORE} ready in ${fmt(performance.now() - t0, 0)} ms`);
  const measure = async () => {
    const m = await throughput(t, config, log);
    const kills: Kill[] = [];
    for (let i = 0; i < config.kills; i++) {
      const k = await killLeader(t);
      kills.push(k);
      log(`  kill ${i + 1}/${config.kills}: slot ${k.killedSlot} (term ${k.termBefore} → ${k.termAfter}), client on slot ${k.clientSlot}: first call after the kill answered in ${fmt(k.failoverMs, 0)} ms (first answer ${fmt(k.firstAnswerMs, 0)} ms); respawned ${fmt(k.respawnMs, 0)} ms, caught up ${fmt(k.caughtUpMs, 0)} ms`);
    }
    // Exactly once through the kills: the count is every increment answered, no more, no less.
    const reader = await connect({ home: t.home });
    try {
      const count = (await E(await lookupEventually(reader, REPLICATED)).read()) as number;
      const answered = m.issued + kills.reduce((a, k) => a + k.answered, 0);
      if (count !== answered) throw new Error(`BenchError: the replicated counter reads ${count} after ${answered} answered increments`);
      m.finalCount = count;
    } finally {
      await reader.close().catch(() => {});
    }
    return { m, kills };
  };
  let leftAfterStop = 0;
  let measured: Awaited<ReturnType<typeof measure>>;
  try {
    measured = await measure();
  } finally {
    leftAfterStop = await t.stop();
  }
  const { m, kills } = measured;
  report(ctx, m, kills);
  const load1 = loadavg();
  const sums = (f: (w: { replicated: number[]; plain: number[] }) => number[]) => Object.fromEntries(WINDOWS.map((k) => [k, summarize(f(m.rates.get(k)!))]));
  details['replicated'] = {
    loadavg: { before: load0, after: load1 },
    config,
    leaderSlots: m.leaderSlots,
    repetitionsRunAgainAfterAnElection: m.discarded,
    incrementsInThroughputRuns: m.issued,
    finalCount: m.finalCount,
    opsPerSecond: { replicated: sums((w) => w.replicated), plain: sums((w) => w.plain) },
    incrementsPerLogEntry: Object.fromEntries(WINDOWS.map((k) => [k, summarize(m.opsPerEntry.get(k)!)])),
    latencyMs: Object.fromEntries(
      (['replicated', 'plain'] as const).map((w) => [w, { n: m.latency[w].length, median: quantile(m.latency[w], 0.5), p90: quantile(m.latency[w], 0.9), p99: quantile(m.latency[w], 0.99), max: Math.max(...m.latency[w]) }]),
    ),
    failover: { kills, failoverMs: summarize(kills.map((k) => k.failoverMs)), firstAnswerMs: summarize(kills.map((k) => k.firstAnswerMs)), caughtUpMs: summarize(kills.map((k) => k.caughtUpMs)) },
    raftLimits: DEFAULT_RAFT_LIMITS,
    leftAfterStop,
  };
  log(`  medians: ${WINDOWS.map((k) => `K=${k} ${fmt(median(m.rates.get(k)!.replicated), 0)} vs ${fmt(median(m.rates.get(k)!.plain), 0)}/s`).join(', ')}; failover ${fmt(median(kills.map((k) => k.failoverMs)), 0)} ms; ${leftAfterStop} process(es) left after tribe stop (killed); load ${load1.map((x) => x.toFixed(2)).join(' ')}`);
}
