/**
 * Raft storage on SQLite (runtime/replica/raft-store.ts): each RaftStorage
 * method as types.ts documents it, durability across a "crash" (close and
 * reopen: every call is durable when it returns), and a conformance run of
 * random operation sequences against a plain in-memory model of the same
 * contract and the simulation's memory storage, reopening at random points.
 */
import test from 'ava';
import fc from 'fast-check';
import { join } from 'node:path';
import { makeMemoryStorage } from '../../protocols/raft/memory-storage.js';
import type { LogEntry, RaftStorage, Snapshot } from '../../protocols/raft/types.js';
import { openRaftStorage, type SqliteRaftStorage } from '../../runtime/replica/raft-store.js';
import { tempHome } from '../helpers/host.js';

const data = (index: number, term: number, body: unknown = `v${index}`): LogEntry => ({ index, term, command: { type: 'data', data: body } });
const run = (from: number, terms: number[]): LogEntry[] => terms.map((term, i) => data(from + i, term));

/** Runs `check` on the storage, then again after a reopen (a crash: nothing but what was durable survives). */
const beforeAndAfterReopen = (s: RaftStorage, reopen: () => RaftStorage, check: (s: RaftStorage) => void) => {
  check(s);
  check(reopen());
};

const opened = (t: { teardown(fn: () => void): void }, group = 'g') => {
  const dbPath = join(tempHome(t), 'tribe.db');
  const box = { s: openRaftStorage(dbPath, group) as SqliteRaftStorage, dbPath };
  t.teardown(() => box.s.close());
  const reopen = () => {
    box.s.close();
    box.s = openRaftStorage(dbPath, group);
    return box.s;
  };
  return { box, reopen };
};

test('a fresh group holds nothing: term 0, no vote, index 0 with term 0', (t) => {
  const { box } = opened(t);
  const s = box.s;
  t.deepEqual(s.load(), { term: 0, votedFor: undefined });
  t.is(s.lastIndex(), 0);
  t.is(s.termAt(0), 0);
  t.is(s.termAt(1), undefined);
  t.is(s.entry(1), undefined);
  t.deepEqual(s.entries(1, 10, 1 << 20), []);
  t.is(s.snapshot(), undefined);
});

test('term and vote are durable, and a new term without a vote clears it', (t) => {
  const { box, reopen } = opened(t);
  box.s.saveTerm(3, 'b');
  t.deepEqual(reopen().load(), { term: 3, votedFor: 'b' });
  box.s.saveTerm(4, undefined);
  t.deepEqual(reopen().load(), { term: 4, votedFor: undefined });
});

test('appends read back by entry, termAt and entries, and survive a reopen', (t) => {
  const { box, reopen } = opened(t);
  const log = run(1, [1, 1, 2, 2, 3]);
  log[2] = { index: 3, term: 2, command: { type: 'noop' } };
  box.s.truncateAndAppend(1, log);
  beforeAndAfterReopen(box.s, reopen, (s) => {
    t.is(s.lastIndex(), 5);
    t.deepEqual(s.entry(3), log[2]);
    t.deepEqual([1, 2, 3, 4, 5, 6].map((i) => s.termAt(i)), [1, 1, 2, 2, 3, undefined]);
    t.deepEqual(s.entries(2, 4, 1 << 20), log.slice(1, 4));
    t.deepEqual(s.entries(4, 99, 1 << 20), log.slice(3), 'a range past the end stops at the last entry');
  });
});

test('entries stop before maxBytes of JSON, counted as the entries would be sent, and give at least one', (t) => {
  const { box } = opened(t);
  const log = [1, 2, 3, 4, 5, 6].map((i) => data(i, 7, 'é'.repeat(i * 10)));
  box.s.truncateAndAppend(1, log);
  const size = (e: LogEntry) => Buffer.byteLength(JSON.stringify(e));
  // Exactly the first three fit.
  const three = size(log[0]!) + size(log[1]!) + size(log[2]!);
  t.deepEqual(box.s.entries(1, 6, three), log.slice(0, 3));
  t.deepEqual(box.s.entries(1, 6, three - 1), log.slice(0, 2));
  t.deepEqual(box.s.entries(1, 6, 1), log.slice(0, 1), 'one entry even when it alone is over');
  t.deepEqual(box.s.entries(1, 6, 0), log.slice(0, 1));
});

test('truncateAndAppend replaces a conflicting suffix in one step, durably', (t) => {
  const { box, reopen } = opened(t);
  box.s.truncateAndAppend(1, run(1, [1, 1, 1, 1, 1]));
  box.s.truncateAndAppend(3, run(3, [2]));
  t.is(box.s.lastIndex(), 3);
  const s = reopen();
  t.is(s.lastIndex(), 3);
  t.deepEqual([1, 2, 3, 4].map((i) => s.termAt(i)), [1, 1, 2, undefined]);
  t.is(s.entry(4), undefined);
  s.truncateAndAppend(2, []);
  t.is(s.lastIndex(), 1, 'an empty append truncates');
  s.truncateAndAppend(2, []);
  t.is(s.lastIndex(), 1, 'truncating just past the end changes nothing');
});

test('a gap, indices out of order, or a rewrite of compacted entries is RaftStorageError and changes nothing', (t) => {
  const { box, reopen } = opened(t);
  box.s.truncateAndAppend(1, run(1, [1, 1, 1]));
  box.s.saveSnapshot({ index: 2, term: 1, data: null });
  const bad: [number, LogEntry[]][] = [
    [5, run(5, [1])],
    [5, []],
    [4, [data(4, 1), data(6, 1)]],
    [4, [data(5, 1)]],
    [2, run(2, [2])],
    [0, run(0, [1])],
    [4, [data(4, 0)]],
    [4, [{ index: 4, term: 1, command: { type: 'other' } as never }]],
  ];
  for (const [from, entries] of bad) {
    t.throws(() => box.s.truncateAndAppend(from, entries), { name: 'RaftStorageError' }, `from ${from}`);
  }
  beforeAndAfterReopen(box.s, reopen, (s) => {
    t.is(s.lastIndex(), 3);
    t.deepEqual(s.entry(3), data(3, 1));
  });
});

test('a snapshot over a held entry keeps the log after it; termAt answers its term at its index, nothing below', (t) => {
  const { box, reopen } = opened(t);
  box.s.truncateAndAppend(1, run(1, [1, 1, 2, 2, 3]));
  const snap: Snapshot = { index: 3, term: 2, data: { durable: true, index: 3 } };
  box.s.saveSnapshot(snap);
  beforeAndAfterReopen(box.s, reopen, (s) => {
    t.deepEqual(s.snapshot(), snap);
    t.is(s.lastIndex(), 5);
    t.deepEqual([0, 1, 2, 3, 4, 5].map((i) => s.termAt(i)), [0, undefined, undefined, 2, 2, 3]);
    t.is(s.entry(3), undefined);
    t.deepEqual(s.entries(1, 5, 1 << 20), run(4, [2, 3]), 'a range starting in the compacted prefix starts after it');
    t.deepEqual(s.entries(4, 5, 1 << 20), run(4, [2, 3]));
  });
  t.throws(() => box.s.saveSnapshot({ index: 2, term: 1, data: 'older' }), { name: 'RaftStorageError' });
  t.deepEqual(box.s.snapshot(), snap, 'an older snapshot changes nothing');
  t.is(box.s.lastIndex(), 5);
});

test('a snapshot past the log, or over an entry of another term, drops the whole log', (t) => {
  const { box, reopen } = opened(t);
  box.s.truncateAndAppend(1, run(1, [1, 1, 1, 1]));
  box.s.saveSnapshot({ index: 3, term: 2, data: 'leader' });
  t.is(box.s.lastIndex(), 3);
  t.is(box.s.termAt(4), undefined);
  box.s.saveSnapshot({ index: 10, term: 4, data: 'ahead' });
  const s = reopen();
  t.is(s.lastIndex(), 10);
  t.is(s.termAt(10), 4);
  t.is(s.termAt(4), undefined);
  s.truncateAndAppend(11, run(11, [4]));
  t.is(s.lastIndex(), 11);
  t.deepEqual(s.entries(11, 11, 1), run(11, [4]));
});

test('groups in one file are independent', (t) => {
  const { box } = opened(t, 'a');
  const b = openRaftStorage(box.dbPath, 'b');
  t.teardown(() => b.close());
  box.s.truncateAndAppend(1, run(1, [1, 1]));
  box.s.saveTerm(2, 'x');
  b.truncateAndAppend(1, run(1, [5]));
  t.is(box.s.lastIndex(), 2);
  t.is(b.lastIndex(), 1);
  t.is(b.termAt(1), 5);
  t.deepEqual(b.load(), { term: 0, votedFor: undefined });
});

/** The contract of types.ts in the plainest terms: what the SQLite storage must agree with. */
const makeModel = (): RaftStorage => {
  let meta = { term: 0, votedFor: undefined as string | undefined };
  let log: LogEntry[] = [];
  let snap: Snapshot | undefined;
  const first = () => (snap?.index ?? 0) + 1;
  const last = () => log.at(-1)?.index ?? snap?.index ?? 0;
  const find = (i: number) => log.find((e) => e.index === i);
  const termAt = (i: number) => (i === 0 ? 0 : i === snap?.index ? snap.term : find(i)?.term);
  return {
    load: () => meta,
    saveTerm(term, votedFor) {
      meta = { term, votedFor };
    },
    lastIndex: last,
    termAt,
    entry: find,
    entries(from, to, maxBytes) {
      const out: LogEntry[] = [];
      let bytes = 0;
      for (const e of log.filter((e) => e.index >= Math.max(from, first()) && e.index <= to)) {
        bytes += Buffer.byteLength(JSON.stringify(e));
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
      return out;
    },
    truncateAndAppend(from, entries) {
      log = [...log.filter((e) => e.index < from), ...entries];
    },
    snapshot: () => snap,
    saveSnapshot(s) {
      // "Holds the snapshot's entry": the log's entry, the kept snapshot's own, or index 0.
      const held = termAt(s.index) === s.term;
      log = held ? log.filter((e) => e.index > s.index) : [];
      snap = s;
    },
  };
};

type Op =
  | { op: 'term'; term: number; vote: string | undefined }
  | { op: 'append'; back: number; terms: number[] }
  | { op: 'snapshot'; ahead: number; sameTerm: boolean }
  | { op: 'reopen' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('term' as const), term: fc.nat(20), vote: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }) }),
  fc.record({ op: fc.constant('append' as const), back: fc.nat(4), terms: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 5 }) }),
  fc.record({ op: fc.constant('snapshot' as const), ahead: fc.integer({ min: -3, max: 2 }), sameTerm: fc.boolean() }),
  fc.constant({ op: 'reopen' as const }),
);

const observe = (s: RaftStorage) => {
  const last = s.lastIndex();
  const idx = Array.from({ length: last + 3 }, (_, i) => i);
  return {
    meta: s.load(),
    last,
    snapshot: s.snapshot(),
    terms: idx.map((i) => s.termAt(i)),
    entries: idx.map((i) => s.entry(i)),
    ranges: idx.map((i) => s.entries(i, last, 200)),
  };
};

test('random operation sequences with reopens: the SQLite storage answers as the model and the memory storage do', (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => {
      const { box, reopen } = opened(t);
      const model = makeModel();
      // The simulation's storage (protocols/raft/memory-storage.ts): the node is tested against it, so this one must agree.
      const memory = makeMemoryStorage();
      for (const o of ops) {
        const all = [box.s, model, memory];
        if (o.op === 'term') {
          for (const s of all) s.saveTerm(o.term, o.vote);
        } else if (o.op === 'append') {
          const from = Math.max((model.snapshot()?.index ?? 0) + 1, model.lastIndex() + 1 - o.back);
          for (const s of all) s.truncateAndAppend(from, run(from, o.terms));
        } else if (o.op === 'snapshot') {
          const index = Math.max(model.snapshot()?.index ?? 0, model.lastIndex() + o.ahead);
          const term = (o.sameTerm ? model.termAt(index) : undefined) ?? 9;
          for (const s of all) s.saveSnapshot({ index, term, data: { at: index } });
        } else {
          reopen();
        }
        const want = observe(model);
        t.deepEqual(observe(box.s), want, `sqlite after ${JSON.stringify(o)}`);
        t.deepEqual(observe(memory), want, `memory after ${JSON.stringify(o)}`);
      }
    }),
    { numRuns: 60 },
  );
});
