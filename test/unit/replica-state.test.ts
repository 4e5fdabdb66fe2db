/**
 * The replicated vat's state machine (runtime/replica/service-state.ts) on a
 * real host store: write-sets land in the rows the vat's worker reads, once per
 * index across crashes (close and reopen), bad shapes change nothing, replies
 * deduplicate and stay bounded, restore replaces everything, rows travel
 * through a sync space and back — and, as a property, applying random
 * write-set sequences twice, with restarts, or on top of a later state gives
 * the rows of applying them once.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { join } from 'node:path';
import { DEFAULT_SAGA_LIMITS } from '../../protocols/saga/limits.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';
import { MAX_REPLIES_PER_GROUP, openServiceState } from '../../runtime/replica/service-state.js';
import type { ReplicaRows, WriteSet } from '../../runtime/replica/write-set.js';
import { openSpaceStore } from '../../runtime/saga/space-store.js';
import { openHostStore, openVatStoreBackend } from '../../runtime/store.js';
import { storeHome } from './saga-fixtures.js';

const VAT = 'counter';
const GROUP = 'svc-1';

const ws = (w: Partial<WriteSet> = {}): WriteSet => ({ writes: [], objects: [], replies: [], ...w });

/** A host store (its schema made as a host makes it) and the service state of one vat in it. */
const home = (t: ExecutionContext, maxReplies?: number) => {
  const dbPath = join(storeHome(t), 'tribe.db');
  openHostStore(dbPath).close();
  const open = () => openServiceState(dbPath, { group: GROUP, vat: VAT, ...(maxReplies !== undefined ? { maxReplies } : {}) });
  const box = { s: open(), dbPath };
  t.teardown(() => box.s.close());
  const reopen = () => {
    box.s.close();
    box.s = open();
    return box.s;
  };
  return { box, reopen, open };
};

/** What the vat's worker sees of its rows (runtime/store.ts openVatStoreBackend). */
const workerView = (dbPath: string, keys: string[], ids: string[]) => {
  const b = openVatStoreBackend(dbPath, VAT);
  try {
    return { values: keys.map((k) => b.get(k)), objects: ids.map((id) => b.object(id)) };
  } finally {
    b.close();
  }
};

test('a write-set lands in the rows the vat worker reads, in one step with the applied index', (t) => {
  const { box } = home(t);
  t.is(box.s.appliedIndex(), 0);
  const r = box.s.apply(ws({ writes: [['a', '1'], ['b', '"x"']], objects: [['d:1', { kind: 'Counter', state: '{"n":1}' }]], replies: [['c1', '"ok"']] }), 1);
  t.deepEqual(r, { index: 1, replies: 1, skipped: false });
  box.s.apply(ws({ writes: [['a', null], ['b', '"y"']], objects: [['d:1', { kind: 'Counter', state: '{"n":2}' }]] }), 2);
  t.is(box.s.appliedIndex(), 2);
  t.deepEqual(workerView(box.dbPath, ['a', 'b'], ['d:1']), { values: [undefined, '"y"'], objects: [{ kind: 'Counter', state: '{"n":2}' }] });
  t.is(box.s.reply('c1'), '"ok"');
  t.is(box.s.reply('c2'), undefined);
});

test('each index applies once: again, or after a crash, it is skipped and changes nothing', (t) => {
  const { box, reopen } = home(t);
  box.s.apply(ws({ writes: [['k', '1']] }), 1);
  box.s.apply(ws({ writes: [['k', '2']] }), 2);
  t.deepEqual(box.s.apply(ws({ writes: [['k', 'stale']] }), 2), { index: 2, replies: 0, skipped: true });
  const s = reopen();
  t.is(s.appliedIndex(), 2);
  t.true((s.apply(ws({ writes: [['k', 'stale']] }), 1) as { skipped: boolean }).skipped);
  t.deepEqual(s.exportRows().store, [['k', '2']]);
});

const BAD_SHAPES: [string, unknown][] = [
  ['not an object', 'writes'],
  ['null', null],
  ['an array', [[], [], []]],
  ['a list missing', { writes: [], objects: [] }],
  ['an extra field', { writes: [], objects: [], replies: [], more: 1 }],
  ['writes not an array', { writes: {}, objects: [], replies: [] }],
  ['a write not a pair', { writes: [['a', '1', 'x']], objects: [], replies: [] }],
  ['an empty key', { writes: [['', '1']], objects: [], replies: [] }],
  ['a good write before a bad one', { writes: [['keep', 'lost'], ['a', 1]], objects: [], replies: [] }],
  ['good writes before a bad reply', { writes: [['keep', 'lost']], objects: [['d:1', { kind: 'K', state: '1' }]], replies: [['c0', 'lost'], ['c1', null]] }],
  ['a number value', { writes: [['a', 1]], objects: [], replies: [] }],
  ['an object row without state', { writes: [], objects: [['d:1', { kind: 'K' }]], replies: [] }],
  ['an object row with more', { writes: [], objects: [['d:1', { kind: 'K', state: '1', x: 1 }]], replies: [] }],
  ['an object row of another class', { writes: [], objects: [['d:1', new Map()]], replies: [] }],
  ['a reply without result', { writes: [], objects: [], replies: [['c1']] }],
  ['a reply of an object', { writes: [], objects: [], replies: [['c1', {}]] }],
];

test('a malformed write-set is ReplicaWriteSetError, changes no row, and its index counts as applied', (t) => {
  const { box } = home(t);
  box.s.apply(ws({ writes: [['keep', '1']], replies: [['c0', '0']] }), 1);
  const before = box.s.exportRows();
  let index = 1;
  for (const [what, data] of BAD_SHAPES) {
    index += 1;
    t.throws(() => box.s.apply(data, index), { name: 'ReplicaWriteSetError' }, what);
    t.is(box.s.appliedIndex(), index, what);
  }
  t.deepEqual(box.s.exportRows(), before);
});

test('a reply is recorded once: a duplicate call id keeps the first result', (t) => {
  const { box } = home(t);
  t.is((box.s.apply(ws({ replies: [['c1', '"first"'], ['c1', '"second"']] }), 1) as { replies: number }).replies, 1);
  t.is((box.s.apply(ws({ replies: [['c1', '"third"']] }), 2) as { replies: number }).replies, 0);
  t.is(box.s.reply('c1'), '"first"');
});

test('a duplicate call id moves its reply up to the latest entry that carried it, so it is dropped by that age', (t) => {
  const { box } = home(t, 2);
  box.s.apply(ws({ replies: [['c1', 'first']] }), 1);
  box.s.apply(ws({ replies: [['c2', '2']] }), 2);
  box.s.apply(ws({ replies: [['c1', 'again']] }), 3);
  box.s.apply(ws({ replies: [['c3', '4']] }), 4);
  t.deepEqual(box.s.exportRows().replies, [['c1', 'first', 3], ['c3', '4', 4]]);
});

test('replies are bounded: the oldest go first, and a retry that may have lost its reply is expired, not unknown', (t) => {
  const { box, reopen } = home(t, 5);
  for (let i = 1; i <= 4; i++) box.s.apply(ws({ replies: [[`c${i}a`, `${i}`], [`c${i}b`, `${i}`]] }), i);
  // 8 recorded, 5 kept: index 4 (2), index 3 (2), and c2b (index 2, after c2a by call id).
  const s = reopen();
  t.deepEqual(s.exportRows().replies.map(([id]) => id), ['c2b', 'c3a', 'c3b', 'c4a', 'c4b']);
  t.is(s.replyHorizon(), 2);
  t.is(s.reply('c2b', 1), '2', 'a kept reply answers whatever the caller knew');
  t.is(s.reply('c1a'), undefined, 'without what the caller knew, a dropped reply reads as unknown');
  t.throws(() => s.reply('c1a', 1), { name: 'ReplicaReplyExpiredError' });
  t.is(s.reply('new', 2), undefined, 'a call made after the horizon is unknown, not expired');
});

test('the default bound is MAX_REPLIES_PER_GROUP', (t) => {
  t.is(MAX_REPLIES_PER_GROUP, 100_000);
});

test('rows of other vats and groups are not touched', (t) => {
  const { box } = home(t);
  const other = openServiceState(box.dbPath, { group: 'svc-2', vat: 'other' });
  t.teardown(() => other.close());
  other.apply(ws({ writes: [['a', 'other']], replies: [['c1', 'other']] }), 1);
  box.s.apply(ws({ writes: [['a', 'mine']], replies: [['c1', 'mine']] }), 1);
  box.s.restore({ rows: { store: [], objects: [], replies: [] } }, 5);
  t.deepEqual(other.exportRows(), { store: [['a', 'other']], objects: [], replies: [['c1', 'other', 1]] });
  t.is(other.appliedIndex(), 1);
});

test('the snapshot is a durable marker; restoring it is a no-op where the rows are, an error where they are not', (t) => {
  const { box } = home(t);
  box.s.apply(ws({ writes: [['a', '1']] }), 3);
  const snap = box.s.snapshot();
  t.deepEqual(snap, { durable: true, index: 3 });
  box.s.apply(ws({ writes: [['a', '2']] }), 4);
  box.s.restore(snap, 3);
  t.is(box.s.appliedIndex(), 4);
  t.deepEqual(box.s.exportRows().store, [['a', '2']]);
  t.throws(() => box.s.restore({ durable: true, index: 9 }, 9), { name: 'ReplicaSnapshotError' });
  t.throws(() => box.s.restore({ rows: { store: [['a', 1]], objects: [], replies: [] } }, 9), { name: 'ReplicaSnapshotError' });
  t.throws(() => box.s.restore({ rows: { store: [], objects: [] } }, 9), { name: 'ReplicaSnapshotError' });
  t.is(box.s.appliedIndex(), 4);
});

test('restore replaces every row of the vat and sets the applied index', (t) => {
  const { box, reopen } = home(t);
  box.s.apply(ws({ writes: [['old', '1']], objects: [['d:old', { kind: 'K', state: '1' }]], replies: [['c-old', '1']] }), 7);
  const rows: ReplicaRows = {
    store: [['a', '1'], ['b', '2']],
    objects: [['d:new', { kind: 'K', state: '2' }]],
    replies: [['c-new', '"r"', 4]],
  };
  box.s.restore({ rows }, 5);
  const s = reopen();
  t.is(s.appliedIndex(), 5);
  t.deepEqual(s.exportRows(), rows);
  t.is(s.reply('c-old'), undefined);
  t.deepEqual(workerView(box.dbPath, ['old', 'a'], ['d:old', 'd:new']), { values: [undefined, '1'], objects: [undefined, { kind: 'K', state: '2' }] });
});

test('rows travel through a sync space and back, replacing what the space held', (t) => {
  const { box } = home(t);
  const spaces = openSpaceStore(box.dbPath, nodeCrypto, DEFAULT_SAGA_LIMITS);
  t.teardown(() => spaces.close());
  spaces.put('snap', 's/stale', '"x"', 'me');
  box.s.apply(ws({ writes: [['a', '{"n":1}'], ['ü/é', '"ß"']], objects: [['d:1', { kind: 'K', state: '{}' }]], replies: [['c1', '"ok"']] }), 2);
  t.is(box.s.toSpace(spaces, 'snap', 'me'), 4);
  const rows = box.s.fromSpace(spaces, 'snap');
  const byKey = <T extends readonly [string, ...unknown[]]>(xs: readonly T[]) => [...xs].sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const want = box.s.exportRows();
  t.deepEqual(byKey(rows.store), byKey(want.store));
  t.deepEqual(rows.objects, want.objects);
  t.deepEqual(rows.replies, want.replies);
  t.is(spaces.get('snap', 's/stale'), undefined);
  // Into a second replica: the same rows.
  const other = openServiceState(box.dbPath, { group: 'copy', vat: 'copy' });
  t.teardown(() => other.close());
  other.restore({ rows }, 2);
  t.deepEqual(other.exportRows(), want);
});

test('a row that does not fit a space entry is ReplicaTransferError, and the space is left as it was', (t) => {
  const { box } = home(t);
  const spaces = openSpaceStore(box.dbPath, nodeCrypto, DEFAULT_SAGA_LIMITS);
  t.teardown(() => spaces.close());
  spaces.put('snap', 's/was', '"x"', 'me');
  box.s.apply(ws({ writes: [['small', '1'], ['big', 'x'.repeat(DEFAULT_SAGA_LIMITS.maxValueBytes)]] }), 1);
  t.throws(() => box.s.toSpace(spaces, 'snap', 'me'), { name: 'ReplicaTransferError', message: /"s\/big"/ });
  box.s.apply(ws({ writes: [['big', null], ['k'.repeat(DEFAULT_SAGA_LIMITS.maxKeyBytes), '1']] }), 2);
  t.throws(() => box.s.toSpace(spaces, 'snap', 'me'), { name: 'ReplicaTransferError', message: /space key/ });
  t.deepEqual(spaces.entries('snap').map((e) => e.key), ['s/was']);
});

const writeSetArb: fc.Arbitrary<WriteSet> = fc.record({
  writes: fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.option(fc.string({ maxLength: 4 }), { nil: null })), { maxLength: 4 }),
  objects: fc.array(fc.tuple(fc.constantFrom('d:1', 'd:2'), fc.record({ kind: fc.constantFrom('K', 'L'), state: fc.string({ maxLength: 4 }) })), { maxLength: 2 }),
  replies: fc.array(fc.tuple(fc.constantFrom('c1', 'c2', 'c3', 'c4', 'c5', 'c6'), fc.string({ maxLength: 4 })), { maxLength: 2 }),
});

test('property: applying write-sets twice, with restarts and replays from earlier, or on top of a later state gives the rows of applying them once', (t) => {
  fc.assert(
    fc.property(fc.array(writeSetArb, { minLength: 1, maxLength: 12 }), fc.nat(), fc.nat(), (sets, a, b) => {
      const once = home(t, 4);
      for (const [i, w] of sets.entries()) once.box.s.apply(w, i + 1);
      const want = once.box.s.exportRows();

      // Every entry twice, a crash after entry `cut`, then the node replaying from `from`.
      const cut = a % sets.length;
      const from = b % (cut + 1);
      const twice = home(t, 4);
      for (const [i, w] of sets.entries()) {
        twice.box.s.apply(w, i + 1);
        twice.box.s.apply(w, i + 1);
        if (i === cut) {
          const s = twice.reopen();
          for (let j = from; j <= i; j++) s.apply(sets[j]!, j + 1);
        }
      }
      t.deepEqual(twice.box.s.exportRows(), want);

      // A snapshot transfer: rows read at the end, restored at an earlier index, the entries after it applied on top.
      const late = home(t, 4);
      late.box.s.restore({ rows: want }, from);
      for (let j = from; j < sets.length; j++) late.box.s.apply(sets[j]!, j + 1);
      t.deepEqual(late.box.s.exportRows(), want);
    }),
    { numRuns: 100 },
  );
});
