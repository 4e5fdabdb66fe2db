/**
 * Snapshots and restarts: every `snapshotEvery` applied entries a node
 * snapshots its state machine and compacts its log; a follower that needs
 * entries the leader compacted away gets a snapshot.request and catches up
 * from it; a follower that holds the snapshot's entry keeps its log; a
 * restarted node applies every index exactly once, in order — an in-memory
 * state machine from the snapshot on, a durable one (appliedIndex) from where
 * it says it is.
 */
import test from 'ava';
import { elect, makeCluster } from './raft-fixtures.js';

const slow = () => 0.99;

/** a leads b and c; c is down while a commits 12 entries with b (indices 2–13), snapshotting at 5 and 10. */
const compacted = async (durable = false) => {
  const c = makeCluster(['a', 'b', 'c'], { durable, limits: { snapshotEvery: 5 }, random: { a: slow, b: slow, c: slow } });
  elect(c, 'a');
  c.deliverAll();
  c.crash('c');
  for (let i = 1; i <= 12; i++) {
    const done = c.node('a').propose(`v${i}`);
    c.deliverAll();
    await done;
  }
  c.run(60);
  return c;
};
const values = Array.from({ length: 12 }, (_, i) => `v${i + 1}`);

test('snapshot and compaction: every snapshotEvery applied entries, the log before the snapshot goes', async (t) => {
  const c = await compacted();
  for (const id of ['a', 'b']) {
    const { storage } = c.members[id]!;
    t.like(storage.snapshot(), { index: 10, term: 1, data: { state: values.slice(0, 9), at: 10 } }, id);
    t.deepEqual(
      storage.log().map((e) => e.index),
      [11, 12, 13],
      `${id} keeps only what follows its snapshot`,
    );
    t.like(c.status(id), { snapshotIndex: 10, commitIndex: 13, lastApplied: 13 }, id);
    t.is(storage.termAt(10), 1, 'the snapshot answers for its index');
    t.is(storage.termAt(9), undefined, 'compacted');
  }
  c.stopAll();
});

test('a lagging follower is caught up by snapshot.request, then by appends', async (t) => {
  const c = await compacted();
  const before = c.sent.length;
  c.restart('c');
  c.run(300);
  const snapshots = c.sent.slice(before).filter((e) => e.message.type === 'snapshot.request');
  t.true(snapshots.length >= 1, 'the leader sent its snapshot');
  t.true(
    snapshots.every((e) => e.to === 'c' && e.message.type === 'snapshot.request' && e.message.snapshot.index === 10),
    'to c only, at 10',
  );
  const cm = c.members.c!;
  t.deepEqual(cm.machine.restoredAt, [10]);
  t.deepEqual(cm.machine.applied, [11, 12, 13], 'the rest came as entries');
  t.deepEqual(cm.machine.state(), values);
  t.like(c.status('c'), { snapshotIndex: 10, commitIndex: 13, lastApplied: 13 });
  t.is(c.status('a').matchIndex.c, 13);
  c.stopAll();
});

test('a follower that holds the snapshot entry with its term does not install it', async (t) => {
  const c = await compacted();
  const b = c.members.b!;
  const saves = b.storage.writes().saveSnapshot;
  c.node('b').receive('a', { type: 'snapshot.request', term: 1, leader: 'a', snapshot: { index: 10, term: 1, data: { state: [], at: 10 } } });
  t.is(b.storage.writes().saveSnapshot, saves);
  t.deepEqual(b.machine.restoredAt, []);
  t.deepEqual(b.machine.state(), values, 'its state is not replaced by the (wrong) data');
  t.deepEqual(c.queue.at(-1)?.message, { type: 'snapshot.reply', term: 1, index: 10 });
  c.stopAll();
});

test('restart, in-memory state machine: restores the snapshot, then applies each later committed index once', async (t) => {
  const c = await compacted();
  const b = c.restart('b');
  t.deepEqual(b.machine.restoredAt, [10]);
  t.like(c.status('b'), { lastApplied: 10, commitIndex: 10 });
  c.run(300);
  t.deepEqual(b.machine.applied, [11, 12, 13]);
  t.deepEqual(b.machine.state(), values);
  c.stopAll();
});

test('restart, durable state machine: appliedIndex says where it is; nothing is restored or applied twice', async (t) => {
  const c = await compacted(true);
  const applied = [...c.members.b!.machine.applied];
  t.is(applied.at(-1), 13);
  const b = c.restart('b');
  t.like(c.status('b'), { lastApplied: 13, commitIndex: 13 });
  const more = c.node('a').propose('v13');
  c.run(300);
  await more;
  t.deepEqual(b.machine.restoredAt, []);
  t.deepEqual(b.machine.applied, [...applied, 14], 'only the new entry');
  c.stopAll();
});
