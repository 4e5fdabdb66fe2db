/** The simulation's parts on their own: seeded random, clock, network faults, exactly-once services, sim storage. */
import test from 'ava';
import { makeClock } from '../sim/clock.js';
import { makeInvariants } from '../sim/invariants.js';
import { makeNetwork } from '../sim/network.js';
import { makeRandom } from '../sim/random.js';
import { makeService, STALE } from '../sim/services.js';
import { makeSimStorage } from '../sim/storage.js';

test('random: same seed same stream, forks independent of draws on the parent', (t) => {
  const a = makeRandom(42);
  const b = makeRandom(42);
  t.deepEqual(Array.from({ length: 5 }, a.next), Array.from({ length: 5 }, b.next));
  const drawn = makeRandom(42);
  drawn.next();
  drawn.next();
  const f1 = drawn.fork('x');
  const f2 = makeRandom(42).fork('x');
  t.deepEqual([f1.next(), f1.next()], [f2.next(), f2.next()]);
  t.not(makeRandom(42).fork('y').next(), makeRandom(42).fork('x').next());
  for (let i = 0; i < 1000; i++) {
    const n = a.int(3, 7);
    t.true(n >= 3 && n <= 7 && Number.isInteger(n));
  }
});

test('clock: runs events in time order, ties in insertion order, skips cancelled ones, cancels by owner', (t) => {
  const clock = makeClock();
  const seen: string[] = [];
  clock.after(10, () => seen.push('b'));
  clock.after(5, () => seen.push('a'));
  clock.after(10, () => seen.push('c'));
  const gone = clock.after(7, () => seen.push('cancelled'));
  clock.cancel(gone);
  const timers = clock.timers('n1#1');
  timers.setTimeout(() => seen.push('owned'), 8);
  clock.cancelOwner('n1#1');
  clock.after(20, () => clock.after(0, () => seen.push('nested')));
  t.false(clock.step(4), 'nothing due by 4');
  while (clock.step(100));
  t.deepEqual(seen, ['a', 'b', 'c', 'nested']);
  t.is(clock.now(), 20);
  t.is(clock.pending(), 0);
});

const wire = (seed: number) => {
  const clock = makeClock();
  const network = makeNetwork(clock, makeRandom(seed));
  const got: string[] = [];
  network.attach('a', (from, m) => got.push(`a<-${from}:${m}`));
  network.attach('b', (from, m) => got.push(`b<-${from}:${m}`));
  network.attach('c', (from, m) => got.push(`c<-${from}:${m}`));
  const drain = () => {
    while (clock.step(Number.POSITIVE_INFINITY));
  };
  return { clock, network, got, drain };
};

test('network: calm delivers everything; loss, duplication and delay do what they say, deterministically', (t) => {
  const calm = wire(1);
  for (let i = 0; i < 100; i++) calm.network.send('a', 'b', i);
  calm.drain();
  t.is(calm.got.length, 100);
  const run = () => {
    const w = wire(2);
    w.network.setFaults({ loss: 0.3, duplicate: 0.3, minDelayMs: 1, maxDelayMs: 50 });
    for (let i = 0; i < 1000; i++) w.network.send('a', 'b', i);
    w.drain();
    return w;
  };
  const w = run();
  const s = w.network.stats();
  t.true(s.lost > 200 && s.lost < 400, `lost ${s.lost}`);
  t.true(s.duplicated > 120 && s.duplicated < 300, `duplicated ${s.duplicated}`);
  t.is(w.got.length, 1000 - s.lost + s.duplicated);
  const order = w.got.map((g) => Number(g.split(':')[1]));
  t.notDeepEqual(order, [...order].sort((x, y) => x - y), 'delays reorder');
  t.deepEqual(run().got, w.got, 'same seed, same deliveries');
});

test('network: a partition cuts messages already in flight; heal restores; a detached (crashed) node loses its in-flight messages', (t) => {
  const w = wire(3);
  w.network.send('a', 'b', 'before-cut');
  w.network.partition([['a'], ['b', 'c']]);
  w.network.send('b', 'c', 'same-side');
  w.network.send('c', 'a', 'across');
  w.drain();
  t.deepEqual(w.got, ['c<-b:same-side']);
  t.false(w.network.connected('a', 'b'));
  t.true(w.network.connected('a', 'client'), 'an endpoint in no group reaches everyone');
  w.network.heal();
  w.network.send('a', 'b', 'x');
  w.network.send('b', 'a', 'to-crashed');
  w.network.detach('a');
  w.network.attach('a', (from, m) => w.got.push(`a2<-${from}:${m}`));
  w.network.send('c', 'a', 'to-new');
  w.drain();
  t.deepEqual(w.got, ['c<-b:same-side', 'a2<-c:to-new'], 'in flight from and to the old incarnation of a dropped');
});

test('services: a duplicate answers the stored result without applying; a stale seq is ignored; snapshots keep the dedupe table', (t) => {
  const dups: number[] = [];
  const { machine, state } = makeService('counter', { onDuplicate: (i) => dups.push(i) });
  t.is(machine.apply({ client: 'c1', seq: 1, op: { type: 'increment' } }, 1), 1);
  t.is(machine.apply({ client: 'c2', seq: 1, op: { type: 'increment' } }, 2), 2);
  t.is(machine.apply({ client: 'c1', seq: 1, op: { type: 'increment' } }, 3), 1, 'retry of c1#1: its first answer');
  t.deepEqual(dups, [3]);
  t.is(machine.apply({ client: 'c1', seq: 2, op: { type: 'read' } }, 4), 2);
  t.is(machine.apply({ client: 'c1', seq: 1, op: { type: 'increment' } }, 5), STALE);
  const copy = makeService('counter');
  copy.machine.restore(machine.snapshot(), 5);
  t.deepEqual(copy.state(), state());
  t.is(copy.machine.apply({ client: 'c2', seq: 1, op: { type: 'increment' } }, 6), 2, 'the restored table still knows c2#1');
  t.is(copy.state().value, 2);
  const broken = makeService('counter', { dedupe: false });
  broken.machine.apply({ client: 'c1', seq: 1, op: { type: 'increment' } }, 1);
  t.is(broken.machine.apply({ client: 'c1', seq: 1, op: { type: 'increment' } }, 2), 2, 'the mutant applies twice');
});

test('sim storage: truncate and append, snapshot compaction, termAt at the snapshot', (t) => {
  const s = makeSimStorage();
  const e = (index: number, term: number) => ({ index, term, command: { type: 'noop' as const } });
  s.truncateAndAppend(1, [e(1, 1), e(2, 1), e(3, 2)]);
  t.is(s.lastIndex(), 3);
  s.truncateAndAppend(3, [e(3, 3), e(4, 3)]);
  t.deepEqual(s.entries(1, 4, 1e9).map((x) => x.term), [1, 1, 3, 3]);
  t.is(s.entries(1, 4, 1).length, 1, 'at least one entry past maxBytes');
  s.saveSnapshot({ index: 2, term: 1, data: 'x' });
  t.is(s.termAt(2), 1);
  t.is(s.entry(2), undefined);
  t.is(s.entry(3)?.term, 3);
  t.throws(() => s.truncateAndAppend(2, []), { instanceOf: RangeError });
  t.throws(() => s.truncateAndAppend(9, [e(9, 3)]), { instanceOf: RangeError });
  s.saveSnapshot({ index: 6, term: 4, data: 'y' });
  t.is(s.lastIndex(), 6, 'a snapshot past the log replaces it');
  t.is(s.termAt(6), 4);
});

test('invariants: each check fires on a broken history and stays quiet on a legal one', (t) => {
  const inv = makeInvariants(() => 0);
  const status = (id: string, role: 'leader' | 'follower', term: number, commitIndex: number) =>
    ({ id, role, term, leader: undefined, commitIndex, lastApplied: 0, lastIndex: 0, snapshotIndex: 0, matchIndex: {} }) as const;
  const data = (index: number, term: number, d: unknown) => ({ index, term, command: { type: 'data' as const, data: d } });
  const raw = { a: makeSimStorage(), b: makeSimStorage(), c: makeSimStorage() };
  const a = inv.incarnation('a', raw.a);
  const b = inv.incarnation('b', raw.b);
  const c = inv.incarnation('c', raw.c);
  const sa = inv.wrapStorage(a, raw.a);
  const sb = inv.wrapStorage(b, raw.b);
  const sc = inv.wrapStorage(c, raw.c);
  sa.truncateAndAppend(1, [data(1, 1, 'x'), data(2, 1, 'y')]);
  sb.truncateAndAppend(1, [data(1, 1, 'x'), data(2, 1, 'y')]);
  sc.truncateAndAppend(1, [data(1, 1, 'x'), data(2, 1, 'q')]);
  inv.onStatus(a, status('a', 'leader', 1, 2));
  inv.onStatus(b, status('b', 'follower', 1, 2));
  t.deepEqual(inv.violations, [], 'legal so far');
  // c holds an uncommitted entry of term 1 at a committed index: legal until it claims it committed.
  inv.onStatus(c, status('c', 'follower', 1, 2));
  t.regex(inv.violations.at(-1) ?? '', /State Machine Safety: c committed 2@t1 data:"q"/);
  inv.onStatus(c, status('c', 'leader', 1, 2));
  t.regex(inv.violations.at(-1) ?? '', /Election Safety: c and a both lead term 1/);
  sb.truncateAndAppend(2, []);
  t.regex(inv.violations.at(-1) ?? '', /b truncates committed 2@t1 data:"y" with no conflict/);
  const count = inv.violations.length;
  sa.truncateAndAppend(3, [data(3, 1, 'z')]);
  sa.truncateAndAppend(2, [data(2, 2, 'w')]);
  t.regex(inv.violations.at(-1) ?? '', /a writes 2@t2 data:"w" over committed 2@t1 data:"y"/);
  t.is(inv.violations.length, count + 1, 'appending after the committed prefix is legal');
  const ma = inv.wrapMachine(a, makeService('register').machine);
  const mb = inv.wrapMachine(b, makeService('register').machine);
  ma.apply({ client: 'k', seq: 1, op: { type: 'read' } }, 5);
  mb.apply({ client: 'k', seq: 2, op: { type: 'read' } }, 5);
  t.regex(inv.violations.at(-1) ?? '', /State Machine Safety: b applies .* at 5, another replica applied/);
  ma.apply({ client: 'k', seq: 1, op: { type: 'read' } }, 5);
  t.regex(inv.violations.at(-1) ?? '', /a applies index 5 after 5/);
});
