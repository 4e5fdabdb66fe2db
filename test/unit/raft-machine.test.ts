/**
 * The role machine alone (protocols/raft/raft.machine.ts), pure: every
 * (state × event) pair through XState's `transition()` against a table of
 * what each must do — change role and run the node's step, restart a timer,
 * or be ignored (no action at all). Then, running: no timer is left after
 * stop() from any role, and the visualizer's `inspect` stream shows role,
 * term, leader and commit index.
 */
import test from 'ava';
import { initialTransition, SimulatedClock, transition } from 'xstate';
import { makeMemoryStorage } from '../../protocols/raft/memory-storage.js';
import { makeRaftNode } from '../../protocols/raft/node.js';
import { type RaftMachineEvent, raftMachine } from '../../protocols/raft/raft.machine.js';
import { elect, isPreVote, makeCluster, makeRecorder } from './raft-fixtures.js';

const INPUT = { id: 'a', members: ['a', 'b', 'c'], electionMinMs: 300, heartbeatMs: 50, leaderLeaseMs: 600 };
type Machine = typeof raftMachine;

const drive = (machine: Machine, path: readonly RaftMachineEvent[]) => {
  let [snap] = initialTransition(machine, INPUT);
  for (const ev of path) [snap] = transition(machine, snap, ev);
  return snap;
};

const states: Record<string, RaftMachineEvent[]> = {
  follower: [],
  precandidate: [{ type: 'election.timeout' }],
  candidate: [{ type: 'election.timeout' }, { type: 'prevotes.won' }],
  leader: [{ type: 'election.timeout' }, { type: 'prevotes.won' }, { type: 'votes.won' }],
  stopped: [{ type: 'stop' }],
};
const events: Record<string, RaftMachineEvent> = {
  'election.timeout': { type: 'election.timeout' },
  'leader.stale': { type: 'leader.stale' },
  'leader.heard': { type: 'leader.heard' },
  'vote.granted': { type: 'vote.granted' },
  'term.higher': { type: 'term.higher' },
  'prevotes.won': { type: 'prevotes.won' },
  'votes.won': { type: 'votes.won' },
  'heartbeat.due': { type: 'heartbeat.due' },
  'lease.check': { type: 'lease.check' },
  'lease.lost': { type: 'lease.lost' },
  status: { type: 'status', term: 7, leader: 'b', commitIndex: 3, lag: { b: 2 } },
  stop: { type: 'stop' },
};

/** Where the pair goes and which of the node's steps (and timer actions) it runs; 'ignored': nothing at all. */
type Outcome = { to: string; runs: string[] } | 'ignored';
const timer = ['xstate.cancel', 'xstate.raise'];
const to = (state: string, ...runs: string[]): Outcome => ({ to: state, runs });
const ignored = 'ignored' as const;

const table: Record<string, Record<string, Outcome>> = {
  follower: {
    // Pre-vote first: the term is raised only once a majority granted one.
    'election.timeout': to('precandidate', 'startPreVote', ...timer),
    // electionMinMs without the leader: stickiness ends, the rest of the randomized timeout starts (same timer id).
    'leader.stale': to('follower', 'forgetLeader', 'xstate.raise'),
    'leader.heard': to('follower', 'becomeFollower', ...timer),
    'vote.granted': to('follower', 'becomeFollower', ...timer),
    // Already a follower: a higher term (maybe a stale candidate's) does not restart the election timer.
    'term.higher': ignored,
    'prevotes.won': ignored, // a stale reply of a pre-vote it gave up
    'votes.won': ignored, // a stale reply of an election it gave up
    'heartbeat.due': ignored,
    'lease.check': ignored,
    'lease.lost': ignored,
    status: to('follower'),
    stop: to('stopped', 'xstate.cancel'),
  },
  precandidate: {
    // No pre-vote majority in time: a new round, a new draw, the same term.
    'election.timeout': to('precandidate', 'startPreVote', ...timer),
    'leader.stale': ignored, // only a follower's timer raises it
    'leader.heard': to('follower', 'becomeFollower', ...timer),
    // It granted a real vote (its term's, to a candidate already standing): it follows that election.
    'vote.granted': to('follower', 'becomeFollower', ...timer),
    'term.higher': to('follower', 'becomeFollower', ...timer),
    'prevotes.won': to('candidate', 'startElection', ...timer),
    'votes.won': ignored, // a stale reply of an election it gave up
    'heartbeat.due': ignored,
    'lease.check': ignored,
    'lease.lost': ignored,
    status: to('precandidate'),
    stop: to('stopped', 'xstate.cancel'),
  },
  candidate: {
    // Not won in time (a split vote): pre-vote again before another term (etcd's rule).
    'election.timeout': to('precandidate', 'startPreVote', ...timer),
    'leader.stale': ignored,
    'leader.heard': to('follower', 'becomeFollower', ...timer),
    'vote.granted': ignored, // it voted for itself this term
    'term.higher': to('follower', 'becomeFollower', ...timer),
    'prevotes.won': ignored, // late pre-vote replies
    'votes.won': to('leader', 'becomeLeader', 'xstate.cancel', 'xstate.raise'),
    'heartbeat.due': ignored,
    'lease.check': ignored,
    'lease.lost': ignored,
    status: to('candidate'),
    stop: to('stopped', 'xstate.cancel'),
  },
  leader: {
    'election.timeout': ignored,
    'leader.stale': ignored,
    'prevotes.won': ignored,
    'leader.heard': ignored, // the node drops a second leader's append before it gets here
    'vote.granted': ignored,
    'term.higher': to('follower', 'leaveLeader', 'becomeFollower', ...timer),
    'votes.won': ignored,
    'heartbeat.due': to('leader', 'sendHeartbeats', 'xstate.raise'),
    // quorumHeard is false unless provided: the check raises lease.lost and the leader steps down in the same step.
    'lease.check': to('follower', 'leaveLeader', 'becomeFollower', ...timer),
    'lease.lost': to('follower', 'leaveLeader', 'becomeFollower', ...timer),
    status: to('leader'),
    stop: to('stopped', 'leaveLeader', 'xstate.cancel'),
  },
  stopped: Object.fromEntries(Object.keys(events).map((e) => [e, ignored])),
};

test('every (role × event) pair does what the table says', (t) => {
  t.deepEqual(Object.keys(table).sort(), Object.keys(states).sort());
  for (const [state, row] of Object.entries(table)) {
    t.deepEqual(Object.keys(row).sort(), Object.keys(events).sort(), `the ${state} row covers every event`);
    const from = drive(raftMachine, states[state]!);
    t.is(from.value as string, state);
    for (const [name, want] of Object.entries(row)) {
      const label = `${state} × ${name}`;
      const [next, actions] = transition(raftMachine, from, events[name]!);
      const types = actions.map((a) => a.type);
      if (want === ignored) {
        t.is(next.value, from.value, label);
        t.deepEqual(next.context, from.context, label);
        t.deepEqual(types, [], `${label}: no action`);
        continue;
      }
      t.is(next.value as string, want.to, label);
      t.is(next.status, want.to === 'stopped' ? 'done' : 'active', label);
      t.deepEqual([...new Set(types)].sort(), [...want.runs].sort(), `${label}: runs ${want.runs.join(', ')}`);
      if (name === 'status') t.like(next.context, { term: 7, leader: 'b', commitIndex: 3, lag: { b: 2 } }, `${label}: shows the status`);
    }
  }
});

test('a leader that heard a majority renews its lease and stays', (t) => {
  const held = raftMachine.provide({ guards: { quorumHeard: () => true } });
  const [next, actions] = transition(held, drive(held, states.leader!), { type: 'lease.check' });
  t.is(next.value, 'leader');
  t.deepEqual(
    actions.map((a) => a.type),
    ['renewLease', 'xstate.raise'],
  );
});

type Raise = { params: { delay: number; event: { type: string } } };
const raiseIn = (actions: readonly { type: string }[]) => (actions.find((a) => a.type === 'xstate.raise') as unknown as Raise).params;

test('the election timeout: a follower waits electionMinMs (stickiness), then the provided rest; the others the provided election delay; each drawn anew', (t) => {
  let draws = 0;
  const m = raftMachine.provide({ delays: { election: () => 300 + ++draws, electionRest: () => ++draws } });
  const [start, first] = initialTransition(m, INPUT);
  t.like(raiseIn(first), { delay: INPUT.electionMinMs, event: { type: 'leader.stale' } }, 'exactly electionMinMs of stickiness first');
  const [, rest] = transition(m, start, { type: 'leader.stale' });
  t.like(raiseIn(rest), { delay: draws, event: { type: 'election.timeout' } });
  const [, again] = transition(m, start, { type: 'leader.stale' });
  t.is(raiseIn(again).delay, draws, 'a restart draws again');
  t.not(raiseIn(again).delay, raiseIn(rest).delay);
  const [pre, preActions] = transition(m, start, { type: 'election.timeout' });
  t.like(raiseIn(preActions), { delay: 300 + draws, event: { type: 'election.timeout' } }, "a pre-candidate's timeout");
  const [, candActions] = transition(m, pre, { type: 'prevotes.won' });
  t.like(raiseIn(candActions), { delay: 300 + draws, event: { type: 'election.timeout' } }, "a candidate's timeout");
});

test('no timers left after stop(), from every role', (t) => {
  const c = makeCluster(['a', 'b', 'c', 'd'], { random: { b: () => 0.99, c: () => 0.99, d: () => 0.99 } });
  elect(c, 'a');
  c.expire('b');
  c.deliverAll(isPreVote); // c and d have not heard a's appends: they grant b a pre-vote for term 2
  c.expire('c');
  t.deepEqual(
    ['a', 'b', 'c', 'd'].map((id) => c.status(id).role),
    ['leader', 'candidate', 'precandidate', 'follower'],
  );
  t.is(c.members.a!.live.size, 2, 'a leader: heartbeat and lease');
  for (const id of ['b', 'c', 'd']) t.is(c.members[id]!.live.size, 1, `${id}: one election timer`);
  for (const id of ['a', 'b', 'c', 'd']) {
    c.node(id).stop();
    t.is(c.members[id]!.live.size, 0, `${id}: no timer after stop`);
  }
  const sent = c.sent.length;
  c.run(5000);
  t.is(c.sent.length, sent, 'nothing more happens');
  t.is(c.pendingTimers(), 0);
});

test('the inspect stream shows role, term, leader, commit index, members and lag (what the visualizer reads)', (t) => {
  const seen: { value: unknown; context: Record<string, unknown> }[] = [];
  const node = makeRaftNode({
    id: 'solo',
    members: ['solo'],
    storage: makeMemoryStorage(),
    machine: makeRecorder(),
    send: () => {},
    timers: new SimulatedClock(),
    random: () => 0,
    inspect: (ev) => {
      const e = ev as { type: string; snapshot?: { value: unknown; context: Record<string, unknown> } };
      if (e.type === '@xstate.snapshot' && e.snapshot) seen.push(e.snapshot);
    },
  });
  node.start();
  t.is(seen.at(-1)?.value, 'follower');
  node.stop();
  const clock = new SimulatedClock();
  const shown: typeof seen = [];
  const live = makeRaftNode({
    id: 'solo',
    members: ['solo'],
    storage: makeMemoryStorage(),
    machine: makeRecorder(),
    send: () => {},
    timers: clock,
    random: () => 0,
    inspect: (ev) => {
      const e = ev as { type: string; snapshot?: { value: unknown; context: Record<string, unknown> } };
      if (e.type === '@xstate.snapshot' && e.snapshot) shown.push(e.snapshot);
    },
  });
  live.start();
  clock.increment(300); // stickiness ends; the rest of the timeout (0 with random() = 0) runs at the next flush
  clock.increment(1);
  t.is(shown.at(-1)?.value, 'leader');
  t.like(shown.at(-1)?.context, { term: 1, leader: 'solo', commitIndex: 1, members: ['solo'], lag: {} });
  live.stop();
});
