/**
 * What `propose` promises (protocols/raft/types.ts): the result of `apply`
 * (or what it threw) once committed and applied on the leader; NotLeaderError
 * with a leader hint elsewhere; RaftBusyError past maxPendingProposals;
 * RaftStoppedError after stop; LeadershipLostError when a leader cut off from
 * a majority steps down after its lease, while the majority elects another.
 */
import test from 'ava';
import { elect, makeCluster } from './raft-fixtures.js';

const slow = () => 0.99;

test('a single node elects itself; propose settles with what apply returned, or rejects with what it threw', async (t) => {
  const c = makeCluster(['solo']);
  c.run(600);
  t.deepEqual(c.leaders(), ['solo']);
  t.deepEqual(await c.node('solo').propose('v'), { index: 2, data: 'v' });
  await t.throwsAsync(c.node('solo').propose('boom'), { name: 'RangeError', message: 'boom at 3' });
  t.deepEqual(await c.node('solo').propose('w'), { index: 4, data: 'w' });
  t.deepEqual(c.members.solo!.machine.state(), ['v', 'w']);
  c.stopAll();
});

test('apply throwing is a result too: every replica applies the entry, the proposer gets the error', async (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { b: slow, c: slow } });
  elect(c, 'a');
  c.deliverAll();
  const boom = c.node('a').propose('boom');
  c.deliverAll();
  await t.throwsAsync(boom, { message: 'boom at 2' });
  c.run(60);
  for (const id of ['a', 'b', 'c']) t.deepEqual(c.members[id]!.machine.applied, [2], id);
  c.stopAll();
});

test('a follower refuses with NotLeaderError naming the leader it knows; nothing is appended', async (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { b: slow, c: slow } });
  await t.throwsAsync(c.node('a').propose('x'), { name: 'NotLeaderError', message: /^NotLeaderError: a is not the leader/ });
  elect(c, 'a');
  c.deliverAll();
  const err = await t.throwsAsync(c.node('b').propose('x'), { name: 'NotLeaderError' });
  t.is((err as unknown as { leader: string }).leader, 'a');
  t.is(c.status('b').lastIndex, 1);
  c.stopAll();
});

test('past maxPendingProposals a leader refuses with RaftBusyError; stop rejects what waits with RaftStoppedError', async (t) => {
  const c = makeCluster(['a', 'b', 'c'], { limits: { maxPendingProposals: 2 }, random: { b: slow, c: slow } });
  elect(c, 'a');
  const one = c.node('a').propose(1);
  const two = c.node('a').propose(2);
  await t.throwsAsync(c.node('a').propose(3), { name: 'RaftBusyError' });
  t.is(c.status('a').lastIndex, 3, 'the refused proposal was not appended');
  c.node('a').stop();
  await t.throwsAsync(one, { name: 'RaftStoppedError' });
  await t.throwsAsync(two, { name: 'RaftStoppedError' });
  await t.throwsAsync(c.node('a').propose(4), { name: 'RaftStoppedError' });
  c.node('a').stop();
  t.is(c.pendingTimers(), 0 + c.members.b!.live.size + c.members.c!.live.size, 'a left no timer');
  c.stopAll();
});

test('a leader partitioned into a minority steps down after its lease, rejecting pending proposals; the majority elects a new leader', async (t) => {
  const c = makeCluster(['a', 'b', 'c', 'd', 'e'], { random: { a: () => 0, b: slow, c: () => 0.5, d: slow, e: slow } });
  c.run(400);
  t.deepEqual(c.leaders(), ['a']);
  c.partition(['a', 'b'], ['c', 'd', 'e']);
  const cut = c.clock.now();
  const lost = c.node('a').propose('lost');
  let settled = false;
  lost.catch(() => {}).finally(() => {
    settled = true;
  });
  c.run(590);
  t.is(c.status('a').role, 'leader', 'within one lease it still leads');
  await Promise.resolve();
  t.false(settled);
  const lease = 600;
  while (c.status('a').role === 'leader' && c.clock.now() - cut < 2 * lease + 1) c.run(1);
  t.is(c.status('a').role, 'follower', 'no majority heard within a lease: it steps down');
  t.true(c.clock.now() - cut <= 2 * lease, `stepped down ${c.clock.now() - cut} ms after the cut`);
  await t.throwsAsync(lost, { name: 'LeadershipLostError' });
  await t.throwsAsync(c.node('a').propose('again'), { name: 'NotLeaderError' });
  c.run(600);
  t.deepEqual(c.leaders(), ['c'], 'the majority side elected c');
  t.true(c.status('c').term > 1);
  c.heal();
  // Without pre-vote, a and b (whose timers ran while cut off) may force a new election with a higher term; only c, d or e can win it (a and b lack the entry of term 2).
  c.run(1500);
  const [leader] = c.leaders();
  t.true(leader === 'c' || leader === 'd' || leader === 'e', `leader after healing: ${leader}`);
  const index = c.status(leader!).lastIndex + 1;
  const kept = c.node(leader!).propose('kept');
  c.run(200);
  t.deepEqual(await kept, { index, data: 'kept' });
  for (const id of ['a', 'b', 'c', 'd', 'e']) t.deepEqual(c.members[id]!.machine.state(), ['kept'], `${id}: the uncommitted entry of the old leader is gone`);
  const err = await t.throwsAsync(c.node('a').propose('x'), { name: 'NotLeaderError' });
  t.is((err as unknown as { leader: string }).leader, leader as string);
  c.stopAll();
});
