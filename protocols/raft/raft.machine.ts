/**
 * A Raft node's role: follower, candidate or leader, and the three timers that
 * move it (election timeout, heartbeat, leader lease). The node (node.ts) owns
 * the log, the term and the messages; this machine decides only *when* a role
 * changes and runs the node's steps on the way, through provided actions.
 *
 *                 election.timeout                votes.won
 *   ┌──────────┐ ─────────────────▶ ┌───────────┐ ──────────▶ ┌────────┐
 *   │ follower │                    │ candidate │             │ leader │
 *   └──────────┘ ◀───────────────── └───────────┘             └────────┘
 *     ▲  │ leader.heard,             │ ▲ election.timeout        │ heartbeat.due (self)
 *     │  │ vote.granted (the timer   └─┘ (a new election)        │ lease.check → lease.lost
 *     │  └─ starts again)                                        │
 *     └──── term.higher, lease.lost ─────────────────────────────┘
 *   any state ──stop──▶ stopped (final: every timer cancelled)
 *
 * Timers are delayed `raise`s with ids, cancelled on exit, so they run on the
 * actor's clock (`createActor(machine, { clock })`): the simulation's clock
 * drives elections. The election delay is the provided `election` delay (the
 * node draws it from its random source). The context only mirrors what the
 * node tells it (`status`) for the visualizer. Pure: no clock read, no I/O.
 */
import { assign, cancel, raise, setup } from 'xstate';
import type { NodeId } from './types.js';

export interface RaftMachineInput {
  readonly id: NodeId;
  readonly heartbeatMs: number;
  readonly leaderLeaseMs: number;
}

export interface RaftMachineContext extends RaftMachineInput {
  /** Display mirror of the node's state (the node is the source of truth). */
  term: number;
  leader: NodeId | undefined;
  commitIndex: number;
}

export type RaftMachineEvent =
  /** No leader heard (follower) or no election won (candidate) within a randomized timeout. */
  | { type: 'election.timeout' }
  /** An append or snapshot from the leader of the current term (a candidate yields to it; a follower's timer starts again). */
  | { type: 'leader.heard' }
  /** This follower granted its vote: its timer starts again (the paper's rule, so it does not disrupt the candidate it voted for). */
  | { type: 'vote.granted' }
  /** A message carried a higher term; the node persisted it already. */
  | { type: 'term.higher' }
  /** A majority granted this candidate its vote. */
  | { type: 'votes.won' }
  /** Time for the leader to send appends (maybe empty) to every follower. */
  | { type: 'heartbeat.due' }
  /** One lease period passed: did a majority answer within it? */
  | { type: 'lease.check' }
  /** No majority answered within the lease: step down. */
  | { type: 'lease.lost' }
  /** What the visualizer shows. */
  | { type: 'status'; term: number; leader: NodeId | undefined; commitIndex: number }
  | { type: 'stop' };

export const raftMachine = setup({
  types: {
    context: {} as RaftMachineContext,
    input: {} as RaftMachineInput,
    events: {} as RaftMachineEvent,
  },
  actions: {
    /** Entering follower (start, term.higher, lease.lost, a candidate hearing a leader). */
    becomeFollower: () => {},
    /** A new term, a vote for itself, vote.requests out. Sends `votes.won` when this alone is a majority. */
    startElection: () => {},
    /** nextIndex/matchIndex, a noop entry of the new term, appends out. */
    becomeLeader: () => {},
    /** Leaving leader: pending proposals reject with LeadershipLostError. */
    leaveLeader: () => {},
    sendHeartbeats: () => {},
    /** A majority answered in the last lease period: count again from now. */
    renewLease: () => {},
    showStatus: assign(({ event }) => (event.type === 'status' ? { term: event.term, leader: event.leader, commitIndex: event.commitIndex } : {})),
  },
  guards: {
    /** Whether a majority (this leader counted) answered since the last lease check. */
    quorumHeard: () => false,
  },
  delays: {
    /** Randomized per use: uniform in [electionMinMs, electionMaxMs). */
    election: () => 450,
    heartbeat: ({ context }) => context.heartbeatMs,
    lease: ({ context }) => context.leaderLeaseMs,
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => ({ ...input, term: 0, leader: undefined, commitIndex: 0 }),
  initial: 'follower',
  on: {
    status: { actions: 'showStatus' },
    stop: { target: '.stopped' },
  },
  states: {
    follower: {
      entry: ['becomeFollower', raise({ type: 'election.timeout' }, { delay: 'election', id: 'election' })],
      exit: cancel('election'),
      on: {
        'election.timeout': { target: 'candidate' },
        'leader.heard': { target: 'follower', reenter: true },
        'vote.granted': { target: 'follower', reenter: true },
        // Already a follower: the new term does not restart the timer (it may be a candidate's with a stale log).
        'term.higher': {},
      },
    },
    candidate: {
      entry: ['startElection', raise({ type: 'election.timeout' }, { delay: 'election', id: 'election' })],
      exit: cancel('election'),
      on: {
        // A split vote: a new term and a new randomized timeout.
        'election.timeout': { target: 'candidate', reenter: true },
        'votes.won': { target: 'leader' },
        'leader.heard': { target: 'follower' },
        'term.higher': { target: 'follower' },
      },
    },
    leader: {
      entry: [
        'becomeLeader',
        raise({ type: 'heartbeat.due' }, { delay: 'heartbeat', id: 'heartbeat' }),
        raise({ type: 'lease.check' }, { delay: 'lease', id: 'lease' }),
      ],
      exit: [cancel('heartbeat'), cancel('lease'), 'leaveLeader'],
      on: {
        'heartbeat.due': { actions: ['sendHeartbeats', raise({ type: 'heartbeat.due' }, { delay: 'heartbeat', id: 'heartbeat' })] },
        'lease.check': [
          { guard: 'quorumHeard', actions: ['renewLease', raise({ type: 'lease.check' }, { delay: 'lease', id: 'lease' })] },
          { actions: raise({ type: 'lease.lost' }) },
        ],
        'lease.lost': { target: 'follower' },
        'term.higher': { target: 'follower' },
      },
    },
    stopped: { type: 'final' },
  },
});

export type RaftMachine = typeof raftMachine;
