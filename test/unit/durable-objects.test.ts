/**
 * Durable kinds (vats/durable.ts) and stored references (vats/store.ts) over an
 * in-memory backend that keeps rows as SQLite would: each "restart" makes a new
 * vat-objects table over the same committed rows, as a new worker does.
 */
import '@endo/init';
import test from 'ava';
import fc from 'fast-check';
import { E, Far } from '@endo/far';
import { makeVatObjects, ROOT_KIND } from '../../vats/durable.js';
import { decodeValue, encodeValue, makeTurnStore, type ObjectRow, type RefCodec, type StoreBackend } from '../../vats/store.js';
import type { DurableTerms } from '../../capabilities/gift-notes.js';

const memoryBackend = () => {
  const values = new Map<string, string>();
  const objects = new Map<string, ObjectRow>();
  const backend: StoreBackend = {
    get: (key) => values.get(key),
    keys: (prefix) => [...values.keys()].filter((k) => k.startsWith(prefix)).sort(),
    object: (id) => objects.get(id),
    kinds() {
      const counts = new Map<string, number>();
      for (const row of objects.values()) counts.set(row.kind, (counts.get(row.kind) ?? 0) + 1);
      return [...counts].map(([kind, count]) => ({ kind, count }));
    },
    idsOf: (kind, limit) => [...objects].filter(([, r]) => r.kind === kind).slice(0, limit).map(([id]) => id),
    commit(writes, rows = new Map()) {
      for (const [k, v] of writes) {
        if (v === undefined) values.delete(k);
        else values.set(k, v);
      }
      for (const [id, row] of rows) objects.set(id, row);
    },
  };
  return { backend, values, objects };
};

let keys = 0;
/** One start of a vat over `backend`: its objects, its store, and its commit. */
const start = (backend: StoreBackend, foreign: Foreign = noForeign) => {
  const objects = makeVatObjects({
    backend,
    newKey: (prefix) => `${prefix}${(++keys).toString(32).padStart(26, 'a').replace(/[0189]/g, 'z')}`,
    foreign,
  });
  const turn = makeTurnStore(backend, objects);
  return { objects, store: turn.store, commit: turn.commit };
};
interface Foreign {
  termsOf(v: unknown): DurableTerms | undefined;
  fromTerms(t: DurableTerms): unknown;
}
const noForeign: Foreign = {
  termsOf: () => undefined,
  fromTerms: () => {
    throw new Error('no foreign objects here');
  },
};

const defineCounter = (store: ReturnType<typeof start>['store']) =>
  store.defineKind('Counter', (start: number = 0) => ({ count: start, friends: [] as unknown[] }), {
    increment({ state }, by: number = 1) {
      state.count += by;
      return state.count;
    },
    read: ({ state }) => state.count,
    befriend({ state, self }, other: unknown) {
      state.friends = [...state.friends, other];
      return self;
    },
    friends: ({ state }) => state.friends,
  });

test('an instance keeps its state and identity across a restart; its methods work locally and by E()', async (t) => {
  const { backend, objects: rows } = memoryBackend();
  const one = start(backend);
  const makeCounter = defineCounter(one.store);
  const c = makeCounter(5);
  t.is(c.increment(), 6);
  t.is(await E(c).increment(2), 8);
  one.store.set('c', c);
  t.true(one.objects.dirty());
  one.commit();
  t.is(rows.size, 1, 'one row per instance');
  const [key, row] = [...rows][0]!;
  t.regex(key!, /^d:[a-z2-7]{26}$/);
  t.is(row!.kind, 'Counter');

  const two = start(backend);
  defineCounter(two.store);
  const again = two.store.get<any>('c');
  t.is(again.read(), 8);
  t.is(two.store.get('c'), again, 'the same object for every read while it is held');
  t.is(two.objects.revive(key!), again, 'and for a peer that revives it by key');
  t.is(two.objects.keyOf(again), key);
});

test('state holds references to durable objects; uncommitted changes are lost with the turn, committed ones are not', (t) => {
  const { backend } = memoryBackend();
  const one = start(backend);
  const makeCounter = defineCounter(one.store);
  const a = makeCounter(1);
  const b = makeCounter(2);
  a.befriend(b);
  one.store.set('a', a);
  one.commit();
  a.increment(100); // never committed: the "crash" comes first

  const two = start(backend);
  defineCounter(two.store);
  const a2 = two.store.get<any>('a');
  t.is(a2.read(), 1, 'the uncommitted increment is gone');
  const [b2] = a2.friends();
  t.is(b2.read(), 2, 'the reference in its state reaches the other object');
});

test('a start whose code does not define a kind with stored objects fails by name, naming the kind', (t) => {
  const { backend } = memoryBackend();
  const one = start(backend);
  defineCounter(one.store)(0);
  one.commit();
  const two = start(backend);
  t.throws(() => two.objects.checkKinds(), { name: 'DurableKindError', message: /"Counter" \(1 stored\)/ });
  defineCounter(two.store);
  t.notThrows(() => two.objects.checkKinds());
  t.throws(() => defineCounter(two.store), { name: 'DurableKindError', message: /already defined/ });
});

test('unknown and malformed keys are refused by name; a root key serves the current root', (t) => {
  const { backend, objects: rows } = memoryBackend();
  const one = start(backend);
  const root = Far('Root', {});
  one.objects.adoptRoot(root);
  one.commit();
  const [rootKey, row] = [...rows][0]!;
  t.is(row!.kind, ROOT_KIND);
  t.regex(rootKey!, /^r:/);
  t.is(one.objects.revive(rootKey!), root);
  t.throws(() => one.objects.revive('d:aaaaaaaaaaaaaaaaaaaaaaaaaa'), { name: 'DurableObjectNotFoundError' });
  t.throws(() => one.objects.revive(rootKey!.replace('r:', 'd:')), { name: 'DurableObjectNotFoundError' });
  // The next start's root answers to the same key.
  const two = start(backend);
  const root2 = Far('Root', {});
  two.objects.adoptRoot(root2);
  t.is(two.objects.keyOf(root2), rootKey);
  t.is(two.objects.revive(rootKey!), root2);
});

test('state refuses what the store refuses, with the field named; its values are frozen; it cannot be sent', (t) => {
  const { backend } = memoryBackend();
  const one = start(backend);
  const makeBox = one.store.defineKind('Box', () => ({ items: [] as number[] }), {
    put({ state }, v: unknown) {
      (state as any).items = v;
    },
    push({ state }, v: number) {
      state.items.push(v);
    },
    leak: ({ state }) => state,
  });
  const box = makeBox();
  t.throws(() => box.put(Far('NotDurable', {})), { name: 'StoreValueError', message: /Box\.state\.items.*not durable|only durable objects/ });
  t.throws(() => box.put(new Map()), { name: 'StoreValueError', message: /Box\.state\.items is a Map/ });
  box.put([1, 2]);
  t.throws(() => box.push(3), { instanceOf: TypeError }, 'a stored array is frozen: assign a new one');
  t.throws(() => harden(box.leak()), { message: /cannot be frozen or sent/ });
});

test('a method called without its object says how to call it', (t) => {
  const one = start(memoryBackend().backend);
  const c = defineCounter(one.store)(0);
  const { increment } = c;
  t.throws(() => increment(), { instanceOf: TypeError, message: /call it as obj\.increment/ });
});

test('stored values: plain JSON stays as it was written; values with references are escaped so no string is misread', (t) => {
  const refs = new Map<string, object>();
  const texts = new Map<object, string>();
  const codec: RefCodec = {
    toText: (ref) => texts.get(ref) ?? { error: 'not durable' },
    fromText: (text) => refs.get(text)!,
  };
  const durable = Far('D', {});
  refs.set('d:x', durable);
  texts.set(durable, 'd:x');
  t.is(encodeValue({ a: 1, s: '$d:x' }, 'k', codec), '{"a":1,"s":"$d:x"}', 'no references: plain JSON');
  t.deepEqual(decodeValue('{"a":1,"s":"$d:x"}', codec), { a: 1, s: '$d:x' }, 'and it reads back as written');
  const text = encodeValue({ r: durable, s: '$d:x', bang: '!x', list: [durable, '$', '!'] }, 'k', codec);
  t.is(text[0], '#');
  const back = decodeValue(text, codec) as any;
  t.is(back.r, durable);
  t.is(back.s, '$d:x');
  t.is(back.bang, '!x');
  t.deepEqual(back.list, [durable, '$', '!']);
  t.true(Object.isFrozen(back));
});

test('property: any JSON value with references round-trips through the store encoding', (t) => {
  const objs = Array.from({ length: 3 }, (_, i) => Far(`D${i}`, {}));
  const codec: RefCodec = {
    toText: (ref) => `d:${objs.indexOf(ref as never)}`,
    fromText: (text) => objs[Number(text.slice(2))],
  };
  const leaf = fc.oneof(fc.string(), fc.constantFrom('$', '!', '$d:0', '!!x', '#', '__proto__'), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom(...objs));
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__')), tie('v'), { maxKeys: 4 })),
  })).v;
  fc.assert(
    fc.property(value, (v) => {
      t.deepEqual(decodeValue(encodeValue(v, 'k', codec), codec), v);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a stored reference to another party\'s durable object goes by its terms, and comes back through them', (t) => {
  const theirs = Far('Presence', {});
  const terms: DurableTerms = { owner: `${'a'.repeat(52)}/bob`, key: `d:${'b'.repeat(26)}`, hints: ['127.0.0.1:4000'] };
  const seen: DurableTerms[] = [];
  const foreign = {
    termsOf: (v: unknown) => (v === theirs ? terms : undefined),
    fromTerms: (t2: DurableTerms) => {
      seen.push(t2);
      return theirs;
    },
  };
  const { backend, values } = memoryBackend();
  const one = start(backend, foreign);
  one.store.set('x', { who: theirs });
  one.commit();
  t.is(values.get('x'), `#{"who":"$${terms.owner} ${terms.key} 127.0.0.1:4000"}`);
  const two = start(backend, foreign);
  t.is(two.store.get<any>('x').who, theirs);
  t.deepEqual(seen, [terms]);
});
