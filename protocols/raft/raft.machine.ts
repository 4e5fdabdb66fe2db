/**
 * A Raft node's role: follower, pre-candidate, candidate or leader, and the
 * timers that move it (election timeout, heartbeat, leader lease). The node
 * (node.ts) owns the log, the term and the messages; this machine decides
 * only *when* a role changes and runs the node's steps on the way, through
 * provided actions.
 *
 *               election.timeout           prevotes.won            votes.won
 *  ┌──────────┐ ──────────────▶ ┌──────────────┐ ──────────▶ ┌───────────┐ ────────▶ ┌────────┐
 *  │ follower │                 │ precandidate │             │ candidate │           │ leader │
 *  └──────────┘                 └──────────────┘ ◀────────── └───────────┘           └────────┘
 *                                  ▲ │          election.timeout
 *                                  └─┘ election.timeout (a new pre-vote round, the term kept)
 *
 *   precandidate, candidate ── leader.heard, term.higher ──▶ follower (precandidate: also vote.granted)
 *   leader ── term.higher, lease.lost ──▶ follower
 *   follower: leader.stale after electionMinMs (stickiness ends, the rest of the timeout runs);
 *             leader.heard and vote.granted start its timer again
 *   leader: heartbeat.due every heartbeatMs, lease.check every leaderLeaseMs (→ lease.lost)
 *   any state ──stop──▶ stopped (final: every timer cancelled)
 *
 * Pre-vote (Raft thesis §9.6): a follower whose timer fires, or a candidate
 * whose election was not won, first asks for pre-votes at its term + 1
 * without raising its term; only a majority of them makes it a candidate. So
 * a node that was cut off or restarted cannot raise the group's term (and
 * depose a live leader) unless a majority would vote for it.
 *
 * The follower's election timeout runs in two phases on one timer: first
 * exactly electionMinMs (`sticky`), during which a leader heard is "current"
 * (leader stickiness: pre-votes refused, higher-term vote requests ignored),
 * then `leader.stale` forgets it and the rest of the randomized timeout
 * (`electionRest`, uniform in [0, electionMaxMs − electionMinMs)) runs. Any
 * `leader.heard` starts both again. Together they are the paper's timeout,
 * uniform in [electionMinMs, electionMaxMs).
 *
 * Timers are delayed `raise`s with ids, cancelled on exit, so they run on the
 * actor's clock (`createActor(machine, { clock })`): the simulation's clock
 * drives elections. The randomized delays are provided by the node (it draws
 * them from its random source). The context only mirrors what the node tells
 * it (`status`) for the visualizer. Pure: no clock read, no I/O.
 */
import { assign, cancel, raise, setup } from 'xstate';
import type { NodeId } from './types.js';

export interface RaftMachineInput {
  readonly id: NodeId;
  /** The group's members (for the visualizer: the replicas beside the role). */
  readonly members: readonly NodeId[];
  /** How long a leader heard stays current (leader stickiness), and the first phase of a follower's election timeout. */
  readonly electionMinMs: number;
  readonly heartbeatMs: number;
  readonly leaderLeaseMs: number;
}

export interface RaftMachineContext extends RaftMachineInput {
  /** Display mirror of the node's state (the node is the source of truth). */
  term: number;
  leader: NodeId | undefined;
  commitIndex: number;
  /** On a leader: how many entries each other member lacks. */
  lag: Readonly<Record<NodeId, number>>;
}

export type RaftMachineEvent =
  /** No leader heard (follower), no pre-vote majority (precandidate) or no election won (candidate) within a randomized timeout. */
  | { type: 'election.timeout' }
  /** A follower heard no leader for electionMinMs: the leader it knew is no longer current (stickiness ends). */
  | { type: 'leader.stale' }
  /** An append or snapshot from the leader of the current term (a candidate yields to it; a follower's timer starts again). */
  | { type: 'leader.heard' }
  /** This node granted its (real) vote: its timer starts again (the paper's rule, so it does not disrupt the candidate it voted for). A pre-vote granted is not one. */
  | { type: 'vote.granted' }
  /** A message carried a higher term; the node persisted it already. */
  | { type: 'term.higher' }
  /** A majority granted this pre-candidate a pre-vote: it may raise its term and stand. */
  | { type: 'prevotes.won' }
  /** A majority granted this candidate its vote. */
  | { type: 'votes.won' }
  /** Time for the leader to send appends (maybe empty) to every follower. */
  | { type: 'heartbeat.due' }
  /** One lease period passed: did a majority answer within it? */
  | { type: 'lease.check' }
  /** No majority answered within the lease: step down. */
  | { type: 'lease.lost' }
  /** What the visualizer shows. */
  | { type: 'status'; term: number; leader: NodeId | undefined; commitIndex: number; lag: Readonly<Record<NodeId, number>> }
  | { type: 'stop' };

/** What every live role takes; the final `stopped` takes nothing (and the pure `transition()` shows it). */
const live = {
  status: { actions: 'showStatus' as const },
  stop: { target: '#raft.stopped' },
};

export const raftMachine = setup({
  types: {
    context: {} as RaftMachineContext,
    input: {} as RaftMachineInput,
    events: {} as RaftMachineEvent,
  },
  actions: {
    /** Entering follower (start, term.higher, lease.lost, a candidate hearing a leader). */
    becomeFollower: () => {},
    /** electionMinMs passed since the leader was last heard: it is no longer current (stickiness ends). */
    forgetLeader: () => {},
    /** Pre-vote requests out at term + 1; the term and vote unchanged. Sends `prevotes.won` when this alone is a majority. */
    startPreVote: () => {},
    /** A new term, a vote for itself, vote.requests out. Sends `votes.won` when this alone is a majority. */
    startElection: () => {},
    /** nextIndex/matchIndex, a noop entry of the new term, appends out. */
    becomeLeader: () => {},
    /** Leaving leader: pending proposals reject with LeadershipLostError. */
    leaveLeader: () => {},
    sendHeartbeats: () => {},
    /** A majority answered in the last lease period: count again from now. */
    renewLease: () => {},
    showStatus: assign(({ event }) => (event.type === 'status' ? { term: event.term, leader: event.leader, commitIndex: event.commitIndex, lag: event.lag } : {})),
  },
  guards: {
    /** Whether a majority (this leader counted) answered since the last lease check. */
    quorumHeard: () => false,
  },
  delays: {
    /** Randomized per use: uniform in [electionMinMs, electionMaxMs) (a pre-candidate's and a candidate's timeout). */
    election: () => 450,
    /** The follower's first phase: as long as a heard leader stays current. */
    sticky: ({ context }) => context.electionMinMs,
    /** The follower's second phase, randomized per use: uniform in [0, electionMaxMs − electionMinMs). */
    electionRest: () => 150,
    heartbeat: ({ context }) => context.heartbeatMs,
    lease: ({ context }) => context.leaderLeaseMs,
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => ({ ...input, term: 0, leader: undefined, commitIndex: 0, lag: {} }),
  initial: 'follower',
  states: {
    follower: {
      entry: ['becomeFollower', raise({ type: 'leader.stale' }, { delay: 'sticky', id: 'election' })],
      exit: cancel('election'),
      on: {
        ...live,
        'leader.stale': { actions: ['forgetLeader', raise({ type: 'election.timeout' }, { delay: 'electionRest', id: 'election' })] },
        'election.timeout': { target: 'precandidate' },
        'leader.heard': { target: 'follower', reenter: true },
        'vote.granted': { target: 'follower', reenter: true },
        // Already a follower: the new term does not restart the timer (it may be a candidate's with a stale log).
        'term.higher': {},
      },
    },
    precandidate: {
      entry: ['startPreVote', raise({ type: 'election.timeout' }, { delay: 'election', id: 'election' })],
      exit: cancel('election'),
      on: {
        ...live,
        // No majority of pre-votes in time (lost replies, or nodes that still follow a leader): ask again after a new draw; the term stays.
        'election.timeout': { target: 'precandidate', reenter: true },
        'prevotes.won': { target: 'candidate' },
        'leader.heard': { target: 'follower' },
        'vote.granted': { target: 'follower' },
        'term.higher': { target: 'follower' },
      },
    },
    candidate: {
      entry: ['startElection', raise({ type: 'election.timeout' }, { delay: 'election', id: 'election' })],
      exit: cancel('election'),
      on: {
        ...live,
        // A split vote: ask for pre-votes again (etcd's rule), so a candidate cut off from the group stops raising its term.
        'election.timeout': { target: 'precandidate' },
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
        ...live,
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
