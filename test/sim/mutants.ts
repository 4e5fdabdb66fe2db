/**
 * Broken variants of the system under test, each of which the simulation must
 * catch for some seed in a bounded search. They keep the harness honest: a
 * checker that passes everything would pass these too.
 */
import type { RaftStorage } from '../../protocols/raft/types.js';
import type { NodeMutation } from './cluster.js';
import type { SimOptions } from './simulate.js';

export interface Mutant {
  readonly name: string;
  /** What the simulation runs instead of the real thing. */
  readonly options: Pick<SimOptions, 'service' | 'mutation' | 'kind' | 'nodes' | 'clients' | 'faultGapMs' | 'limits' | 'voterBounce'>;
  /** The violation it must produce. */
  readonly caughtBy: RegExp;
}

/**
 * Serves reads from the local state machine of whichever replica was asked, without a log round: a
 * partitioned follower or a stranded leader answers a value others have already overwritten.
 */
const localReads: NodeMutation = {
  serveLocally: (_node, service, request) => {
    if (request.command.op.type !== 'read') return undefined;
    return { type: 'client.reply', seq: request.command.seq, outcome: 'ok', result: service.state().value };
  },
};

/** Storage whose last entries were never made durable: a crash loses up to `lost` of the tail (a missing fsync). */
const unsyncedTail =
  (lost: number) =>
  (inner: RaftStorage): RaftStorage & { crashed: () => void } => ({
    ...inner,
    crashed: () => {
      const last = inner.lastIndex();
      const from = Math.max((inner.snapshot()?.index ?? 0) + 1, last - lost + 1);
      if (from <= last) inner.truncateAndAppend(from, []);
    },
  });

/** Storage that persists the term but not the vote: after a crash a node may vote twice in one term. */
const forgetfulVote = (inner: RaftStorage): RaftStorage & { crashed: () => void } => {
  let amnesia = false;
  return {
    ...inner,
    load: () => {
      const { term, votedFor } = inner.load();
      return amnesia ? { term, votedFor: undefined } : { term, votedFor };
    },
    saveTerm: (term, votedFor) => {
      amnesia = false;
      inner.saveTerm(term, votedFor);
    },
    crashed: () => {
      amnesia = true;
    },
  };
};

export const MUTANTS: readonly Mutant[] = [
  { name: 'service without dedupe (retries applied twice)', options: { kind: 'counter', service: { dedupe: false } }, caughtBy: /^Linearizability/ },
  { name: 'reads served from the local replica asked', options: { kind: 'register', mutation: localReads }, caughtBy: /^Linearizability/ },
  {
    name: 'log tail lost on crash (no fsync)',
    options: { kind: 'counter', mutation: { wrapStorage: unsyncedTail(3) } },
    caughtBy: /Leader Completeness|State Machine Safety|committed|Linearizability/,
  },
  {
    name: 'vote not persisted',
    // A double vote needs two candidates in one term and a voter restarting between their requests: close election
    // timeouts make split elections common, and voters are often bounced right after voting.
    options: { kind: 'counter', faultGapMs: [20, 120], voterBounce: 0.5, limits: { electionMinMs: 150, electionMaxMs: 165 }, mutation: { wrapStorage: forgetfulVote } },
    caughtBy: /Election Safety|Leader Completeness|State Machine Safety|committed/,
  },
];
