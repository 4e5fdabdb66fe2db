/** `powers.store` for durable vats, over an in-memory backend. */
import '@endo/init';
import test from 'ava';
import fc from 'fast-check';
import { Far } from '@endo/far';
import { makeTurnStore, MAX_KEY_LENGTH, MAX_VALUE_BYTES, type StoreBackend } from '../../vats/store.js';

interface Store {
  get(key: string): unknown;
  has(key: string): boolean;
  set(key: string, value: unknown): void;
  delete(key: string): void;
  keys(prefix?: string): string[];
}

/** A Map-backed backend that records every commit it receives. */
const memoryBackend = (initial: Record<string, unknown> = {}) => {
  const data = new Map<string, string>(Object.entries(initial).map(([k, v]) => [k, JSON.stringify(v)]));
  const commits: Array<Array<[string, string | undefined]>> = [];
  const backend: StoreBackend = {
    get: (key) => data.get(key),
    keys: (prefix) => [...data.keys()].filter((k) => k.startsWith(prefix)).sort(),
    object: () => undefined,
    kinds: () => [],
    idsOf: () => [],
    commit(writes) {
      commits.push([...writes]);
      for (const [k, v] of writes) {
        if (v === undefined) data.delete(k);
        else data.set(k, v);
      }
    },
  };
  return { backend, data, commits };
};

const open = (initial?: Record<string, unknown>) => {
  const mem = memoryBackend(initial);
  const turn = makeTurnStore(mem.backend);
  return { ...mem, turn, store: turn.store as Store };
};

test('reads see the turn\'s own writes before anything is committed', (t) => {
  const { store, data, turn } = open({ old: 1 });
  t.false(turn.dirty());
  t.is(store.get('old'), 1);
  t.is(store.get('missing'), undefined);
  t.false(store.has('missing'));
  store.set('k', { a: [1, 2] });
  t.true(turn.dirty());
  t.deepEqual(store.get('k'), { a: [1, 2] });
  t.true(store.has('k'));
  store.set('old', 2);
  t.is(store.get('old'), 2);
  store.delete('old');
  t.is(store.get('old'), undefined);
  t.false(store.has('old'));
  t.is(data.get('old'), '1', 'the backend is untouched until commit');
  t.false(data.has('k'));
});

test('commit hands the backend every write once, in one call, then starts clean', (t) => {
  const { store, data, commits, turn } = open({ gone: 'x' });
  store.set('a', 1);
  store.set('b', 'two');
  store.set('a', 3); // the last write of a key wins
  store.delete('gone');
  turn.commit();
  t.is(commits.length, 1);
  t.deepEqual(new Map(commits[0]), new Map<string, string | undefined>([
    ['a', '3'],
    ['b', '"two"'],
    ['gone', undefined],
  ]));
  t.false(turn.dirty());
  t.deepEqual([...data.entries()].sort(), [
    ['a', '3'],
    ['b', '"two"'],
  ]);
  turn.commit();
  t.is(commits.length, 1, 'an empty turn does not touch the backend');
  // Reads now come from the backend.
  t.is(store.get('a'), 3);
  t.false(store.has('gone'));
});

test('a failed commit keeps the writes so that nothing is silently lost', (t) => {
  const mem = memoryBackend();
  const turn = makeTurnStore({
    ...mem.backend,
    commit: () => {
      throw new Error('disk full');
    },
  });
  (turn.store as Store).set('a', 1);
  t.throws(() => turn.commit(), { message: 'disk full' });
  t.true(turn.dirty());
  t.is((turn.store as Store).get('a'), 1);
});

test('values are copied at set and get: later mutation changes nothing stored', (t) => {
  const { store } = open();
  const v = { list: [1] };
  store.set('k', v);
  v.list.push(2);
  t.deepEqual(store.get('k'), { list: [1] });
  const got = store.get('k') as { list: number[] };
  t.true(Object.isFrozen(got), 'values read are hardened');
  t.throws(() => got.list.push(3));
});

const NOT_DATA: Array<[string, unknown]> = [
  ['a function', () => 1],
  ['a Far object', Far('Thing', { m: () => 1 })],
  ['a class instance', new (class Point { x = 1 })()],
  ['a Date', new Date(0)],
  ['a Map', new Map()],
  ['a Uint8Array', new Uint8Array(2)],
  ['a promise', Promise.resolve(1)],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['undefined', undefined],
  ['a bigint', 10n],
  ['a symbol', Symbol('s')],
  ['NaN inside an array', [1, Number.NaN]],
  ['a function inside an object', { a: { b: () => 1 } }],
  ['a Far object inside an array', [{ ref: Far('Deep', {}) }]],
  ['an object with a toJSON method', { toJSON: () => 'x' }],
  ['undefined inside an object', { a: undefined }],
];

for (const [what, value] of NOT_DATA) {
  test(`set refuses ${what} with StoreValueError and writes nothing`, (t) => {
    const { store, turn } = open();
    const err = t.throws(() => store.set('k', value));
    t.is(err?.name, 'StoreValueError');
    t.false(turn.dirty());
    t.false(store.has('k'));
  });
}

test('nesting deeper than 64 is refused; 64 is fine', (t) => {
  const nest = (n: number): unknown => (n === 0 ? 1 : [nest(n - 1)]);
  const nestObjects = (n: number): unknown => (n === 0 ? 1 : { a: nestObjects(n - 1) });
  const { store } = open();
  for (const make of [nest, nestObjects]) {
    t.notThrows(() => store.set('ok', make(64)));
    // 65 is the first depth refused.
    const err = t.throws(() => store.set('deep', make(65)));
    t.is(err?.name, 'StoreValueError');
  }
  t.false(store.has('deep'));
});

test('property: any JSON value round trips through set/get, before and after commit', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const { store, turn } = open();
      store.set('k', v);
      const expected = JSON.stringify(JSON.parse(JSON.stringify(v)));
      if (JSON.stringify(store.get('k')) !== expected) return false;
      turn.commit();
      return JSON.stringify(store.get('k')) === expected;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('keys are non-empty strings of at most MAX_KEY_LENGTH characters', (t) => {
  const { store } = open();
  t.is(MAX_KEY_LENGTH, 512);
  t.notThrows(() => store.set('k'.repeat(MAX_KEY_LENGTH), 1));
  for (const bad of ['', 'k'.repeat(MAX_KEY_LENGTH + 1), 42, null, undefined, {}]) {
    for (const op of [
      () => store.set(bad as string, 1),
      () => store.get(bad as string),
      () => store.has(bad as string),
      () => store.delete(bad as string),
    ]) {
      const err = t.throws(op);
      t.is(err?.name, 'StoreValueError', `key ${JSON.stringify(bad)}`);
    }
  }
});

test('a value whose JSON is longer than MAX_VALUE_BYTES is refused', (t) => {
  const { store, turn } = open();
  t.is(MAX_VALUE_BYTES, 1 << 20);
  const fits = 'x'.repeat(MAX_VALUE_BYTES - 2); // plus two quotes
  t.notThrows(() => store.set('fits', fits));
  const err = t.throws(() => store.set('big', `${fits}x`));
  t.is(err?.name, 'StoreValueError');
  t.false(store.has('big'));
  t.true(turn.dirty());
});

test('the value limit counts bytes, not UTF-16 code units', (t) => {
  // SQLite stores the JSON text as UTF-8: 400k '€' is 1.2 MB on disk but only
  // 400k JavaScript characters. A limit named in bytes must count bytes.
  const { store } = open();
  const value = '€'.repeat(400_000);
  t.true(new TextEncoder().encode(JSON.stringify(value)).length > MAX_VALUE_BYTES);
  const err = t.throws(() => store.set('euros', value));
  t.is(err?.name, 'StoreValueError');
});

test('keys(prefix) merges backend keys with pending writes and deletions, sorted', (t) => {
  const { store, turn } = open({ 'user/1': 1, 'user/2': 2, 'user/3': 3, other: 0 });
  store.set('user/0', 0);
  store.set('user/2', 'changed'); // already in the backend: listed once
  store.delete('user/3');
  store.delete('user/9'); // never existed
  store.set('zzz', 1);
  t.deepEqual(store.keys('user/'), ['user/0', 'user/1', 'user/2']);
  t.deepEqual(store.keys(), ['other', 'user/0', 'user/1', 'user/2', 'zzz']);
  t.deepEqual(store.keys('nope'), []);
  // Deleting then re-setting in one turn lists the key.
  store.delete('user/1');
  t.deepEqual(store.keys('user/'), ['user/0', 'user/2']);
  store.set('user/1', 'back');
  t.deepEqual(store.keys('user/'), ['user/0', 'user/1', 'user/2']);
  turn.commit();
  t.deepEqual(store.keys('user/'), ['user/0', 'user/1', 'user/2']);
  t.true(Object.isFrozen(store.keys()));
});

test('property: keys(prefix) equals the keys a plain Map model holds after the same operations', (t) => {
  const key = fc.string({ unit: fc.constantFrom('a', 'b', '/'), minLength: 1, maxLength: 4 });
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
    fc.record({ kind: fc.constant('delete' as const), key }),
    fc.record({ kind: fc.constant('commit' as const) }),
  );
  fc.assert(
    fc.property(fc.dictionary(key, fc.integer()), fc.array(op, { maxLength: 30 }), fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 2 }), (initial, ops, prefix) => {
      const { store, turn } = open(initial);
      const model = new Map<string, number>(Object.entries(initial));
      for (const o of ops) {
        if (o.kind === 'set') {
          store.set(o.key, o.value);
          model.set(o.key, o.value);
        } else if (o.kind === 'delete') {
          store.delete(o.key);
          model.delete(o.key);
        } else turn.commit();
      }
      const expected = [...model.keys()].filter((k) => k.startsWith(prefix)).sort();
      if (JSON.stringify(store.keys(prefix)) !== JSON.stringify(expected)) return false;
      return [...model].every(([k, v]) => store.get(k) === v);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
