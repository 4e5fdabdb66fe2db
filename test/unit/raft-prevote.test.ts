/**
 * Pre-vote and leader stickiness (Raft thesis §9.6, as etcd/raft does them)
 * on the scripted group of raft-fixtures.ts. A replica that restarts, or a
 * follower cut off by a partition, times out again and again; it must not
 * raise the group's term nor depose a live leader: its pre-votes are refused
 * by nodes that still hear the leader, it never increments its own term, and
 * it follows the leader once its appends arrive. A real leader loss still
 * elects a new leader in one round; a pre-candidate behind in its log gets no
 * pre-votes; pre-vote rounds that reach no majority leave every term alone
 * until the randomized timeouts let one win; a pre-vote writes nothing.
 */
import test from 'ava';
import type { NodeId, RaftMessage } from '../../protocols/raft/types.js';
import { type Cluster, type Envelope, elect, isPreVote, isVote, makeCluster, TEST_LIMITS } from './raft-fixtures.js';

const ELECTION_MIN = TEST_LIMITS.electionMinMs!;
const ELECTION_MAX = TEST_LIMITS.electionMaxMs!;
const slow = () => 0.99;

/** Moves the clock a millisecond at a time, losing what `lost` matches and delivering the rest. */
const runLosing = (c: Cluster, ms: number, lost: (e: Envelope) => boolean) => {
  for (let i = 0; i < ms; i++) {
    c.clock.increment(1);
    c.deliverAll((e) => !lost(e));
    c.drop(lost);
  }
};
/** What the leader sends a follower: what a restarted replica does not get until its sessions are back. */
const leaderTo = (leader: NodeId, to: NodeId) => (e: Envelope) => e.from === leader && e.to === to && (e.message.type === 'append.request' || e.message.type === 'snapshot.request');
const sentBy = (c: Cluster, id: NodeId, type: RaftMessage['type'], since = 0) => c.sent.slice(since).filter((e) => e.from === id && e.message.type === type).length;
const saveTerms = (c: Cluster, id: NodeId) => c.members[id]!.storage.writes().saveTerm ?? 0;
/** A seeded uniform source per node (a 32-bit LCG), so the nodes' draws differ and a run replays. */
const seeded = (seed: number) => () => {
  seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
  return seed / 2 ** 32;
};

for (const log of ['stale', 'up-to-date'] as const) {
  test(`a restarted follower with a${log === 'stale' ? '' : 'n'} ${log} log does not raise the term of a healthy group, however often its timer fires`, async (t) => {
    const c = makeCluster(['a', 'b', 'c'], { random: { a: () => 0, b: slow, c: () => 0.5 } });
    c.run(400);
    t.deepEqual(c.leaders(), ['a']);
    const committed = c.node('a').propose('x');
    c.run(100);
    await committed;
    c.crash('c');
    if (log === 'stale') {
      const more = c.node('a').propose('y');
      c.run(100);
      await more;
    }
    const writes = { a: saveTerms(c, 'a'), b: saveTerms(c, 'b') };
    const since = c.sent.length;
    c.restart('c');
    // c's sessions take a while to come back: the leader's appends do not reach it, its own messages go out.
    runLosing(c, 3000, leaderTo('a', 'c'));
    t.true(sentBy(c, 'c', 'prevote.request', since) >= 2 * 5, `its timer fired ${sentBy(c, 'c', 'prevote.request', since) / 2} times`);
    t.is(sentBy(c, 'c', 'vote.request', since), 0, 'no pre-vote majority: it never stood for election');
    t.deepEqual(c.leaders(), ['a']);
    for (const id of ['a', 'b', 'c']) t.is(c.status(id).term, 1, `${id} is still in term 1`);
    t.deepEqual({ a: saveTerms(c, 'a'), b: saveTerms(c, 'b') }, writes, 'nothing written on a or b');
    c.run(200);
    t.like(c.status('c'), { role: 'follower', term: 1, leader: 'a', commitIndex: c.status('a').commitIndex }, 'its appends arrive: it follows a and catches up');
    t.deepEqual(c.terms('c'), c.terms('a'));
    c.stopAll();
  });
}

test('a follower that was partitioned and healed does not depose the leader, and its term stays', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { a: () => 0, b: slow, c: () => 0.3 } });
  c.run(400);
  t.deepEqual(c.leaders(), ['a']);
  const since = c.sent.length;
  c.partition(['a', 'b'], ['c']);
  c.run(3000);
  t.true(sentBy(c, 'c', 'prevote.request', since) >= 2 * 5, 'cut off, c asked for pre-votes again and again');
  t.like(c.status('c'), { role: 'precandidate', term: 1 }, 'without a pre-vote majority its term stays (it used to climb by one per timeout)');
  t.is(c.members.c!.storage.load().term, 1);
  c.heal();
  c.expire('c'); // its timer fires again before the leader's next heartbeat reaches it
  c.run(1000);
  t.deepEqual(c.leaders(), ['a'], 'a still leads');
  for (const id of ['a', 'b', 'c']) t.like(c.status(id), { term: 1, leader: 'a' }, id);
  t.is(sentBy(c, 'c', 'vote.request', since), 0);
  c.stopAll();
});

test('a real leader loss still elects a new leader in one round: pre-vote, then vote, one term up', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { a: () => 0, b: () => 0.2, c: () => 0.8 } });
  c.run(400);
  t.deepEqual(c.leaders(), ['a']);
  const since = c.sent.length;
  c.crash('a');
  const lost = c.clock.now();
  while (c.leaders().length === 0 && c.clock.now() - lost < 10 * ELECTION_MAX) c.run(1);
  t.deepEqual(c.leaders(), ['b'], 'b drew the shorter timeout');
  t.true(c.clock.now() - lost <= ELECTION_MAX, `a new leader ${c.clock.now() - lost} ms after the loss (at most one election timeout)`);
  t.like(c.status('b'), { term: 2 });
  t.like(c.status('c'), { term: 2, leader: 'b' });
  const order = c.sent.slice(since).filter((e) => e.from === 'b' && isVote(e)).map((e) => e.message.type);
  t.deepEqual(order, ['prevote.request', 'prevote.request', 'vote.request', 'vote.request'], 'one pre-vote round, one election');
  c.stopAll();
});

test('a pre-candidate with an out-of-date log gets no pre-votes, and no term moves', async (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { a: slow, b: slow, c: slow } });
  elect(c, 'a');
  c.deliverAll();
  const x = c.node('a').propose('x');
  c.drop((e) => e.to === 'c');
  c.deliverAll();
  await x; // committed on a and b; c lacks it
  c.crash('a');
  c.lapse('b', 'c'); // time passes: a is no longer current for them
  const writes = saveTerms(c, 'b');
  c.expire('c');
  c.deliverAll((e) => e.message.type === 'prevote.request');
  t.deepEqual(
    c.queue.filter((e) => e.to === 'c').map((e) => e.message),
    [{ type: 'prevote.reply', term: 1, granted: false }],
  );
  c.deliverAll(isVote);
  t.like(c.status('c'), { role: 'precandidate', term: 1 });
  t.like(c.status('b'), { role: 'follower', term: 1 });
  t.is(saveTerms(c, 'b'), writes, 'b wrote nothing');
  elect(c, 'b');
  t.is(c.status('b').term, 2, 'b, whose log holds x, wins the next term');
  c.stopAll();
});

test('split pre-votes: a group split three ways keeps its term through many rounds; after healing one pre-candidate wins term 1', (t) => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const c = makeCluster(ids, { random: Object.fromEntries(ids.map((id, k) => [id, seeded(k + 1)])) });
  c.partition(['a', 'b'], ['c', 'd'], ['e']);
  c.run(3000);
  t.deepEqual(c.leaders(), []);
  for (const id of ids) {
    t.true(sentBy(c, id, 'prevote.request') >= 4 * 5, `${id} asked for pre-votes in many rounds`);
    t.like(c.status(id), { role: 'precandidate', term: 0 }, `${id}: no pre-vote majority, no term`);
  }
  t.is(c.sent.filter((e) => e.message.type === 'vote.request').length, 0);
  c.heal();
  c.run(ELECTION_MAX);
  const [leader] = c.leaders();
  t.is(c.leaders().length, 1, 'the first pre-candidate to time out after healing wins');
  for (const id of ids) t.like(c.status(id), { term: 1, leader }, id);
  c.stopAll();
});

test('a pre-vote request never writes the term or the vote, nor restarts the election timer, granted or not', (t) => {
  const c = makeCluster(['a', 'b', 'c', 'd'], { random: { a: slow, b: () => 0.5, c: () => 0.5, d: () => 0.5 } });
  c.expire('a');
  c.deliverAll(isPreVote);
  c.deliverAll(isVote); // a leads term 1 (b, c, d voted for it)
  c.deliverAll(); // they heard a: sticky
  c.lapse('b', 'c', 'd'); // and then not (a fell silent)
  c.expire('c'); // c is a pre-candidate of term 1
  c.drop(() => true);
  const roles = ['b', 'c', 'a'].map((id) => c.status(id).role);
  t.deepEqual(roles, ['follower', 'precandidate', 'leader']);
  const before = Object.fromEntries(['a', 'b', 'c'].map((id) => [id, { saved: c.members[id]!.storage.load(), writes: saveTerms(c, id), timers: [...c.members[id]!.live.keys()] }]));
  const requests: RaftMessage[] = [
    { type: 'prevote.request', term: 2, candidate: 'd', lastIndex: 1, lastTerm: 1 }, // up to date
    { type: 'prevote.request', term: 9, candidate: 'd', lastIndex: 1, lastTerm: 1 }, // far ahead
    { type: 'prevote.request', term: 9, candidate: 'd', lastIndex: 0, lastTerm: 0 }, // behind
    { type: 'prevote.request', term: 1, candidate: 'd', lastIndex: 0, lastTerm: 0 }, // not ahead of anyone
  ];
  for (const id of ['a', 'b', 'c']) for (const m of requests) c.node(id).receive('d', m);
  const granted = (id: string) => c.queue.filter((e) => e.from === id).map((e) => (e.message as { granted: boolean }).granted);
  t.deepEqual(granted('b'), [true, true, false, false], 'b (no current leader) grants the up-to-date ones');
  t.deepEqual(granted('c'), [true, true, false, false], 'so does c, itself a pre-candidate');
  t.deepEqual(granted('a'), [false, false, false, false], 'a leads: it grants none');
  for (const id of ['a', 'b', 'c']) {
    const now = { saved: c.members[id]!.storage.load(), writes: saveTerms(c, id), timers: [...c.members[id]!.live.keys()] };
    t.deepEqual(now, before[id], `${id}: term, vote, writes and timers unchanged`);
    t.is(c.status(id).term, 1);
  }
  t.deepEqual(c.status('c').role, 'precandidate');
  c.stopAll();
});

test('pre-vote replies: a grant counts only for the prospective term and moves no term; a refusal of a higher term sends the pre-candidate back to follower', (t) => {
  const c = makeCluster(['a', 'b', 'c', 'd', 'e'], { seed: { a: { term: 3 } } });
  c.expire('a');
  c.drop(() => true);
  const writes = saveTerms(c, 'a');
  c.node('a').receive('b', { type: 'prevote.reply', term: 9, granted: true }); // not our round: ignored, its term too
  c.node('a').receive('c', { type: 'prevote.reply', term: 4, granted: true });
  t.like(c.status('a'), { role: 'precandidate', term: 3 });
  t.is(saveTerms(c, 'a'), writes);
  c.node('a').receive('d', { type: 'prevote.reply', term: 3, granted: false }); // our own term: nothing
  t.like(c.status('a'), { role: 'precandidate', term: 3 });
  c.node('a').receive('d', { type: 'prevote.reply', term: 4, granted: true });
  t.like(c.status('a'), { role: 'candidate', term: 4 }, 'a, c and d: a majority of five');
  c.expire('a');
  t.like(c.status('a'), { role: 'precandidate', term: 4 }, 'an election not won: pre-vote again, the term kept');
  c.node('a').receive('b', { type: 'prevote.reply', term: 7, granted: false });
  t.like(c.status('a'), { role: 'follower', term: 7, leader: undefined });
  t.deepEqual(c.members.a!.storage.load(), { term: 7, votedFor: undefined }, 'the refuser\'s term, persisted');
  c.stopAll();
});

test('leader stickiness: a node that heard its leader within electionMinMs ignores a higher-term vote request (no step down, no reply, no write); after it, it votes', (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { a: () => 0, b: slow, c: slow } });
  c.run(400);
  t.deepEqual(c.leaders(), ['a']);
  const vote: RaftMessage = { type: 'vote.request', term: 5, candidate: 'c', lastIndex: 9, lastTerm: 1 };
  const writes = { a: saveTerms(c, 'a'), b: saveTerms(c, 'b') };
  c.node('a').receive('c', vote);
  c.node('b').receive('c', vote);
  t.is(c.queue.length, 0, 'no reply');
  t.deepEqual({ a: saveTerms(c, 'a'), b: saveTerms(c, 'b') }, writes);
  t.like(c.status('a'), { role: 'leader', term: 1 });
  t.like(c.status('b'), { role: 'follower', term: 1, leader: 'a' });
  // a falls silent; electionMinMs later b no longer counts it as current.
  c.partition(['a'], ['b', 'c']);
  c.run(ELECTION_MIN - 60, false);
  c.drop(() => true);
  c.node('b').receive('c', vote);
  t.is(c.queue.length, 0, 'b heard a less than electionMinMs ago: still sticky');
  c.run(60, false);
  c.drop(() => true);
  c.node('b').receive('c', vote);
  t.deepEqual(c.queue.at(-1)?.message, { type: 'vote.reply', term: 5, granted: true });
  t.like(c.status('b'), { role: 'follower', term: 5 });
  c.stopAll();
});
