/**
 * Log replication and commitment (the Raft paper §5.3, §5.4.2, figures 7 and
 * 8), every message delivered by the script: the followers (a)–(f) of figure 7
 * are brought in line with the leader; figure 8's sequence, where an entry of
 * an earlier term on a majority is not committed by counting replicas (and is
 * then overwritten), and where it commits with an entry of the current term;
 * a new leader's noop commits what earlier terms left; duplicated and
 * reordered appends never truncate what a follower holds.
 */
import test from 'ava';
import type { RaftMessage } from '../../protocols/raft/types.js';
import { type Envelope, elect, from, isVote, logOf, makeCluster } from './raft-fixtures.js';

type Append = Extract<RaftMessage, { type: 'append.request' }>;
/** An append from `a` to `b` whose first entry has `index`. */
const appendOf = (a: string, b: string, index: number) => (e: Envelope) =>
  e.from === a && e.to === b && e.message.type === 'append.request' && e.message.entries[0]?.index === index;
const between = (...ids: string[]) => (e: Envelope) => ids.includes(e.from) && ids.includes(e.to);

test('figure 7: followers (a)–(f) are each brought in line with the leader of term 8', (t) => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6], // missing an entry
    b: [1, 1, 1, 4], // missing many
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // an extra uncommitted entry
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // extra entries of a later term
    e: [1, 1, 1, 4, 4, 4, 4], // missing entries, extra entries of term 4
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // a leader of terms 2 and 3 that committed none of them
  };
  const seed: Record<string, { term: number; entries: ReturnType<typeof logOf> }> = { L: { term: 7, entries: logOf(...leaderLog) } };
  for (const [id, terms] of Object.entries(followers)) seed[id] = { term: 7, entries: logOf(...terms) };
  const c = makeCluster(['L', ...Object.keys(followers)], { seed, random: Object.fromEntries(['L', ...Object.keys(followers)].map((id) => [id, () => 0.99])) });
  elect(c, 'L');
  t.is(c.status('L').term, 8);
  c.deliverAll();
  c.run(60); // one heartbeat: the commit index reaches everyone
  const want = [...leaderLog, 8];
  for (const id of Object.keys(followers)) {
    t.deepEqual(c.terms(id), want, `follower (${id}) holds the leader's log`);
    t.like(c.status(id), { commitIndex: 11, lastApplied: 11, leader: 'L' }, id);
    t.deepEqual(c.members[id]!.machine.state(), c.members.L!.machine.state(), `(${id}) applied the leader's entries`);
  }
  t.deepEqual(c.members.L!.machine.state(), logOf(...leaderLog).map((e) => (e.command as { data: unknown }).data));
  c.stopAll();
});

/**
 * Figure 8 (a)–(c) on five servers. Index 1 (term 1) is on every server.
 * (a) S1 leads term 2 and its entry 2 reaches S2 only. (b) S1 crashes; S5 is
 * elected for term 3 by S3, S4, S5 and appends its own entry 2. (c) S5
 * crashes; S1 restarts, is elected for term 4 (a first try in term 3 fails),
 * appends entry 3, and replicates its term-2 entry 2 to S3: entry 2 is on S1,
 * S2, S3 — a majority, and S1 knows it.
 */
const figure8c = (t: import('ava').ExecutionContext) => {
  const ids = ['s1', 's2', 's3', 's4', 's5'];
  const c = makeCluster(ids, {
    seed: Object.fromEntries(ids.map((id) => [id, { term: 1, entries: logOf(1) }])),
    // One entry per append, so the script decides which entries each follower gets; no lease step-down while the script runs.
    limits: { maxAppendBytes: 1, leaderLeaseMs: 60_000 },
    random: Object.fromEntries(ids.map((id) => [id, () => 0.99])),
  });
  // (a)
  elect(c, 's1');
  t.is(c.status('s1').term, 2);
  t.truthy(c.deliver(appendOf('s1', 's2', 2)));
  c.crash('s1');
  // (b)
  elect(c, 's5');
  t.is(c.status('s5').term, 3);
  c.crash('s5');
  // (c)
  c.restart('s1');
  c.expire('s1');
  c.deliverAll(isVote);
  t.like(c.status('s1'), { role: 'candidate', term: 3 }, 's3 and s4 voted for s5 in term 3');
  elect(c, 's1');
  t.is(c.status('s1').term, 4);
  c.drop(appendOf('s1', 's2', 3));
  c.drop(appendOf('s1', 's4', 3));
  c.deliver(appendOf('s1', 's3', 3)); // refused: s3 lacks entry 2 …
  c.deliver(between('s1', 's3')); // … the refusal sends s1 back to entry 2
  t.truthy(c.deliver(appendOf('s1', 's3', 2)));
  c.drop(appendOf('s1', 's3', 3));
  c.deliver(between('s1', 's3'));
  // s2's first append was lost: after two silent heartbeats s1 sends it everything after what it is known to hold.
  c.run(100, false);
  t.truthy(c.deliver(appendOf('s1', 's2', 1)));
  t.truthy(c.deliver(appendOf('s1', 's2', 2)));
  c.deliverAll((e) => e.from === 's2' && e.to === 's1');
  t.deepEqual(c.terms('s1'), [1, 2, 4]);
  t.deepEqual(c.terms('s2'), [1, 2]);
  t.deepEqual(c.terms('s3'), [1, 2]);
  t.deepEqual(c.terms('s4'), [1]);
  t.deepEqual(c.terms('s5'), [1, 3]);
  return c;
};

test('figure 8: an entry of an earlier term on a majority is not committed by counting replicas; a later leader may overwrite it', (t) => {
  const c = figure8c(t);
  t.like(c.status('s1').matchIndex, { s2: 2, s3: 2 }, 's1 knows entry 2 is on s1, s2 and s3');
  t.is(c.status('s1').commitIndex, 0, 'entry 2 is of term 2, not 4: counting replicas does not commit it');
  t.is(c.status('s1').lastApplied, 0);
  // (d) S1 crashes; S5 is elected (votes of S2, S3, S4) and overwrites entry 2 everywhere.
  c.crash('s1');
  c.restart('s5');
  c.expire('s5');
  c.deliverAll(isVote);
  t.is(c.status('s5').role, 'candidate', 'term 4: s2, s3, s4 voted for s1 already');
  elect(c, 's5');
  t.is(c.status('s5').term, 5);
  c.deliverAll();
  c.run(60);
  for (const id of ['s2', 's3', 's4', 's5']) t.deepEqual(c.terms(id), [1, 3, 5], `${id}: entry 2 of term 2 was replaced`);
  t.is(c.status('s5').commitIndex, 3);
  for (const id of ['s2', 's3', 's4', 's5']) t.like(c.status(id), { commitIndex: 3, lastApplied: 3 }, `${id} applies entry 2 of term 3, never the one of term 2`);
  c.stopAll();
});

test('figure 8 (e): once an entry of the current term commits, the earlier entry commits with it, and S5 can no longer win', (t) => {
  const c = figure8c(t);
  t.is(c.status('s1').commitIndex, 0);
  // S1's term-4 entry 3 reaches S2 and S3 before S1 crashes.
  c.run(100, false);
  c.deliverAll(between('s1', 's2'));
  c.deliverAll(between('s1', 's3'));
  t.deepEqual(c.terms('s2'), [1, 2, 4]);
  t.is(c.status('s1').commitIndex, 3, 'entry 3 (term 4) on a majority commits, and entries 1 and 2 with it');
  t.is(c.status('s1').lastApplied, 3);
  t.deepEqual(c.members.s1!.machine.applied, [1], 'entry 1 applied (2 and 3 are noops)');
  c.crash('s1');
  c.restart('s5');
  for (let i = 0; i < 3; i++) {
    c.expire('s5');
    c.deliverAll(isVote);
    t.not(c.status('s5').role, 'leader', `election ${i + 1}: s2 and s3 hold a later last term`);
  }
  elect(c, 's2');
  c.deliverAll();
  c.run(60);
  for (const id of ['s2', 's3', 's4', 's5']) t.deepEqual(c.terms(id).slice(0, 3), [1, 2, 4], `${id} keeps the committed entries`);
  c.stopAll();
});

test("a new leader's noop commits the entries earlier terms left uncommitted", async (t) => {
  const c = makeCluster(['a', 'b', 'c'], { random: { a: () => 0.99, b: () => 0.99, c: () => 0.99 } });
  elect(c, 'a');
  c.deliverAll();
  const x = c.node('a').propose('x');
  c.deliver(appendOf('a', 'b', 2));
  c.crash('a');
  await t.throwsAsync(x, { name: 'RaftStoppedError' });
  t.deepEqual(c.terms('b'), [1, 1]);
  t.is(c.status('b').commitIndex, 1, 'b holds x but does not know it committed');
  elect(c, 'b');
  t.is(c.status('b').commitIndex, 1, 'x is of term 1: not committed by b alone');
  c.deliverAll();
  t.is(c.status('b').commitIndex, 3, 'the noop of term 2 on b and c commits x with it');
  c.run(60);
  for (const id of ['b', 'c']) t.deepEqual(c.members[id]!.machine.state(), ['x'], `${id} applied x`);
  c.restart('a');
  c.run(200);
  t.deepEqual(c.members.a!.machine.state(), ['x'], 'a, restarted with an empty state machine, applies x again from its log');
  c.stopAll();
});

test('duplicated and reordered append.requests never truncate entries a follower holds', async (t) => {
  const c = makeCluster(['a', 'b', 'c'], { limits: { maxAppendBytes: 1 }, random: { a: () => 0.99, b: () => 0.99, c: () => 0.99 } });
  elect(c, 'a');
  c.deliverAll();
  const toB: Append[] = [];
  for (let i = 0; i < 6; i++) {
    const done = c.node('a').propose(`p${i}`);
    toB.push(...c.queue.filter((e) => e.to === 'b' && e.message.type === 'append.request').map((e) => e.message as Append));
    c.deliverAll();
    await done;
  }
  c.run(60);
  const b = c.members.b!;
  const log = b.storage.log();
  const writes = b.storage.writes().truncateAndAppend;
  t.is(c.status('b').commitIndex, 7);
  t.is(log.length, 7);
  c.drop(() => true);
  // Every old append again: newest first, each twice.
  for (const m of [...toB].reverse()) for (let k = 0; k < 2; k++) c.node('b').receive('a', m);
  t.deepEqual(b.storage.log(), log, 'the log is unchanged');
  t.is(b.storage.writes().truncateAndAppend, writes, 'nothing was written');
  t.like(c.status('b'), { commitIndex: 7, lastApplied: 7 });
  const replies = c.queue.filter(from('b')).map((e) => e.message);
  t.true(
    replies.every((m) => m.type === 'append.reply' && m.success),
    'each is acknowledged',
  );
  t.deepEqual(b.machine.applied, [2, 3, 4, 5, 6, 7], 'applied once each');
  c.stopAll();
});
