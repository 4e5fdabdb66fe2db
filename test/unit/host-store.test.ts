/** The host's SQLite store on a temp file: the vats table and the per-vat key-value store. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { openDatabase, openHostStore, openVatStoreBackend, SCHEMA_VERSION, type VatRow } from '../../runtime/store.js';

const tempDb = (t: ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'tribe.db');
};

/** A host store (which creates the schema) plus vat backends, all closed at teardown. */
const openAll = (t: ExecutionContext) => {
  const path = tempDb(t);
  const host = openHostStore(path);
  const opened: Array<{ close(): void }> = [host];
  t.teardown(() => {
    for (const o of opened.reverse()) o.close();
  });
  const vat = (name: string) => {
    const b = openVatStoreBackend(path, name);
    opened.push(b);
    return b;
  };
  return { path, host, vat };
};

const row = (name: string, extra: Partial<VatRow> = {}): VatRow => ({
  name,
  module: `/actors/${name}.ts`,
  params: JSON.stringify({ n: name }),
  durable: false,
  grants: [],
  timeBudgetMs: undefined,
  heapMb: undefined,
  ...extra,
});

test('the schema version is recorded on first open and kept after', (t) => {
  const path = tempDb(t);
  const a = openHostStore(path);
  t.is(a.meta.get('schema'), String(SCHEMA_VERSION));
  a.meta.set('other', 'x');
  a.close();
  const b = openHostStore(path);
  t.is(b.meta.get('schema'), String(SCHEMA_VERSION));
  t.is(b.meta.get('other'), 'x');
  t.is(b.meta.get('missing'), undefined);
  // A newer Tribe's store is refused, not opened and not downgraded.
  b.meta.set('schema', '99');
  b.close();
  t.throws(() => openHostStore(path), { name: 'StoreUnusableError', message: /written by a newer Tribe \(store schema 99;/ });
  const raw = openDatabase(path);
  t.teardown(() => raw.close());
  t.is(raw.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema'").get()?.value, '99');
});

test('vats rows round trip, including optional limits and grants', (t) => {
  const { host } = openAll(t);
  const a = row('alpha', { durable: true, grants: ['clock', 'random'], timeBudgetMs: 1234, heapMb: 64 });
  const b = row('beta');
  host.vats.save(a);
  host.vats.save(b);
  const listed = host.vats.list();
  t.deepEqual(
    listed.map((r) => r.name),
    ['alpha', 'beta'],
  );
  t.deepEqual(listed[0], a);
  t.deepEqual(listed[1], b);
  t.is(listed[1]?.timeBudgetMs, undefined);
  t.is(listed[1]?.durable, false);
});

test('saving a vat again updates it in place; remove deletes it', (t) => {
  const { host } = openAll(t);
  host.vats.save(row('a'));
  host.vats.save(row('b'));
  host.vats.save(row('a', { module: '/new.ts', params: '[1]', durable: true, heapMb: 32 }));
  const listed = host.vats.list();
  t.is(listed.length, 2);
  t.deepEqual(listed.find((r) => r.name === 'a'), row('a', { module: '/new.ts', params: '[1]', durable: true, heapMb: 32 }));
  host.vats.remove('a');
  t.deepEqual(
    host.vats.list().map((r) => r.name),
    ['b'],
  );
  host.vats.remove('nonexistent');
  t.is(host.vats.list().length, 1);
});

test('rows survive closing and reopening the file', (t) => {
  const path = tempDb(t);
  const a = openHostStore(path);
  a.vats.save(row('kept', { grants: ['clock'] }));
  a.close();
  const b = openHostStore(path);
  t.teardown(() => b.close());
  t.deepEqual(b.vats.list(), [row('kept', { grants: ['clock'] })]);
});

test('the database runs in WAL mode with full sync and a busy timeout', (t) => {
  const db = openDatabase(tempDb(t));
  t.teardown(() => db.close());
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(db.pragma('synchronous', { simple: true }), 2); // FULL
  t.is(db.pragma('busy_timeout', { simple: true }), 5000);
});

test('a vat store commit writes and deletes', (t) => {
  const { vat } = openAll(t);
  const s = vat('v');
  s.commit(new Map([
    ['a', '1'],
    ['b', '"x"'],
  ]));
  t.is(s.get('a'), '1');
  t.is(s.get('b'), '"x"');
  s.commit(new Map<string, string | undefined>([
    ['a', undefined],
    ['b', '"y"'],
  ]));
  t.is(s.get('a'), undefined);
  t.is(s.get('b'), '"y"');
  t.deepEqual(s.keys(''), ['b']);
});

/** A write set whose iteration fails after its first entry, as a crash midway through a commit would. */
class FailingWrites extends Map<string, string | undefined> {
  override *[Symbol.iterator](): MapIterator<[string, string | undefined]> {
    let n = 0;
    for (const entry of super.entries()) {
      if (n++ > 0) throw new Error('crash midway');
      yield entry;
    }
  }
  override entries() {
    return this[Symbol.iterator]();
  }
}

test('a vat store commit is atomic: one that throws midway leaves nothing written', (t) => {
  const { vat, path } = openAll(t);
  const s = vat('v');
  s.commit(new Map([['keep', '"before"']]));
  const writes = new FailingWrites([
    ['first', '1'],
    ['keep', undefined],
    ['third', '3'],
  ]);
  t.throws(() => s.commit(writes), { message: 'crash midway' });
  t.is(s.get('first'), undefined, 'the first write was rolled back');
  t.is(s.get('keep'), '"before"');
  t.deepEqual(s.keys(''), ['keep']);
  // A second connection (another worker) sees the same.
  const other = vat('v');
  t.deepEqual(other.keys(''), ['keep']);
  t.truthy(path);
  // The backend still works afterwards.
  s.commit(new Map([['after', '1']]));
  t.deepEqual(other.keys(''), ['after', 'keep']);
});

test('keys(prefix) returns exactly the keys with that prefix, in order', (t) => {
  const { vat } = openAll(t);
  const s = vat('v');
  const keys = ['a', 'a/1', 'a/2', 'a/10', 'a0', 'a\u00ff', 'ab', 'b', 'b/1', '', 'A'].filter(Boolean);
  s.commit(new Map(keys.map((k) => [k, '0'])));
  t.deepEqual(s.keys('a/'), ['a/1', 'a/10', 'a/2']);
  t.deepEqual(s.keys('a'), ['a', 'a/1', 'a/10', 'a/2', 'a0', 'ab', 'a\u00ff']);
  t.deepEqual(s.keys('b'), ['b', 'b/1']);
  t.deepEqual(s.keys('c'), []);
  t.deepEqual(s.keys(''), [...keys].sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1)));
});

test('keys(prefix) includes keys whose next character is beyond U+FFFF', (t) => {
  // The range query [prefix, prefix + U+FFFF) misses these: in SQLite's byte
  // order (UTF-8) a 4-byte character sorts after U+FFFF.
  const { vat } = openAll(t);
  const s = vat('v');
  s.commit(new Map([
    ['emoji/😀', '1'],
    ['emoji/\uffff', '2'],
    ['emoji/a', '3'],
  ]));
  t.deepEqual([...s.keys('emoji/')].sort(), ['emoji/a', 'emoji/\uffff', 'emoji/😀'].sort());
});

test('property: keys(prefix) agrees with a startsWith filter', (t) => {
  const { vat } = openAll(t);
  let n = 0;
  const unit = fc.constantFrom('a', 'b', 'z', '/', '\u00e9', '\u4e00', '\uffff', '😀', '%', '_');
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ unit, minLength: 1, maxLength: 4 }), { maxLength: 12 }), fc.string({ unit, maxLength: 2 }), (keys, prefix) => {
      const s = vat(`prop-${n++}`);
      s.commit(new Map(keys.map((k) => [k, '0'])));
      const expected = keys.filter((k) => k.startsWith(prefix)).sort();
      const actual = [...s.keys(prefix)].sort();
      s.close();
      return JSON.stringify(actual) === JSON.stringify(expected);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('two vats\' namespaces are isolated', (t) => {
  const { vat } = openAll(t);
  const a = vat('a');
  const b = vat('b');
  a.commit(new Map([['shared', '"from a"'], ['only-a', '1']]));
  b.commit(new Map([['shared', '"from b"']]));
  t.is(a.get('shared'), '"from a"');
  t.is(b.get('shared'), '"from b"');
  t.is(b.get('only-a'), undefined);
  t.deepEqual(a.keys(''), ['only-a', 'shared']);
  t.deepEqual(b.keys(''), ['shared']);
  // Deleting in one vat does not touch the other.
  b.commit(new Map([['shared', undefined]]));
  t.is(a.get('shared'), '"from a"');
  t.deepEqual(b.keys(''), []);
  // A vat whose name is a prefix of another's is still separate.
  const ab = vat('a/b');
  t.deepEqual(ab.keys(''), []);
});
