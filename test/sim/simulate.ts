/**
 * One deterministic simulation of a replicated service: a Raft group on the
 * simulated network and clock, clients driving it, and a fault schedule of
 * crashes, restarts, partitions (including one that strands the leader in a
 * minority), loss, delay and duplication for `durationMs`. The invariants of
 * invariants.ts are checked continuously; then everything heals, the clients
 * finish what they have outstanding, the replicas must converge to one state,
 * and the clients' history must be linearizable against the service's model.
 *
 * Deterministic: everything comes from the seed, so `simulate(seed, options)`
 * twice gives the same log line for line.
 */
import type { NodeId, RaftLimits, RaftStorage } from '../../protocols/raft/types.js';
import { type ClientStats, makeClient } from './clients.js';
import { makeClock } from './clock.js';
import { type MakeNode, makeCluster, type NodeMutation } from './cluster.js';
import { makeInvariants, type SafetyStats } from './invariants.js';
import { checkLinearizable, formatExplanation, type Operation, type Verdict } from './linearizability.js';
import { CALM, makeNetwork, type NetworkFaults, type NetworkStats } from './network.js';
import { makeRandom, type Random } from './random.js';
import { modelOf, type ServiceInput, type ServiceKind, type ServiceOptions } from './services.js';
import { makeSimStorage } from './storage.js';

/** Thrown out of a node that runs away (a send loop), to end the run. */
export class SimulationAbortError extends Error {
  override name = 'SimulationAbortError';
  constructor(why: string) {
    super(`SimulationAbortError: ${why}`);
  }
}

export interface SimOptions {
  readonly kind: ServiceKind;
  readonly makeNode: MakeNode;
  readonly makeStorage?: () => RaftStorage;
  readonly nodes?: number;
  readonly clients?: number;
  /** Simulated time with faults and new client ops. */
  readonly durationMs?: number;
  /** After healing, how long the group may take to answer every client and converge. */
  readonly settleMs?: number;
  readonly limits?: Partial<RaftLimits>;
  readonly service?: ServiceOptions;
  readonly mutation?: NodeMutation;
  /** 'messages' logs every delivered message too (for a reproduction). */
  readonly log?: 'none' | 'events' | 'messages';
  /** Time between two faults, drawn uniformly (default 100–500 ms). */
  readonly faultGapMs?: readonly [number, number];
  /** Chance that a voter is bounced right after its granted vote arrives (default VOTER_BOUNCE). */
  readonly voterBounce?: number;
  /** Stop at the first violation (the default) or run on. */
  readonly runOn?: boolean;
}

/** Fast timings, so a few simulated seconds hold many elections and snapshots. */
export const SIM_LIMITS: Partial<RaftLimits> = {
  electionMinMs: 150,
  electionMaxMs: 300,
  heartbeatMs: 50,
  leaderLeaseMs: 200,
  maxAppendBytes: 1024,
  maxInflightAppends: 4,
  snapshotEvery: 16,
  maxPendingProposals: 64,
};

export interface SimStats extends SafetyStats, ClientStats {
  pending: number;
  duplicatesSuppressed: number;
  events: number;
  crashes: number;
  partitions: number;
  network: NetworkStats;
  checkerStates: number;
  linearizability: Verdict['result'] | 'skipped';
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly history: readonly Operation<ServiceInput, unknown>[];
  readonly stats: SimStats;
  readonly log: readonly string[];
}

const NETWORK_MOODS: readonly NetworkFaults[] = [
  CALM,
  { loss: 0.05, duplicate: 0.05, minDelayMs: 1, maxDelayMs: 30 },
  { loss: 0.2, duplicate: 0.1, minDelayMs: 1, maxDelayMs: 60 },
  { loss: 0.02, duplicate: 0.2, minDelayMs: 5, maxDelayMs: 120 },
];
/** Events one run may take: a run of a few simulated seconds takes a few thousand, so far more is a message or timer storm. */
export const MAX_EVENTS = 200_000;
/** Messages one event may cause: a handful is normal, more is a send loop (reported with its stack). */
export const MAX_SENDS_PER_EVENT = 10_000;
/** Chance of bouncing a voter whose vote just arrived: rare, elections are frequent. */
export const VOTER_BOUNCE = 0.05;
/** How often the convergence check looks, once healed. */
const SETTLE_STEP_MS = 50;

const shuffle = <T>(random: Random, items: readonly T[]): T[] => {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

export const simulate = async (seed: number, options: SimOptions): Promise<SimResult> => {
  const random = makeRandom(seed);
  const clock = makeClock();
  const lines: string[] = [];
  const level = options.log ?? 'none';
  const log = level === 'none' ? undefined : (line: string) => lines.push(line);
  let events = 0;
  let sendsThisEvent = 0;
  const duration = options.durationMs ?? 3000;
  const faults = { crashes: 0, partitions: 0 };
  const chaos = random.fork('faults');
  const inner = makeNetwork(clock, random.fork('network'), {
    ...(level === 'messages' && log ? { log } : {}),
    onDeliver: (from, to, message) => aimedFault(from, to, message),
  });
  const network: typeof inner = {
    ...inner,
    send: (from, to, message) => {
      if (++sendsThisEvent === MAX_SENDS_PER_EVENT) {
        const where = (new Error().stack ?? '').split('\n').slice(2, 8).join('\n');
        invariants.violations.push(`Liveness: ${from} sent ${MAX_SENDS_PER_EVENT} messages in one event at t=${clock.now()} (last to ${to}: ${JSON.stringify(message).slice(0, 300)})\n${where}`);
      }
      // A send loop may never end on its own: throwing out of the node is the only way out (XState may rethrow it later, uncaught).
      if (sendsThisEvent >= MAX_SENDS_PER_EVENT) throw new SimulationAbortError(invariants.violations.at(-1)!);
      inner.send(from, to, message);
    },
  };
  const invariants = makeInvariants(clock.now, log);
  const members: NodeId[] = Array.from({ length: options.nodes ?? 3 }, (_, i) => `n${i + 1}`);
  const tolerated = Math.floor((members.length - 1) / 2);
  const duplicates = new Set<number>();
  const cluster = makeCluster({
    members,
    kind: options.kind,
    clock,
    network,
    random: random.fork('nodes'),
    makeNode: options.makeNode,
    makeStorage: options.makeStorage ?? makeSimStorage,
    limits: { ...SIM_LIMITS, ...options.limits },
    invariants,
    service: { ...options.service, onDuplicate: (index) => duplicates.add(index) },
    ...(options.mutation ? { mutation: options.mutation } : {}),
    ...(log ? { log } : {}),
  });
  const history: Operation<ServiceInput, unknown>[] = [];
  const clientStats: ClientStats = { ops: 0, ok: 0, retries: 0, timeouts: 0, redirects: 0, errors: 0, abandoned: 0, lost: 0, busy: 0 };
  let logical = 0;
  const clients = Array.from({ length: options.clients ?? 3 }, (_, i) =>
    makeClient({
      id: `c${i + 1}`,
      kind: options.kind,
      nodes: members,
      clock,
      network,
      random: random.fork(`c${i + 1}`),
      tick: () => ++logical,
      history,
      stats: clientStats,
      timeoutMs: 400,
      thinkMs: [10, 80],
      ...(log ? { log } : {}),
    }),
  );

  const fault = (): void => {
    const r = chaos.next();
    const up = cluster.up();
    const down = cluster.down();
    if (r < 0.25 && down.length < tolerated) {
      const leader = cluster.leader();
      const victim = leader !== undefined && chaos.chance(0.5) ? leader : chaos.pick(up);
      faults.crashes++;
      cluster.crash(victim);
    } else if (r < 0.45 && down.length > 0) {
      cluster.restart(chaos.pick(down));
    } else if (r < 0.45) {
      // A quick bounce (a process restart): the node comes back within an election timeout, with what it persisted.
      const victim = chaos.pick(up);
      faults.crashes++;
      cluster.crash(victim);
      clock.after(chaos.int(1, 60), () => cluster.restart(victim));
    } else if (r < 0.6) {
      const order = shuffle(chaos, members);
      const cut = chaos.int(1, members.length - 1);
      network.partition([order.slice(0, cut), order.slice(cut)]);
      faults.partitions++;
      log?.(`${clock.now()} partition ${order.slice(0, cut).join(',')} | ${order.slice(cut).join(',')}`);
    } else if (r < 0.72) {
      // Strand the leader in a minority: it keeps a stale view until its lease runs out.
      const leader = cluster.leader();
      if (leader === undefined) return;
      const others = shuffle(chaos, members.filter((m) => m !== leader));
      const minority = [leader, ...others.slice(0, tolerated - 1)];
      network.partition([minority, others.slice(tolerated - 1)]);
      faults.partitions++;
      log?.(`${clock.now()} minority-leader partition ${minority.join(',')} | ${others.slice(tolerated - 1).join(',')}`);
    } else if (r < 0.8) {
      network.heal();
      log?.(`${clock.now()} heal`);
    } else if (r < 0.9) {
      chaos.pick(clients).abandon();
    } else {
      const mood = chaos.pick(NETWORK_MOODS);
      network.setFaults(mood);
      log?.(`${clock.now()} network ${JSON.stringify(mood)}`);
    }
  };
  /** A voter bounced right after its vote arrived: it must come back remembering it (votes are durable). */
  function aimedFault(from: string, _to: string, message: unknown): void {
    const m = message as { type?: string; granted?: boolean };
    if (m.type !== 'vote.reply' || !m.granted || clock.now() >= duration || cluster.down().length >= tolerated) return;
    if (!chaos.chance(options.voterBounce ?? VOTER_BOUNCE)) return;
    faults.crashes++;
    cluster.crash(from);
    clock.after(chaos.int(1, 30), () => cluster.restart(from));
  }
  const scheduleFaults = (): void => {
    const [gapMin, gapMax] = options.faultGapMs ?? [100, 500];
    clock.after(chaos.int(gapMin, gapMax), () => {
      if (clock.now() >= duration) return;
      fault();
      scheduleFaults();
    });
  };
  const runUntil = async (until: number): Promise<void> => {
    for (;;) {
      try {
        if (!clock.step(until)) return;
      } catch (err) {
        invariants.violations.push(`a node threw at t=${clock.now()}: ${(err as Error)?.stack ?? err}`);
        return;
      }
      sendsThisEvent = 0;
      events++;
      if (events > MAX_EVENTS) {
        invariants.violations.push(`Liveness: more than ${MAX_EVENTS} events by t=${clock.now()} (a message or timer storm; ${clock.pending()} pending)`);
        return;
      }
      // Lets what the event settled (propose's promises) run at this simulated time.
      await null;
      await null;
      if (invariants.violations.length > 0 && !options.runOn) return;
    }
  };
  const converged = (): string | undefined => {
    const statuses = members.map((id) => cluster.status(id)!);
    const commits = new Set(statuses.map((s) => `${s.commitIndex}/${s.lastApplied}`));
    const states = new Set(members.map((id) => JSON.stringify(cluster.state(id))));
    if (commits.size > 1 || states.size > 1) return `replicas differ: ${statuses.map((s) => `${s.id} ${s.role} t${s.term} commit ${s.commitIndex} applied ${s.lastApplied}`).join('; ')}`;
    if (!clients.every((c) => c.idle())) return 'clients still waiting';
    return undefined;
  };

  cluster.startAll();
  for (const c of clients) c.start();
  scheduleFaults();
  await runUntil(duration);
  network.heal();
  network.setFaults(CALM);
  for (const id of cluster.down()) cluster.restart(id);
  for (const c of clients) c.stopIssuing();
  log?.(`${clock.now()} healed; settling`);
  const settleBy = duration + (options.settleMs ?? 3000);
  let unsettled: string | undefined = 'not checked';
  for (let t = duration + SETTLE_STEP_MS; t <= settleBy && invariants.violations.length === 0 && events <= MAX_EVENTS; t += SETTLE_STEP_MS) {
    await runUntil(t);
    unsettled = converged();
    if (!unsettled) break;
  }
  for (const c of clients) c.stop();
  cluster.stopAll();

  const violations = [...invariants.violations];
  if (unsettled && violations.length === 0) violations.push(`Liveness: not settled ${options.settleMs ?? 3000} ms after healing: ${unsettled}`);
  const verdict = violations.length > 0 ? undefined : checkLinearizable(modelOf(options.kind), history);
  if (verdict?.result === 'violation') violations.push(`Linearizability (${options.kind}): ${formatExplanation(verdict.explanation)}`);
  const stats: SimStats = {
    ...invariants.stats,
    ...clientStats,
    pending: history.filter((op) => op.respond === undefined).length,
    duplicatesSuppressed: duplicates.size,
    events,
    ...faults,
    network: network.stats(),
    checkerStates: verdict?.states ?? 0,
    linearizability: verdict?.result ?? 'skipped',
  };
  return { seed, ok: violations.length === 0, violations, history, stats, log: lines };
};
