/**
 * Thousands of deterministic simulations of the Raft node serving a counter
 * and a register (test/sim/simulate.ts), a determinism check, and mutants the
 * simulation must catch.
 *
 *   TRIBE_SIM_SEEDS=K   runs seeds 1..K (default SEEDS below)
 *   TRIBE_SIM_SEED=N    reruns exactly seed N, both services, printing its event log
 */
import test from 'ava';
import { makeMemoryStorage } from '../../protocols/raft/memory-storage.js';
import { makeRaftNode } from '../../protocols/raft/node.js';
import { MUTANTS } from './mutants.js';
import { type SimOptions, type SimResult, simulate } from './simulate.js';

/**
 * Seeds per run by default: each runs the counter and the register for DURATION_MS of faults, so
 * 2,000 schedules (≈ 25 s, within CI's 15 minutes); TRIBE_SIM_SEEDS=6000 runs 12,000 (green when written).
 */
const SEEDS = 1000;
const DURATION_MS = 2000;
/** Seeds run per ava test, so no test comes near ava's 120 s inactivity timeout on a loaded machine. */
const CHUNK = 100;
/** Every FIVE_NODES-th seed runs a five-node group (two may fail, minorities of two); the rest run three. */
const FIVE_NODES = 5;
/** How far a mutant search may go before the mutant counts as surviving. */
const MUTANT_SEEDS = 200;

/** The node and the storage under test: protocols/raft's own (the simulation's storage.ts is for other runs). */
const base = { makeNode: makeRaftNode, makeStorage: makeMemoryStorage, durationMs: DURATION_MS } satisfies Partial<SimOptions>;
const kinds = ['counter', 'register'] as const;
const only = process.env['TRIBE_SIM_SEED'];
const seeds = Number(process.env['TRIBE_SIM_SEEDS'] ?? SEEDS);

/** The violation's first line, the command that replays it, then the violation's details (an explanation, a stack). */
const nodesFor = (seed: number): number => (seed % FIVE_NODES === 0 ? 5 : 3);

const failure = (r: SimResult): string => {
  const [first, ...details] = (r.violations[0] ?? '').split('\n');
  const line = `seed ${r.seed} failed: ${first}; reproduce with TRIBE_SIM_SEED=${r.seed} npx ava dist/test/sim/raft-sim.test.js`;
  return [line, ...details].join('\n');
};

if (only !== undefined) {
  test(`seed ${only} (TRIBE_SIM_SEED)`, async (t) => {
    for (const kind of kinds) {
      const r = await simulate(Number(only), { ...base, kind, nodes: nodesFor(Number(only)), log: 'messages' });
      console.log(`--- ${kind}, seed ${only}: event log ---\n${r.log.join('\n')}`);
      console.log(`--- ${kind}: ${r.ok ? 'ok' : r.violations.join('\n')}\nstats ${JSON.stringify(r.stats)}`);
      t.true(r.ok, failure(r));
    }
  });
} else {
  const totals = { runs: 0, elections: 0, maxTerm: 0, commits: 0, snapshotsInstalled: 0, ok: 0, pending: 0, retries: 0, lost: 0, redirects: 0, duplicatesSuppressed: 0, unknown: 0 };
  for (let from = 1; from <= seeds; from += CHUNK) {
    const to = Math.min(seeds, from + CHUNK - 1);
    test.serial(`seeds ${from}..${to}: counter and register stay safe and linearizable`, async (t) => {
      const failures: string[] = [];
      for (let seed = from; seed <= to; seed++) {
        for (const kind of kinds) {
          const r = await simulate(seed, { ...base, kind, nodes: nodesFor(seed) });
          const s = r.stats;
          totals.runs++;
          totals.elections += s.elections;
          totals.maxTerm = Math.max(totals.maxTerm, s.maxTerm);
          totals.commits += s.maxCommit;
          totals.snapshotsInstalled += s.snapshotsInstalled;
          totals.ok += s.ok;
          totals.pending += s.pending;
          totals.retries += s.retries;
          totals.lost += s.lost;
          totals.redirects += s.redirects;
          totals.duplicatesSuppressed += s.duplicatesSuppressed;
          if (s.linearizability === 'unknown') totals.unknown++;
          if (!r.ok) {
            // Printed at once: a node that runs away (SimulationAbortError) may take the worker down before the test ends.
            console.error(`${kind} ${failure(r)}`);
            failures.push(`${kind} ${failure(r)}`);
          }
        }
      }
      t.deepEqual(failures, []);
    });
  }
  test.serial('totals over all seeds (the faults really happened)', (t) => {
    t.log(JSON.stringify(totals));
    t.true(totals.elections > totals.runs, 'more than one election per run on average');
    t.true(totals.snapshotsInstalled > 0, 'some follower installed a snapshot');
    t.true(totals.duplicatesSuppressed > 0, 'some retry was deduplicated');
    t.true(totals.lost > 0 && totals.redirects > 0, 'clients failed over: LeadershipLostError and NotLeaderError hints');
    t.true(totals.ok > 20 * totals.runs && totals.pending > 0 && totals.pending * 50 <= totals.ok, 'ops finish; a few stay pending (abandoned by restarting clients)');
    t.true(totals.unknown <= totals.runs / 100, 'the checker decides almost every history');
  });
}

// A replay of one seed runs alone.
if (only === undefined) {
  test('same seed, same run: the event log is identical line for line', async (t) => {
    const a = await simulate(7, { ...base, kind: 'register', log: 'messages' });
    const b = await simulate(7, { ...base, kind: 'register', log: 'messages' });
    t.true(a.log.length > 300, 'messages are in the log');
    t.deepEqual(a.log, b.log);
    t.deepEqual(a.history, b.history);
    const c = await simulate(8, { ...base, kind: 'register', log: 'messages' });
    t.notDeepEqual(a.log, c.log);
  });

  for (const mutant of MUTANTS) {
    test(`mutant caught: ${mutant.name}`, async (t) => {
      const other: string[] = [];
      for (let seed = 1; seed <= MUTANT_SEEDS; seed++) {
        const r = await simulate(seed, { ...base, ...mutant.options });
        if (r.ok) continue;
        // A failure of another kind is the unmutated node's (the seed sweep reports it): keep looking.
        if (!mutant.caughtBy.test(r.violations[0]!)) {
          other.push(`seed ${seed}: ${r.violations[0]!.split('\n')[0]}`);
          continue;
        }
        t.pass(`caught at seed ${seed}`);
        t.log(`caught at seed ${seed}: ${r.violations[0]}`);
        if (other.length > 0) t.log(`before that, failures of another kind:\n${other.join('\n')}`);
        return;
      }
      t.fail(`${mutant.name} survived ${MUTANT_SEEDS} seeds${other.length > 0 ? `; failures of another kind:\n${other.join('\n')}` : ''}`);
    });
  }
}
