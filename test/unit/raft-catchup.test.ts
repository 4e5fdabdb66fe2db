/**
 * How a leader brings a follower back in line after a refusal (regressions
 * found by the simulation, test/sim): a follower that must start at or before
 * the leader's snapshot gets the snapshot, never an append after `prevIndex 0`
 * (whose term the storage answers as 0 although the log is compacted); a
 * refusal whose hint is at or below what the follower is known to hold still
 * moves `next` back (to just after `match`), so the follower is never stuck;
 * and each refusal sends at most one append (a probe), so refusals cannot
 * multiply into a message storm.
 */
import test from 'ava';
import type { LogEntry, NodeId, RaftMessage } from '../../protocols/raft/types.js';
import { type Envelope, elect, logOf, makeCluster } from './raft-fixtures.js';

type Append = Extract<RaftMessage, { type: 'append.request' }>;
const slow = () => 0.99;
const slowAll = (...ids: NodeId[]) => Object.fromEntries(ids.map((id) => [id, slow]));
const appendTo = (a: NodeId, b: NodeId) => (e: Envelope) => e.from === a && e.to === b && e.message.type === 'append.request';
const replyTo = (a: NodeId, b: NodeId) => (e: Envelope) => e.from === b && e.to === a && e.message.type === 'append.reply';
const between = (...ids: NodeId[]) => (e: Envelope) => ids.includes(e.from) && ids.includes(e.to);
/** Entries `from`..`to` of term `term` (data as logOf's). */
const entriesOf = (from: number, to: number, term: number): LogEntry[] =>
  Array.from({ length: to - from + 1 }, (_, k) => ({ index: from + k, term, command: { type: 'data', data: `t${term}i${from + k}` } }));
/** A recorder snapshot holding `at` entries' data. */
const snapshotAt = (at: number, term: number) => ({ index: at, term, data: { state: entriesOf(1, at, term).map((e) => (e.command as { data: unknown }).data), at } });

test('bug 1: a follower that must start from index 1 gets the snapshot, not an append after prevIndex 0', (t) => {
  // a compacted 1..16 into its snapshot and holds 17..20; b and c start empty.
  const c = makeCluster(['a', 'b', 'c'], {
    seed: { a: { term: 1, snapshot: snapshotAt(16, 1), entries: entriesOf(17, 20, 1) } },
    random: slowAll('a', 'b', 'c'),
  });
  elect(c, 'a');
  c.deliverAll();
  c.run(120);
  for (const id of ['b', 'c']) {
    const snapshots = c.sent.filter((e) => e.to === id && e.message.type === 'snapshot.request');
    t.is(snapshots.length, 1, `${id} got the snapshot once`);
    const afterZero = c.sent.filter((e) => appendTo('a', id)(e) && (e.message as Append).prevIndex === 0);
    t.deepEqual(afterZero, [], `no append after prevIndex 0 went to ${id}`);
    t.like(c.status(id), { snapshotIndex: 16, lastIndex: 21, commitIndex: 21, lastApplied: 21 }, id);
    t.deepEqual(c.members[id]!.machine.state(), c.members.a!.machine.state(), `${id} holds a's state`);
    t.deepEqual(c.members[id]!.machine.restoredAt, [16]);
  }
  c.stopAll();
});

test('bug 1: a leader whose log is empty after its snapshot sends it, instead of empty appends in a loop', (t) => {
  // a and b hold the snapshot at 20 and nothing after it; c starts empty. Every applied entry is snapshotted.
  const c = makeCluster(['a', 'b', 'c'], {
    seed: { a: { term: 1, snapshot: snapshotAt(20, 1) }, b: { term: 1, snapshot: snapshotAt(20, 1) } },
    limits: { snapshotEvery: 1 },
    random: slowAll('a', 'b', 'c'),
  });
  elect(c, 'a');
  c.deliverAll(between('a', 'b'));
  t.like(c.status('a'), { commitIndex: 21, snapshotIndex: 21, lastIndex: 21 }, 'the noop committed with b, and a compacted it');
  c.deliverAll(); // c refuses the noop's append (hint 1): all it needs is in the snapshot
  c.run(120);
  const toC = c.sent.filter((e) => e.from === 'a' && e.to === 'c');
  t.true(toC.length < 20, `${toC.length} messages to c`);
  t.true(
    toC.some((e) => e.message.type === 'snapshot.request' && e.message.snapshot.index === 21),
    'c got the snapshot at 21',
  );
  t.like(c.status('c'), { snapshotIndex: 21, commitIndex: 21, lastApplied: 21 });
  c.stopAll();
});

/**
 * f led term 2 and holds 1..5 of term 2; the leader L holds 1..3 of term 2
 * and 4..7 of term 4, and adds its noop at 8 in term 5. One entry per append.
 * The first append to f is lost; two heartbeats later L sends again from
 * match + 1 = 1 (four appends). f's success for 1 arrives first (match 1),
 * then f refuses the append after 4 (term 4 there, term 2 in f) with the start
 * of its term-2 run, 1 — at or below match — and the appends that would have
 * repaired f (after 1, 2, 3) are lost. The refusal must still move `next` back.
 */
test('bug 2: a refusal whose hint is at or below match still moves next back (to match + 1): the follower catches up', (t) => {
  const leaderLog = [2, 2, 2, 4, 4, 4, 4];
  const c = makeCluster(['L', 'f', 'g'], {
    seed: { L: { term: 4, entries: logOf(...leaderLog) }, g: { term: 4, entries: logOf(...leaderLog) }, f: { term: 4, entries: logOf(2, 2, 2, 2, 2) } },
    limits: { maxAppendBytes: 1, leaderLeaseMs: 60_000 },
    random: slowAll('L', 'f', 'g'),
  });
  elect(c, 'L');
  t.is(c.status('L').term, 5);
  c.deliverAll(between('L', 'g'));
  t.is(c.drop(appendTo('L', 'f')), 1, "the noop's append to f is lost");
  c.run(100, false); // two heartbeats without an answer: L sends again from match + 1
  const pipeline = c.queue.filter(appendTo('L', 'f')).map((e) => (e.message as Append).prevIndex);
  t.deepEqual(pipeline.slice(0, 4), [0, 1, 2, 3], 'four appends from index 1');
  t.truthy(c.deliver((e) => appendTo('L', 'f')(e) && (e.message as Append).prevIndex === 0));
  t.truthy(c.deliver(replyTo('L', 'f')));
  t.is(c.status('L').matchIndex.f, 1);
  t.truthy(c.deliver((e) => appendTo('L', 'f')(e) && (e.message as Append).prevIndex === 4), 'the append after 4 (sent on the success)');
  const refusal = c.queue.find(replyTo('L', 'f'))?.message;
  t.like(refusal, { type: 'append.reply', success: false, index: 1 }, 'refused with the start of its term-2 run, below match');
  c.drop((e) => appendTo('L', 'f')(e) && [1, 2, 3].includes((e.message as Append).prevIndex));
  c.run(1000);
  t.deepEqual(c.terms('f'), [...leaderLog, 5], 'f holds the leader log');
  t.like(c.status('f'), { commitIndex: 8, lastApplied: 8 });
  c.stopAll();
});

/**
 * f holds 3..10 of term 2 where the leader holds 3..8 of term 3. The
 * noop's append to f (after 8) is duplicated four times on the way: f refuses
 * each, hinting 3. Each refusal may send one append (a probe), not refill the
 * pipeline (maxInflightAppends each, which the next refusal refills again).
 */
test('bug 3: each refusal sends at most one append (a probe), not a pipeline', (t) => {
  const leaderLog = [1, 1, 3, 3, 3, 3, 3, 3];
  const c = makeCluster(['L', 'f', 'g'], {
    seed: { L: { term: 3, entries: logOf(...leaderLog) }, g: { term: 3, entries: logOf(...leaderLog) }, f: { term: 3, entries: logOf(1, 1, 2, 2, 2, 2, 2, 2, 2, 2) } },
    limits: { maxAppendBytes: 1, maxInflightAppends: 4, leaderLeaseMs: 60_000 },
    random: slowAll('L', 'f', 'g'),
  });
  elect(c, 'L');
  c.deliverAll(between('L', 'g'));
  const first = c.queue.find(appendTo('L', 'f'))!;
  c.queue.push(first, first, first); // duplicated by the network
  for (let k = 0; k < 4; k++) t.truthy(c.deliver(appendTo('L', 'f')));
  const refusals = c.queue.filter(replyTo('L', 'f'));
  t.is(refusals.length, 4);
  t.true(
    refusals.every((e) => e.message.type === 'append.reply' && !e.message.success && e.message.index === 3),
    'each refused, hinting 3',
  );
  const sent: number[] = [];
  for (let k = 0; k < 4; k++) {
    const before = c.sent.length;
    c.deliver(replyTo('L', 'f'));
    sent.push(c.sent.slice(before).filter(appendTo('L', 'f')).length);
  }
  t.deepEqual(sent, [1, 1, 1, 1], 'one append per refusal');
  c.run(300);
  t.deepEqual(c.terms('f'), [...leaderLog, 4], 'f holds the leader log');
  c.stopAll();
});
