/**
 * Messages from outside are checked before the node looks at them
 * (protocols/raft/messages.ts): a non-member's, a malformed one, indices that
 * are negative, NaN, fractional or absurd, entries that do not follow each
 * other — each dropped and counted by reason, never a throw, never a state
 * change (a bad message with a higher term does not move the term). Also the
 * limits record: defaults, and a RangeError naming the field that is wrong.
 */
import test from 'ava';
import { DEFAULT_RAFT_LIMITS, raftLimits } from '../../protocols/raft/limits.js';
import { makeMemoryStorage } from '../../protocols/raft/memory-storage.js';
import { makeRaftNode } from '../../protocols/raft/node.js';
import type { RaftMessage } from '../../protocols/raft/types.js';
import { elect, makeCluster, makeRecorder } from './raft-fixtures.js';

const noop = { index: 2, term: 1, command: { type: 'noop' } };
const append = (over: Record<string, unknown>) => ({ type: 'append.request', term: 9, leader: 'b', prevIndex: 1, prevTerm: 1, entries: [noop], leaderCommit: 0, ...over });
const many = Array.from({ length: DEFAULT_RAFT_LIMITS.maxAppendBytes / 32 + 2 }, (_, k) => ({ index: k + 2, term: 1, command: { type: 'noop' } }));

/** [label, from, message, the reason it is dropped for] */
const cases: [string, unknown, unknown, string][] = [
  ['a stranger', 'mallory', { type: 'vote.reply', term: 9, granted: true }, 'not.member'],
  ['itself', 'a', { type: 'vote.reply', term: 9, granted: true }, 'not.member'],
  ['a sender that is not a string', 42, { type: 'vote.reply', term: 9, granted: true }, 'not.member'],
  ['null', 'b', null, 'malformed'],
  ['a string', 'b', 'vote.reply', 'malformed'],
  ['an array', 'b', [1, 2], 'malformed'],
  ['a numeric type', 'b', { type: 5, term: 9 }, 'malformed'],
  ['an unknown type', 'b', { type: 'vote.steal', term: 9 }, 'unknown.type'],
  ['a negative term', 'b', { type: 'vote.reply', term: -1, granted: true }, 'bad.term'],
  ['a NaN term', 'b', { type: 'vote.reply', term: Number.NaN, granted: true }, 'bad.term'],
  ['a fractional term', 'b', { type: 'vote.reply', term: 1.5, granted: true }, 'bad.term'],
  ['an infinite term', 'b', { type: 'vote.reply', term: Number.POSITIVE_INFINITY, granted: true }, 'bad.term'],
  ['a term past 2^53', 'b', { type: 'vote.reply', term: 2 ** 60, granted: true }, 'bad.term'],
  ['a string term', 'b', { type: 'vote.reply', term: '9', granted: true }, 'bad.term'],
  ['a vote.request for someone else', 'b', { type: 'vote.request', term: 9, candidate: 'c', lastIndex: 0, lastTerm: 0 }, 'sender.mismatch'],
  ['a vote.request with a negative last index', 'b', { type: 'vote.request', term: 9, candidate: 'b', lastIndex: -1, lastTerm: 0 }, 'bad.index'],
  ['a vote.request whose last term is not below its term', 'b', { type: 'vote.request', term: 9, candidate: 'b', lastIndex: 5, lastTerm: 9 }, 'bad.index'],
  ['a vote.reply granting "yes"', 'b', { type: 'vote.reply', term: 9, granted: 'yes' }, 'malformed'],
  ['an append.request from someone not its leader', 'c', append({}), 'sender.mismatch'],
  ['an append.request with a NaN prevIndex', 'b', append({ prevIndex: Number.NaN }), 'bad.index'],
  ['an append.request with prevTerm above its term', 'b', append({ prevTerm: 10 }), 'bad.index'],
  ['an append.request with a negative commit', 'b', append({ leaderCommit: -4 }), 'bad.index'],
  ['an append.request whose entries are not a list', 'b', append({ entries: 'x' }), 'malformed'],
  ['an append.request with a gap', 'b', append({ entries: [{ ...noop, index: 3 }] }), 'bad.entry.index'],
  ['an append.request with an entry of a later term', 'b', append({ entries: [{ ...noop, term: 10 }] }), 'bad.entry.term'],
  ['an append.request with terms going down', 'b', append({ prevTerm: 3, entries: [{ ...noop, term: 2 }] }), 'bad.entry.term'],
  ['an append.request with an unknown command', 'b', append({ entries: [{ ...noop, command: { type: 'exec' } }] }), 'bad.entry'],
  ['an append.request with a data command without data', 'b', append({ entries: [{ ...noop, command: { type: 'data' } }] }), 'bad.entry'],
  ['an append.request with absurdly many entries', 'b', append({ entries: many }), 'too.many.entries'],
  ['an append.reply with a string success', 'b', { type: 'append.reply', term: 9, success: 'true', index: 1 }, 'malformed'],
  ['an append.reply with a negative index', 'b', { type: 'append.reply', term: 9, success: false, index: -3 }, 'bad.index'],
  ['a snapshot.request without a snapshot', 'b', { type: 'snapshot.request', term: 9, leader: 'b' }, 'malformed'],
  ['a snapshot.request at index 0', 'b', { type: 'snapshot.request', term: 9, leader: 'b', snapshot: { index: 0, term: 1, data: null } }, 'bad.index'],
  ['a snapshot.request of a later term', 'b', { type: 'snapshot.request', term: 9, leader: 'b', snapshot: { index: 4, term: 10, data: null } }, 'bad.index'],
  ['a snapshot.reply with a fractional index', 'b', { type: 'snapshot.reply', term: 9, index: 1.5 }, 'bad.index'],
];

test('hostile messages are dropped and counted by reason: no throw, no state change, no reply', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { b: () => 0.99, c: () => 0.99 } });
  elect(c, 'a');
  c.deliverAll();
  const before = c.status('a');
  const want: Record<string, number> = {};
  for (const [label, sender, message, reason] of cases) {
    t.notThrows(() => c.node('a').receive(sender as string, message as RaftMessage), label);
    want[reason] = (want[reason] ?? 0) + 1;
    t.deepEqual(c.node('a').dropped(), want, `${label}: dropped as ${reason}`);
  }
  t.deepEqual(c.status('a'), before, 'term, role, log and commit unchanged');
  t.is(c.queue.length, 0, 'nothing was answered');
  c.stopAll();
});

test('well-formed lies are dropped too: a success beyond the leader log, a second leader of the same term', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { b: () => 0.99, c: () => 0.99 } });
  elect(c, 'a');
  c.deliverAll();
  c.node('a').receive('b', { type: 'append.reply', term: 1, success: true, index: 1_000_000 });
  c.node('a').receive('b', { type: 'snapshot.reply', term: 1, index: 1_000_000 });
  c.node('a').receive('c', { type: 'append.request', term: 1, leader: 'c', prevIndex: 0, prevTerm: 0, entries: [], leaderCommit: 0 });
  t.deepEqual(c.node('a').dropped(), { 'index.beyond.log': 2, 'second.leader': 1 });
  t.like(c.status('a'), { role: 'leader', term: 1, commitIndex: 1, matchIndex: { b: 1, c: 1 } });
  c.stopAll();
});

test('a node not started, or stopped, ignores messages and counts them', (t) => {
  const timers = { setTimeout: () => 0, clearTimeout: () => {} };
  const node = makeRaftNode({ id: 'a', members: ['a', 'b'], storage: makeMemoryStorage(), machine: makeRecorder(), send: () => {}, timers, random: () => 0.5 });
  const m: RaftMessage = { type: 'vote.request', term: 1, candidate: 'b', lastIndex: 0, lastTerm: 0 };
  node.receive('b', m);
  node.start();
  node.stop();
  node.receive('b', m);
  t.deepEqual(node.dropped(), { 'not.started': 1, stopped: 1 });
  t.is(node.status().term, 0);
});

test('limits: the defaults hold together; a bad field is a RangeError naming it', (t) => {
  t.deepEqual(raftLimits(), DEFAULT_RAFT_LIMITS);
  t.true(DEFAULT_RAFT_LIMITS.heartbeatMs < DEFAULT_RAFT_LIMITS.electionMinMs && DEFAULT_RAFT_LIMITS.electionMinMs < DEFAULT_RAFT_LIMITS.electionMaxMs);
  t.is(raftLimits({ heartbeatMs: 10, electionMinMs: 50, electionMaxMs: 100 }).heartbeatMs, 10);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ heartbeatMs: 300 }, /heartbeatMs/],
    [{ electionMinMs: 600 }, /electionMinMs/],
    [{ electionMaxMs: 200 }, /electionMinMs.*electionMaxMs/],
    [{ leaderLeaseMs: 0 }, /leaderLeaseMs/],
    [{ electionMaxMs: Number.NaN }, /electionMaxMs/],
    [{ maxAppendBytes: -1 }, /maxAppendBytes/],
    [{ maxInflightAppends: 1.5 }, /maxInflightAppends/],
    [{ snapshotEvery: 0 }, /snapshotEvery/],
    [{ maxPendingProposals: Number.POSITIVE_INFINITY }, /maxPendingProposals/],
  ];
  for (const [partial, message] of bad) t.throws(() => raftLimits(partial), { instanceOf: RangeError, message }, JSON.stringify(partial));
  t.throws(() => makeRaftNode({ id: 'x', members: ['a'], storage: makeMemoryStorage(), machine: makeRecorder(), send: () => {}, timers: { setTimeout: () => 0, clearTimeout: () => {} }, random: () => 0 }), {
    instanceOf: RangeError,
    message: /not one of its members/,
  });
});
