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
import { elect, makeCluster, makeRecorder } from './raft-fixtures.js';

const INPUT = { id: 'a', heartbeatMs: 50, leaderLeaseMs: 600 };
type Machine = typeof raftMachine;

const drive = (machine: Machine, path: readonly RaftMachineEvent[]) => {
  let [snap] = initialTransition(machine, INPUT);
  for (const ev of path) [snap] = transition(machine, snap, ev);
  return snap;
};

const states: Record<string, RaftMachineEvent[]> = {
  follower: [],
  candidate: [{ type: 'election.timeout' }],
  leader: [{ type: 'election.timeout' }, { type: 'votes.won' }],
  stopped: [{ type: 'stop' }],
};
const events: Record<string, RaftMachineEvent> = {
  'election.timeout': { type: 'election.timeout' },
  'leader.heard': { type: 'leader.heard' },
  'vote.granted': { type: 'vote.granted' },
  'term.higher': { type: 'term.higher' },
  'votes.won': { type: 'votes.won' },
  'heartbeat.due': { type: 'heartbeat.due' },
  'lease.check': { type: 'lease.check' },
  'lease.lost': { type: 'lease.lost' },
  status: { type: 'status', term: 7, leader: 'b', commitIndex: 3 },
  stop: { type: 'stop' },
};

/** Where the pair goes and which of the node's steps (and timer actions) it runs; 'ignored': nothing at all. */
type Outcome = { to: string; runs: string[] } | 'ignored';
const timer = ['xstate.cancel', 'xstate.raise'];
const to = (state: string, ...runs: string[]): Outcome => ({ to: state, runs });
const ignored = 'ignored' as const;

const table: Record<string, Record<string, Outcome>> = {
  follower: {
    'election.timeout': to('candidate', 'startElection', ...timer),
    'leader.heard': to('follower', 'becomeFollower', ...timer),
    'vote.granted': to('follower', 'becomeFollower', ...timer),
    // Already a follower: a higher term (maybe a stale candidate's) does not restart the election timer.
    'term.higher': ignored,
    'votes.won': ignored, // a stale reply of an election it gave up
    'heartbeat.due': ignored,
    'lease.check': ignored,
    'lease.lost': ignored,
    status: to('follower'),
    stop: to('stopped', 'xstate.cancel'),
  },
  candidate: {
    'election.timeout': to('candidate', 'startElection', ...timer),
    'leader.heard': to('follower', 'becomeFollower', ...timer),
    'vote.granted': ignored, // it voted for itself this term
    'term.higher': to('follower', 'becomeFollower', ...timer),
    'votes.won': to('leader', 'becomeLeader', 'xstate.cancel', 'xstate.raise'),
    'heartbeat.due': ignored,
    'lease.check': ignored,
    'lease.lost': ignored,
    status: to('candidate'),
    stop: to('stopped', 'xstate.cancel'),
  },
  leader: {
    'election.timeout': ignored,
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
      if (name === 'status') t.like(next.context, { term: 7, leader: 'b', commitIndex: 3 }, `${label}: shows the status`);
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

test('the election delay is the provided one, drawn anew each time the timer starts', (t) => {
  let draws = 0;
  const m = raftMachine.provide({ delays: { election: () => 300 + ++draws } });
  const [, first] = initialTransition(m, INPUT);
  const raise = first.find((a) => a.type === 'xstate.raise') as unknown as { params: { delay: number; event: { type: string } } };
  t.like(raise.params, { delay: 300 + draws, event: { type: 'election.timeout' } });
  const [, again] = transition(m, drive(m, []), { type: 'leader.heard' });
  const next = again.find((a) => a.type === 'xstate.raise') as unknown as { params: { delay: number } };
  t.is(next.params.delay, 300 + draws, 'a restart draws again');
  t.not(next.params.delay, raise.params.delay);
});

test('no timers left after stop(), from every role', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { b: () => 0.99, c: () => 0.99 } });
  elect(c, 'a');
  c.expire('b');
  t.deepEqual(
    ['a', 'b', 'c'].map((id) => c.status(id).role),
    ['leader', 'candidate', 'follower'],
  );
  t.is(c.members.a!.live.size, 2, 'a leader: heartbeat and lease');
  t.is(c.members.b!.live.size, 1);
  for (const id of ['a', 'b', 'c']) {
    c.node(id).stop();
    t.is(c.members[id]!.live.size, 0, `${id}: no timer after stop`);
  }
  const sent = c.sent.length;
  c.run(5000);
  t.is(c.sent.length, sent, 'nothing more happens');
  t.is(c.pendingTimers(), 0);
});

test('the inspect stream shows role, term, leader and commit index (what the visualizer reads)', (t) => {
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
  clock.increment(300);
  t.is(shown.at(-1)?.value, 'leader');
  t.like(shown.at(-1)?.context, { term: 1, leader: 'solo', commitIndex: 1 });
  live.stop();
});
