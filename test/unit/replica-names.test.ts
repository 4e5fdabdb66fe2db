/**
 * The naming service's replicated state machine (runtime/replica/names-state.ts)
 * on real SQLite: each command as the module documents it, the first publisher
 * keeping a name on every replica alike, idempotence (a command again at a new
 * index, the same index twice), malformed commands answered and counted, the
 * MAX_NAMES bound, snapshot/restore, durability of the applied index, and a
 * property: replicas fed one random sequence (with duplicates, re-applied
 * indices and reopens) agree with each other and with a plain in-memory model.
 */
import '@endo/init';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert/strict';
import { join } from 'node:path';
import { type NameRecord, type NamesAnswer, type NamesCommand, namesCommand, type NamesState, openNamesState } from '../../runtime/replica/names-state.js';
import { openHostStore } from '../../runtime/store.js';
import { storeHome } from './saga-fixtures.js';

const P1 = 'a'.repeat(52);
const P2 = 'b'.repeat(52);
const publish = (name: string, publisher = P1, ref = `ref:${name}:${publisher.slice(0, 1)}`): NamesCommand => ({ op: 'publish', name, publisher, ref });
const withdraw = (name: string, publisher = P1): NamesCommand => ({ op: 'withdraw', name, publisher });
const withdrawAll = (publisher: string, keep: string[] = []): NamesCommand => ({ op: 'withdrawAll', publisher, keep });
const lookup = (name: string): NamesCommand => ({ op: 'lookup', name });

/** A replica's store as the host has it (the host schema first, the names tables beside it), reopened as after a crash. */
const replica = (t: ExecutionContext, dir = storeHome(t), file = 'tribe.db', opts: { maxNames?: number } = {}) => {
  const dbPath = join(dir, file);
  openHostStore(dbPath).close();
  const box: { s: NamesState } = { s: openNamesState(dbPath, opts) };
  t.teardown(() => box.s.close());
  return {
    get s() {
      return box.s;
    },
    reopen() {
      box.s.close();
      box.s = openNamesState(dbPath, opts);
      return box.s;
    },
  };
};

/** Feeds `cmds` at indices from..; the answers. */
const feed = (s: NamesState, cmds: readonly unknown[], from = s.appliedIndex() + 1): NamesAnswer[] => cmds.map((c, i) => s.apply(c, from + i) as NamesAnswer);

test('publish, lookup, withdraw and withdrawAll do what the commands say', (t) => {
  const { s } = replica(t);
  t.deepEqual(feed(s, [publish('printer'), publish('scanner'), publish('fax', P2), lookup('printer'), lookup('nothing')]), [
    { ok: true },
    { ok: true },
    { ok: true },
    { ok: { name: 'printer', publisher: P1, ref: `ref:printer:a` } },
    { ok: null },
  ]);
  t.deepEqual(s.list().map((r) => r.name), ['fax', 'printer', 'scanner'], 'list is in name order');
  t.deepEqual(feed(s, [withdraw('printer', P2)]), [{ ok: false }], 'another publisher cannot withdraw it');
  t.truthy(s.list().find((r) => r.name === 'printer'));
  t.deepEqual(feed(s, [withdraw('printer'), lookup('printer')]), [{ ok: true }, { ok: null }]);
  t.deepEqual(feed(s, [publish('copier'), publish('stapler'), withdrawAll(P1, ['stapler'])]), [{ ok: true }, { ok: true }, { ok: 2 }], 'scanner and copier go, stapler is kept');
  t.deepEqual(s.list().map((r) => [r.name, r.publisher]), [['fax', P2], ['stapler', P1]], "the other publisher's names stay");
  t.is(s.appliedIndex(), 11);
});

test('the first publisher keeps a name; the second gets NameTakenError, the same on two replicas fed the same entries', (t) => {
  const a = replica(t).s;
  const b = replica(t).s;
  const entries = [publish('printer', P1, 'r1'), publish('printer', P2, 'r2'), lookup('printer'), publish('printer', P1, 'r1b')];
  const answers = feed(a, entries);
  t.deepEqual(feed(b, entries), answers);
  t.deepEqual(answers[0], { ok: true });
  const taken = answers[1] as { error: { name: string; message: string } };
  t.is(taken.error.name, 'NameTakenError');
  t.regex(taken.error.message, /^NameTakenError: the name "printer" is published by sister aaaaaaaa/);
  t.deepEqual(answers[2], { ok: { name: 'printer', publisher: P1, ref: 'r1' } }, 'the refused publish changed nothing');
  t.deepEqual(answers[3], { ok: true }, 'its holder may publish it again (a new ref)');
  t.deepEqual(a.list(), b.list());
  t.deepEqual(a.list(), [{ name: 'printer', publisher: P1, ref: 'r1b' }]);
});

test('every command again at a new index changes nothing', (t) => {
  const taken = { error: { name: 'NameTakenError', message: 'NameTakenError: the name "held" is published by sister bbbbbbbb' } };
  const cases: [NamesCommand, NamesAnswer, NamesAnswer][] = [
    [publish('printer'), { ok: true }, { ok: true }],
    [publish('printer', P1, 'another ref'), { ok: true }, { ok: true }],
    [publish('held', P1), taken, taken],
    [withdraw('printer'), { ok: true }, { ok: false }],
    [withdraw('held', P1), { ok: false }, { ok: false }],
    [withdrawAll(P1, ['keep1']), { ok: 1 }, { ok: 0 }],
    [lookup('held'), { ok: { name: 'held', publisher: P2, ref: 'ref:held:b' } }, { ok: { name: 'held', publisher: P2, ref: 'ref:held:b' } }],
  ];
  const { s } = replica(t);
  feed(s, [publish('held', P2), publish('keep1'), publish('gone1')]);
  for (const [cmd, first, again] of cases) {
    t.deepEqual(feed(s, [cmd]), [first], `${JSON.stringify(cmd)} first`);
    const after = s.list();
    t.deepEqual(feed(s, [cmd]), [again], `${JSON.stringify(cmd)} again`);
    t.deepEqual(s.list(), after, `${JSON.stringify(cmd)} again changed nothing`);
  }
  t.deepEqual(s.list().map((r) => r.name), ['held', 'keep1']);
});

test('an index applied already is a no-op: nothing changes, the applied index stays', (t) => {
  const { s } = replica(t);
  t.deepEqual(s.apply(publish('printer'), 5), { ok: true });
  const rows = s.list();
  t.deepEqual(s.apply(withdraw('printer'), 5), { ok: null }, 'the same index again');
  t.deepEqual(s.apply(publish('scanner'), 3), { ok: null }, 'an older index');
  t.deepEqual(s.list(), rows);
  t.is(s.appliedIndex(), 5);
  t.deepEqual(s.apply(withdraw('printer'), 6), { ok: true });
});

test('a malformed command is answered with NamesCommandError, changes nothing, and advances the applied index', (t) => {
  const { s } = replica(t);
  feed(s, [publish('printer')]);
  const rows = s.list();
  const long = 'x'.repeat(513);
  const bad: unknown[] = [
    null,
    'publish',
    42,
    [],
    {},
    { op: 'rename', name: 'printer' },
    { op: 'publish', name: 'bad name', publisher: P1, ref: 'r' },
    { op: 'publish', name: '.hidden', publisher: P1, ref: 'r' },
    { op: 'publish', name: 'n'.repeat(129), publisher: P1, ref: 'r' },
    { op: 'publish', name: 'scanner', publisher: '', ref: 'r' },
    { op: 'publish', name: 'scanner', publisher: long, ref: 'r' },
    { op: 'publish', name: 'scanner', publisher: P1 },
    { op: 'publish', name: 'scanner', publisher: P1, ref: 7 },
    { op: 'withdraw', name: 'printer' },
    { op: 'withdraw', name: 7, publisher: P1 },
    { op: 'withdrawAll', publisher: P1 },
    { op: 'withdrawAll', publisher: P1, keep: 'printer' },
    { op: 'withdrawAll', publisher: P1, keep: [1] },
    { op: 'withdrawAll', publisher: '', keep: [] },
    { op: 'lookup' },
    { op: 'lookup', name: ['printer'] },
  ];
  let index = s.appliedIndex();
  for (const cmd of bad) {
    index += 1;
    const answer = s.apply(cmd, index) as { error?: { name: string; message: string } };
    t.is(answer.error?.name, 'NamesCommandError', JSON.stringify(cmd));
    t.regex(answer.error?.message ?? '', /^NamesCommandError: /);
    t.is(s.appliedIndex(), index);
  }
  t.deepEqual(s.list(), rows);
});

test('namesCommand turns a front call into the command apply takes', (t) => {
  t.deepEqual(namesCommand('publish', ['n', P1, 'r']), publish('n', P1, 'r'));
  t.deepEqual(namesCommand('withdraw', ['n', P1]), withdraw('n', P1));
  t.deepEqual(namesCommand('withdrawAll', [P1, ['n']]), withdrawAll(P1, ['n']));
  t.deepEqual(namesCommand('lookup', ['n']), lookup('n'));
  const { s } = replica(t);
  t.is((s.apply(namesCommand('delete', ['n']), 1) as { error: { name: string } }).error.name, 'NamesCommandError');
});

test('maxNames bounds the names held: a new name past it gets NamesFullError, a held one may be published again', (t) => {
  const { s } = replica(t, undefined, undefined, { maxNames: 3 });
  t.deepEqual(feed(s, [publish('a1'), publish('a2'), publish('a3', P2)]), [{ ok: true }, { ok: true }, { ok: true }]);
  const [full] = feed(s, [publish('a4')]) as [{ error: { name: string; message: string } }];
  t.is(full.error.name, 'NamesFullError');
  t.regex(full.error.message, /^NamesFullError: the naming service holds 3 names, its bound/);
  t.deepEqual(feed(s, [publish('a1', P1, 'new ref')]), [{ ok: true }], 'a held name is no new row');
  t.deepEqual(s.list().map((r) => r.name), ['a1', 'a2', 'a3']);
  feed(s, [withdraw('a2')]);
  t.deepEqual(feed(s, [publish('a4')]), [{ ok: true }], 'room again after a withdraw');
});

test('a snapshot restores on another replica: the same rows, replacing all it held, and both go on alike', (t) => {
  const a = replica(t).s;
  const b = replica(t).s;
  feed(a, [publish('printer'), publish('scanner', P2), publish('fax'), withdraw('fax')]);
  feed(b, [publish('mine', P2), publish('printer', P2), publish('other')]);
  // A snapshot travels as JSON.
  const snap = JSON.parse(JSON.stringify(a.snapshot())) as unknown;
  b.restore(snap, a.appliedIndex());
  t.deepEqual(b.list(), a.list());
  t.is(b.appliedIndex(), a.appliedIndex());
  const next = [publish('printer', P2), publish('mine', P2), withdrawAll(P1), lookup('scanner')];
  t.deepEqual(feed(b, next), feed(a, next));
  t.deepEqual(b.list(), a.list());
  b.restore({ names: [] }, 20);
  t.deepEqual(b.list(), [], 'an empty snapshot leaves nothing');
  t.is(b.appliedIndex(), 20);
});

test('restore refuses a snapshot that is not { names: [{ name, publisher, ref }] } and changes nothing', (t) => {
  const { s } = replica(t);
  feed(s, [publish('printer'), publish('scanner')]);
  const rows = s.list();
  const row = { name: 'x', publisher: P1, ref: 'r' };
  for (const bad of [null, 7, 'names', {}, { names: 'x' }, { names: {} }, { names: [null] }, { names: [row, { ...row, ref: undefined }] }, { names: [{ ...row, name: '' }] }, { names: [{ ...row, publisher: 'p'.repeat(513) }] }, { names: [{ ...row, ref: 1 }] }, { names: [{ ...row, name: 'a name with spaces' }] }, { names: [{ ...row, name: '../x' }] }]) {
    t.throws(() => s.restore(bad, 9), { name: 'ReplicaSnapshotError', message: /^ReplicaSnapshotError: a names snapshot is/ }, JSON.stringify(bad));
  }
  t.deepEqual(s.list(), rows);
  t.is(s.appliedIndex(), 2);
});

test('the applied index and the rows are durable across close and reopen, a restore included', (t) => {
  const r = replica(t);
  feed(r.s, [publish('printer'), publish('scanner', P2), withdraw('printer')]);
  const rows = r.s.list();
  t.is(r.reopen().appliedIndex(), 3);
  t.deepEqual(r.s.list(), rows);
  t.deepEqual(r.s.apply(publish('again'), 3), { ok: null }, 'the reopened replica does not apply its last index again');
  r.s.restore({ names: [{ name: 'fax', publisher: P1, ref: 'r' }] }, 40);
  t.is(r.reopen().appliedIndex(), 40);
  t.deepEqual(r.s.list(), [{ name: 'fax', publisher: P1, ref: 'r' }]);
  const fresh = openNamesState(join(storeHome(t), 'fresh.db'));
  t.is(fresh.appliedIndex(), 0, 'a fresh store has applied nothing');
  fresh.close();
});

// The model: the documented semantics in a Map.
type Model = { rows: Map<string, { publisher: string; ref: string }>; applied: number };
const modelApply = (m: Model, c: NamesCommand, index: number, max: number): NamesAnswer => {
  if (index <= m.applied) return { ok: null };
  m.applied = index;
  const had = 'name' in c ? m.rows.get(c.name) : undefined;
  switch (c.op) {
    case 'lookup':
      return { ok: had ? { name: c.name, ...had } : null };
    case 'publish':
      if (had && had.publisher !== c.publisher) return { error: { name: 'NameTakenError', message: `NameTakenError: the name "${c.name}" is published by sister ${had.publisher.slice(0, 8)}` } };
      if (!had && m.rows.size >= max) return { error: { name: 'NamesFullError', message: `NamesFullError: the naming service holds ${max} names, its bound` } };
      m.rows.set(c.name, { publisher: c.publisher, ref: c.ref });
      return { ok: true };
    case 'withdraw':
      if (had?.publisher === c.publisher) m.rows.delete(c.name);
      return { ok: had?.publisher === c.publisher };
    case 'withdrawAll': {
      let n = 0;
      for (const [name, r] of [...m.rows]) {
        if (r.publisher === c.publisher && !c.keep.includes(name)) {
          m.rows.delete(name);
          n += 1;
        }
      }
      return { ok: n };
    }
  }
};
const modelRows = (m: Model): NameRecord[] => [...m.rows].map(([name, r]) => ({ name, ...r })).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));

const NAMES = ['n1', 'n2', 'n3', 'n4'];
const PUBLISHERS = [P1, P2];
const command = fc.oneof(
  fc.record({ op: fc.constant('publish' as const), name: fc.constantFrom(...NAMES), publisher: fc.constantFrom(...PUBLISHERS), ref: fc.constantFrom('r1', 'r2') }),
  fc.record({ op: fc.constant('withdraw' as const), name: fc.constantFrom(...NAMES), publisher: fc.constantFrom(...PUBLISHERS) }),
  fc.record({ op: fc.constant('withdrawAll' as const), publisher: fc.constantFrom(...PUBLISHERS), keep: fc.subarray(NAMES) }),
  fc.record({ op: fc.constant('lookup' as const), name: fc.constantFrom(...NAMES) }),
);
/** A step: a command, at the next index or one applied already (0-3 back), maybe the same command as the last (a retry), maybe a crash after. */
const step = fc.record({ cmd: command, back: fc.constantFrom(0, 0, 0, 1, 3), retry: fc.boolean(), reopen: fc.constantFrom(false, false, false, false, true) });

test('property: replicas fed one sequence (duplicates, re-applied indices, reopens) agree with each other and with the model', (t) => {
  const dir = storeHome(t);
  let run = 0;
  const MAX = 3;
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      run += 1;
      const a = replica(t, dir, `a${run}.db`, { maxNames: MAX });
      const b = replica(t, dir, `b${run}.db`, { maxNames: MAX });
      const model: Model = { rows: new Map(), applied: 0 };
      let next = 1;
      let last: NamesCommand | undefined;
      for (const st of steps) {
        const cmd = st.retry && last ? last : st.cmd;
        const index = st.back > 0 ? Math.max(1, next - st.back) : next++;
        const want = modelApply(model, cmd, index, MAX);
        deepStrictEqual(a.s.apply(cmd, index), want);
        deepStrictEqual(b.s.apply(cmd, index), want);
        last = cmd;
        if (st.reopen) a.reopen();
      }
      deepStrictEqual(a.s.list(), modelRows(model));
      deepStrictEqual(b.s.list(), a.s.list());
      deepStrictEqual([a.s.appliedIndex(), b.s.appliedIndex()], [model.applied, model.applied]);
      a.s.close();
      b.s.close();
    }),
    { numRuns: 60 },
  );
  t.pass();
});
