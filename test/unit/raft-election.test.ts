/**
 * Leader election (the Raft paper §5.2, §5.4.1) on the scripted group of
 * raft-fixtures.ts: a leader is elected and its noop commits; a split vote is
 * resolved by the randomized timeouts; the up-to-date rule refuses a candidate
 * whose log is behind (by last term, then by last index); a higher term in any
 * message makes a node step down, durably; a restarted node keeps its vote.
 */
import test from 'ava';
import type { RaftMessage } from '../../protocols/raft/types.js';
import { elect, from, isVote, logOf, makeCluster, to } from './raft-fixtures.js';

/** Election draws in order, then 0.5. */
const seq =
  (...xs: number[]) =>
  () =>
    xs.length ? xs.shift()! : 0.5;

test('election: the first to time out wins, the others follow it, its noop commits everywhere', (t) => {
  const seen: string[] = [];
  const c = makeCluster(['a', 'b', 'c'], {
    random: { a: seq(0), b: seq(0.9), c: seq(0.9) },
    onStatus: (id, s) => seen.push(`${id}:${s.role}:${s.term}`),
  });
  c.run(299);
  t.deepEqual(c.leaders(), [], 'nobody stands before the shortest timeout');
  c.run(200);
  t.deepEqual(c.leaders(), ['a']);
  for (const id of ['a', 'b', 'c']) {
    t.like(c.status(id), { term: 1, leader: 'a', commitIndex: 1, lastApplied: 1, lastIndex: 1 }, id);
    t.deepEqual(c.terms(id), [1], `${id} holds the noop of term 1`);
  }
  t.true(seen.includes('a:candidate:1') && seen.includes('a:leader:1'), 'onStatus told each change');
  t.deepEqual(c.status('a').matchIndex, { b: 1, c: 1 });
  c.run(2000);
  t.deepEqual(c.leaders(), ['a'], 'heartbeats keep the followers from standing');
  t.is(c.status('b').term, 1);
  c.stopAll();
});

test('split vote: two candidates tie in term 1, their next randomized timeouts differ and one wins term 2', (t) => {
  const c = makeCluster(['a', 'b', 'c', 'd'], { random: { a: seq(0, 0.1), b: seq(0, 0.9), c: seq(0.99), d: seq(0.99) } });
  c.run(300, false);
  t.is(c.status('a').role, 'candidate');
  t.is(c.status('b').role, 'candidate');
  // c hears a first, d hears b first: two votes each, no majority of four.
  c.deliver((e) => e.from === 'a' && e.to === 'c');
  c.deliver((e) => e.from === 'b' && e.to === 'd');
  c.deliverAll();
  t.deepEqual(c.leaders(), [], 'the vote is split');
  t.like(c.status('a'), { role: 'candidate', term: 1 });
  t.like(c.status('b'), { role: 'candidate', term: 1 });
  c.run(400);
  t.deepEqual(c.leaders(), ['a'], 'a drew the shorter timeout for term 2');
  t.like(c.status('b'), { role: 'follower', term: 2, leader: 'a' });
  c.stopAll();
});

test('up-to-date rule (last term): a candidate with a longer log of an older last term is refused', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { seed: { a: { term: 2, entries: logOf(1, 1, 1) }, b: { term: 2, entries: logOf(1, 2) }, c: { term: 2, entries: logOf(1, 2) } } });
  c.expire('a');
  c.deliverAll((e) => e.message.type === 'vote.request');
  const replies = c.queue.filter(to('a')).map((e) => e.message);
  t.deepEqual(replies, [
    { type: 'vote.reply', term: 3, granted: false },
    { type: 'vote.reply', term: 3, granted: false },
  ]);
  c.deliverAll(isVote);
  t.is(c.status('a').role, 'candidate');
  elect(c, 'b');
  t.is(c.status('b').term, 4, 'b, whose last term is later, wins');
  c.stopAll();
});

test('up-to-date rule (last index): a candidate with the same last term and a shorter log is refused', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { seed: { a: { term: 1, entries: logOf(1, 1) }, b: { term: 1, entries: logOf(1, 1, 1) }, c: { term: 1, entries: logOf(1, 1, 1) } } });
  c.expire('a');
  c.deliverAll((e) => e.message.type === 'vote.request');
  t.deepEqual(
    c.queue.filter(to('a')).map((e) => (e.message as { granted: boolean }).granted),
    [false, false],
  );
  c.deliverAll(isVote);
  t.is(c.status('a').role, 'candidate');
  c.expire('b');
  c.deliverAll((e) => e.message.type === 'vote.request');
  t.deepEqual(
    c.queue.filter(to('b')).map((e) => (e.message as { granted: boolean }).granted),
    [true, true],
    'a and c vote for the longer log',
  );
  c.stopAll();
});

const higher: Record<string, RaftMessage> = {
  'vote.request': { type: 'vote.request', term: 5, candidate: 'b', lastIndex: 0, lastTerm: 0 },
  'vote.reply': { type: 'vote.reply', term: 5, granted: false },
  'append.request': { type: 'append.request', term: 5, leader: 'b', prevIndex: 0, prevTerm: 0, entries: [], leaderCommit: 0 },
  'append.reply': { type: 'append.reply', term: 5, success: false, index: 1 },
  'snapshot.request': { type: 'snapshot.request', term: 5, leader: 'b', snapshot: { index: 1, term: 1, data: { state: [], at: 1 } } },
  'snapshot.reply': { type: 'snapshot.reply', term: 5, index: 0 },
};

for (const [type, message] of Object.entries(higher)) {
  test(`a leader steps down on a higher term in a ${type}, persists it, and rejects what it holds`, async (t) => {
    const c = makeCluster(['a', 'b', 'c']);
    elect(c, 'a');
    c.deliverAll();
    const pending = c.node('a').propose('x');
    c.node('a').receive('b', message);
    t.like(c.status('a'), { role: 'follower', term: 5 });
    t.is(c.members.a!.storage.load().term, 5, 'the term is durable');
    await t.throwsAsync(pending, { name: 'LeadershipLostError' });
    c.stopAll();
  });
}

test('a candidate steps down on a higher term, and on an append of its own term', (t) => {
  const c = makeCluster(['a', 'b', 'c']);
  c.expire('a');
  c.node('a').receive('b', { type: 'vote.reply', term: 4, granted: false });
  t.like(c.status('a'), { role: 'follower', term: 4 });
  c.expire('a');
  t.like(c.status('a'), { role: 'candidate', term: 5 });
  c.node('a').receive('c', { type: 'append.request', term: 5, leader: 'c', prevIndex: 0, prevTerm: 0, entries: [], leaderCommit: 0 });
  t.like(c.status('a'), { role: 'follower', term: 5, leader: 'c' });
  c.stopAll();
});

test('restart keeps term and vote: no second vote in the same term', (t) => {
  const c = makeCluster(['a', 'b', 'c']);
  c.expire('a');
  c.deliver((e) => e.from === 'a' && e.to === 'b');
  t.deepEqual(c.queue.find(from('b'))?.message, { type: 'vote.reply', term: 1, granted: true });
  c.restart('b');
  t.deepEqual(c.members.b!.storage.load(), { term: 1, votedFor: 'a' });
  c.drop(to('c'));
  c.expire('c');
  t.like(c.status('c'), { role: 'candidate', term: 1 });
  c.deliver((e) => e.from === 'c' && e.to === 'b');
  t.deepEqual(c.queue.filter(to('c')).map((e) => e.message), [{ type: 'vote.reply', term: 1, granted: false }], 'b voted for a in term 1 already');
  // The same candidate asking again (a duplicate) gets the same answer.
  c.node('b').receive('a', { type: 'vote.request', term: 1, candidate: 'a', lastIndex: 0, lastTerm: 0 });
  t.deepEqual(c.queue.at(-1)?.message, { type: 'vote.reply', term: 1, granted: true });
  c.stopAll();
});
