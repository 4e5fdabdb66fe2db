/**
 * The saga's pure parts (protocols/saga/codec.ts, space.ts): every turn kind
 * round-trips through seal → open; any single flipped byte of a sealed turn is
 * refused; each shape check rejects with SagaMalformedError (a table, each row
 * signed properly so only its shape is wrong); the last-writer-wins order is a
 * strict total order that the SQLite store's merge follows; the summary tree
 * the store keeps is the one the pure functions compute.
 */
import { deepStrictEqual, strictEqual } from 'node:assert';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import {
  type Expect,
  openTurn,
  parseTurn,
  SPACE_PATTERN,
  sealTurn,
  TURN_VERSION,
  type Turn,
  type TurnKind,
  type WireEntry,
} from '../../protocols/saga/codec.js';
import { DEFAULT_SAGA_LIMITS, FINE_BITS, FINE_BUCKETS, type SagaLimits, SHORT_DIGEST_CHARS } from '../../protocols/saga/limits.js';
import { bucketDigest, bucketOfKey, coarseDigests, type DigestedEntry, digestEntry, emptyFine, type FineDigests, fromHex, rootOf, type SyncEntry, toHex, wins } from '../../protocols/saga/space.js';
import { vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto as crypto } from '../../runtime/crypto-node.js';
import { openSpaceStore } from '../../runtime/saga/space-store.js';
import { storeHome } from './saga-fixtures.js';

const utf8 = new TextEncoder();
const keyOf = (name: string) => crypto.ed25519FromSeed(crypto.sha256(utf8.encode(`saga codec ${name}`)));
const alice = keyOf('alice');
const mallory = keyOf('mallory');
const ALICE = vatIdOf(crypto, alice.publicKey);
const BOB = vatIdOf(crypto, keyOf('bob').publicKey);
/** Small limits, so the size rows stay small; every generated turn fits them. */
const LIMITS: SagaLimits = { ...DEFAULT_SAGA_LIMITS, maxKeyBytes: 64, maxValueBytes: 256, maxTurnBytes: 16 * 1024 };

// --- arbitraries ---

const ofChars = (chars: string, minLength: number, maxLength = minLength) => fc.string({ unit: fc.constantFrom(...chars), minLength, maxLength });
const hex = (n: number) => ofChars('0123456789abcdef', n);
const vatId = ofChars('abcdefghijklmnopqrstuvwxyz234567', 52);
const space = fc.tuple(ofChars('abcdefghijklmnopqrstuvwxyz', 1), ofChars('abcdefghijklmnopqrstuvwxyz0123456789._:-', 0, 63)).map(([a, b]) => a + b);
/** Any code points (astral, controls, quotes: what JSON escapes), never a lone surrogate. */
const text = (maxLength: number, minLength = 0) => fc.string({ unit: 'binary', minLength, maxLength });
const count = fc.maxSafeNat();
const head = fc.oneof(fc.constant(''), hex(64));
const wireEntry: fc.Arbitrary<WireEntry> = fc.tuple(text(16, 1), text(60), count, text(32, 1), fc.constantFrom(0 as const, 1 as const));

const bodies: { [K in TurnKind]: fc.Arbitrary<Turn<K>['b']> } = {
  init: fc
    .integer({ min: 0, max: 5 })
    .chain((bits) => fc.record({ root: hex(64), count, bits: fc.constant(bits), buckets: fc.array(hex(SHORT_DIGEST_CHARS), { minLength: 1 << bits, maxLength: 1 << bits }), head })),
  ack: fc.record({
    root: hex(64),
    count,
    head,
    synced: fc.boolean(),
    want: fc
      .uniqueArray(fc.integer({ min: 0, max: FINE_BUCKETS - 1 }), { maxLength: 6 })
      .chain((cs) =>
        fc.tuple(...cs.sort((x, y) => x - y).map((c) => fc.tuple(fc.constant(c), fc.option(fc.array(fc.tuple(text(16), hex(SHORT_DIGEST_CHARS)), { maxLength: 4 }))))),
      ),
  }),
  delta: fc.record({ total: count, entries: fc.array(wireEntry, { maxLength: 6 }) }),
  commit: fc.record({ chunks: count, entries: count }),
  committed: fc.record({ root: hex(64), count, applied: count }),
  abort: fc.record({ reason: text(200) }),
};

const KINDS = Object.keys(bodies) as TurnKind[];
const turnOf = <K extends TurnKind>(k: K): fc.Arbitrary<Turn<K>> =>
  fc.record({ saga: hex(32), seq: count, from: vatId, to: vatId, space, prev: head, at: count, b: bodies[k] as fc.Arbitrary<Turn<K>['b']> }).map((h) => ({ v: TURN_VERSION, k, ...h }));
const anyTurn = fc.constantFrom(...KINDS).chain((k) => turnOf(k) as fc.Arbitrary<Turn>);

/** What a receiver expecting exactly `turn` next would pass to openTurn. */
const expecting = (turn: Turn, key: Uint8Array = alice.publicKey): Expect => ({ key, from: turn.from, to: turn.to, saga: turn.saga, space: turn.space, seq: turn.seq, prev: turn.prev, kinds: [turn.k] });

const nameOf = (f: () => unknown): string => {
  try {
    f();
    return 'opened';
  } catch (err) {
    return (err as Error).name;
  }
};

// --- turns ---

test('property: every kind of turn round-trips seal → open, with the hash of its bytes', (t) => {
  fc.assert(
    fc.property(anyTurn, (turn) => {
      const sealed = sealTurn(crypto, alice, turn);
      const opened = openTurn(crypto, sealed.bytes, expecting(turn), LIMITS);
      // What was sent is the JSON of `turn` (fast-check builds some records without a prototype).
      const sent = JSON.parse(JSON.stringify(turn));
      deepStrictEqual(opened.turn, sent);
      strictEqual(opened.hash, sealed.hash);
      strictEqual(opened.hash, toHex(crypto.sha256(sealed.bytes)));
      // As an Init is opened: no saga expected yet, only "never seen".
      if (turn.k === 'init') deepStrictEqual(openTurn(crypto, sealed.bytes, { ...expecting(turn), saga: undefined, prev: undefined, seen: () => false }, LIMITS).turn, sent);
    }),
    { numRuns: 200, seed: 0x5a6a },
  );
  t.pass();
});

test('property: a sealed turn with any one byte changed never opens (SagaSignatureError or SagaMalformedError)', (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(anyTurn, fc.nat(), fc.integer({ min: 1, max: 255 }), (turn, at, xor) => {
      const bytes = sealTurn(crypto, alice, turn).bytes.slice();
      const i = at % bytes.length;
      bytes[i]! ^= xor;
      const name = nameOf(() => openTurn(crypto, bytes, expecting(turn), LIMITS));
      seen.add(name);
      return name === 'SagaSignatureError' || name === 'SagaMalformedError';
    }),
    { numRuns: 300, seed: 0xf11b },
  );
  // Both ways of failing were reached (a flip in the signature, one that breaks the JSON).
  t.deepEqual([...seen].sort(), ['SagaMalformedError', 'SagaSignatureError']);
});

test('a turn is checked against the key known for its sender, and then against its place', (t) => {
  const turn = { v: TURN_VERSION, k: 'delta', saga: 'a'.repeat(32), seq: 3, from: ALICE, to: BOB, space: 'notes', prev: 'b'.repeat(64), at: 1, b: { total: 1, entries: [['k', 'v', 1, 'o', 0]] } } as Turn<'delta'>;
  const good = sealTurn(crypto, alice, turn).bytes;
  const forged = sealTurn(crypto, mallory, turn).bytes;
  const open = (bytes: Uint8Array, e: Partial<Expect> = {}) => nameOf(() => openTurn(crypto, bytes, { ...expecting(turn), ...e }, LIMITS));
  t.is(open(good), 'opened');
  t.is(open(forged), 'SagaSignatureError', 'signed by another key, claiming to be from alice');
  t.is(open(good, { key: mallory.publicKey }), 'SagaSignatureError', 'the key this side knows decides, not the turn');
  t.is(open(good, { from: BOB }), 'SagaOrderError');
  t.is(open(good, { to: ALICE }), 'SagaOrderError');
  t.is(open(good, { saga: 'c'.repeat(32) }), 'SagaOrderError');
  t.is(open(good, { seq: 4 }), 'SagaReplayError', 'a turn before the one expected was seen');
  t.is(open(good, { seq: 2 }), 'SagaOrderError', 'a turn after the one expected skips one');
  t.is(open(good, { prev: 'c'.repeat(64) }), 'SagaOrderError');
  t.is(open(good, { space: 'other' }), 'SagaOrderError');
  t.is(open(good, { kinds: ['commit'] }), 'SagaOrderError');
  t.is(open(good, { saga: undefined, prev: undefined, seen: () => true }), 'SagaReplayError', 'an Init of a saga id used before');
});

// --- the malformed table ---

type Row = readonly [what: string, bytes: Uint8Array];

const CONTEXT = utf8.encode('tribe saga turn v1\n');
/** A turn's wire form from its JSON text, properly signed (so only the shape can be wrong). */
const signedJson = (json: Uint8Array | string): Uint8Array => {
  const body = typeof json === 'string' ? utf8.encode(json) : json;
  const message = new Uint8Array(CONTEXT.length + body.length);
  message.set(CONTEXT);
  message.set(body, CONTEXT.length);
  const out = new Uint8Array(64 + body.length);
  out.set(alice.sign(message));
  out.set(body, 64);
  return out;
};

const BASE: Record<TurnKind, Turn> = {
  init: { v: 1, k: 'init', saga: 'a'.repeat(32), seq: 0, from: ALICE, to: BOB, space: 'notes', prev: '', at: 5, b: { root: 'c'.repeat(64), count: 3, bits: 1, buckets: ['0'.repeat(16), '1'.repeat(16)], head: '' } },
  ack: { v: 1, k: 'ack', saga: 'a'.repeat(32), seq: 1, from: BOB, to: ALICE, space: 'notes', prev: 'd'.repeat(64), at: 5, b: { root: 'c'.repeat(64), count: 3, head: '', synced: false, want: [[0, null], [7, [['k', 'e'.repeat(16)]]]] } },
  delta: { v: 1, k: 'delta', saga: 'a'.repeat(32), seq: 2, from: ALICE, to: BOB, space: 'notes', prev: 'd'.repeat(64), at: 5, b: { total: 2, entries: [['k', 'v', 7, 'o', 0], ['j', '', 8, 'o', 1]] } },
  commit: { v: 1, k: 'commit', saga: 'a'.repeat(32), seq: 3, from: ALICE, to: BOB, space: 'notes', prev: 'd'.repeat(64), at: 5, b: { chunks: 1, entries: 2 } },
  committed: { v: 1, k: 'committed', saga: 'a'.repeat(32), seq: 4, from: BOB, to: ALICE, space: 'notes', prev: 'd'.repeat(64), at: 5, b: { root: 'c'.repeat(64), count: 3, applied: 2 } },
  abort: { v: 1, k: 'abort', saga: 'a'.repeat(32), seq: 4, from: ALICE, to: BOB, space: 'notes', prev: 'd'.repeat(64), at: 5, b: { reason: 'stop' } },
};

/** BASE[k] with `change` applied to a copy of its JSON object. */
const mutated = (k: TurnKind, change: (o: any) => void): Uint8Array => {
  const o = structuredClone(BASE[k]) as any;
  change(o);
  return signedJson(JSON.stringify(o));
};
const header = (field: string, values: unknown[]): Row[] =>
  values.map((v) => [
    `header ${field} = ${JSON.stringify(v)?.slice(0, 40)}`,
    mutated('delta', (o) => {
      if (v === undefined) delete o[field];
      else o[field] = v;
    }),
  ]);
const body = (k: TurnKind, what: string, change: (b: any) => void): Row => [`${k}: ${what}`, mutated(k, (o) => change(o.b))];
const entry = (what: string, e: unknown): Row => body('delta', what, (b) => (b.entries[1] = e));

/** A valid Delta of exactly `n` bytes on the wire: an extra header field pads it (`,"pad":"…"` at the end of the object). */
const deltaOfBytes = (n: number): Uint8Array => {
  const base = mutated('delta', () => {});
  return mutated('delta', (o) => {
    o.pad = 'x'.repeat(n - base.length - ',"pad":""'.length);
  });
};

const ROWS: Row[] = [
  ['not bytes', 'a string' as unknown as Uint8Array],
  ['shorter than a signature', new Uint8Array(10)],
  ['a signature and one byte', signedJson('1').subarray(0, 65)],
  ['not JSON', signedJson('{"v":1,')],
  ['not UTF-8', signedJson(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))],
  ['an overlong UTF-8 form', signedJson(Uint8Array.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]))],
  ['a JSON array', signedJson('[1,2]')],
  ['JSON null', signedJson('null')],
  ['a JSON string', signedJson('"turn"')],
  ['over maxTurnBytes', deltaOfBytes(LIMITS.maxTurnBytes + 1)],
  ...header('v', [2, 0, '1', undefined]),
  ...header('k', ['bogus', 'Delta', undefined]),
  ...header('saga', ['a'.repeat(31), 'a'.repeat(33), 'A'.repeat(32), 'g'.repeat(32), 7]),
  ...header('seq', [-1, 1.5, '2', 2 ** 53, undefined]),
  ...header('from', ['alice', ALICE.toUpperCase(), `${ALICE}a`, 1]),
  ...header('to', ['', BOB.slice(1)]),
  ...header('space', ['Notes', '', '1notes', `n${'x'.repeat(64)}`, 'no tes', 3]),
  ...header('prev', ['d'.repeat(63), 'D'.repeat(64), 'z'.repeat(64), null]),
  ...header('at', [-1, 0.5, '5', undefined]),
  ...header('b', [null, [], 'body', undefined]),
  body('init', 'root not a hash', (b) => (b.root = 'c'.repeat(63))),
  body('init', 'count negative', (b) => (b.count = -1)),
  body('init', 'head not a hash', (b) => (b.head = 'x')),
  body('init', `bits ${FINE_BITS + 1}`, (b) => (b.bits = FINE_BITS + 1)),
  body('init', 'bits negative', (b) => (b.bits = -1)),
  body('init', 'bits fractional', (b) => (b.bits = 0.5)),
  body('init', 'one bucket short', (b) => b.buckets.pop()),
  body('init', 'one bucket too many', (b) => b.buckets.push('2'.repeat(16))),
  body('init', 'buckets not a list', (b) => (b.buckets = '0'.repeat(32))),
  body('init', 'a bucket digest one character short', (b) => (b.buckets[1] = '1'.repeat(15))),
  body('init', 'a bucket digest in upper case', (b) => (b.buckets[1] = 'A'.repeat(16))),
  body('ack', 'synced not a boolean', (b) => (b.synced = 'yes')),
  body('ack', 'root not a hash', (b) => (b.root = 7)),
  body('ack', 'want not a list', (b) => (b.want = {})),
  body('ack', 'wanted buckets not ascending', (b) => (b.want = [[7, null], [0, null]])),
  body('ack', 'a bucket wanted twice', (b) => (b.want = [[7, null], [7, null]])),
  body('ack', 'a bucket past the fine ones', (b) => (b.want = [[FINE_BUCKETS, null]])),
  body('ack', 'a negative bucket', (b) => (b.want = [[-1, null]])),
  body('ack', 'a want of three fields', (b) => (b.want = [[0, null, 1]])),
  body('ack', 'a listing not a list', (b) => (b.want = [[0, 'k']])),
  body('ack', 'a listed digest too short', (b) => (b.want = [[0, [['k', 'e'.repeat(15)]]]])),
  body('ack', 'a listed key not a string', (b) => (b.want = [[0, [[1, 'e'.repeat(16)]]]])),
  body('delta', 'total negative', (b) => (b.total = -1)),
  body('delta', 'entries not a list', (b) => (b.entries = {})),
  entry('an entry of four fields', ['k', 'v', 1, 'o']),
  entry('an entry as an object', { key: 'k', value: 'v', clock: 1, origin: 'o', deleted: 0 }),
  entry('an empty key', ['', 'v', 1, 'o', 0]),
  entry('a key past maxKeyBytes (counted in UTF-8 bytes)', ['é'.repeat(LIMITS.maxKeyBytes / 2 + 1), 'v', 1, 'o', 0]),
  entry('a key not a string', [1, 'v', 1, 'o', 0]),
  entry('a value not a string', ['k', 1, 1, 'o', 0]),
  entry('a value past maxValueBytes as JSON (escapes counted)', ['k', '"'.repeat(LIMITS.maxValueBytes / 2), 1, 'o', 0]),
  entry('a negative clock', ['k', 'v', -1, 'o', 0]),
  entry('a fractional clock', ['k', 'v', 1.5, 'o', 0]),
  entry('an empty origin', ['k', 'v', 1, '', 0]),
  entry('an origin of 129 characters', ['k', 'v', 1, 'o'.repeat(129), 0]),
  entry('deleted true (not 0 or 1)', ['k', 'v', 1, 'o', true]),
  entry('deleted 2', ['k', 'v', 1, 'o', 2]),
  entry('a lone high surrogate in the key', ['k\ud800', 'v', 1, 'o', 0]),
  entry('a lone low surrogate in the value', ['k', '\udc00v', 1, 'o', 0]),
  entry('surrogates the wrong way round in the origin', ['k', 'v', 1, 'o\udc00\ud800', 0]),
  body('commit', 'chunks negative', (b) => (b.chunks = -1)),
  body('commit', 'entries a string', (b) => (b.entries = '2')),
  body('committed', 'root not hex', (b) => (b.root = 'g'.repeat(64))),
  body('committed', 'applied fractional', (b) => (b.applied = 0.5)),
  body('abort', 'a reason of 1001 characters', (b) => (b.reason = 'r'.repeat(1001))),
  body('abort', 'no reason', (b) => delete b.reason),
];

test('each malformed turn is refused with SagaMalformedError before its signature is looked at', (t) => {
  // The rows' bases open: each row fails for its one change.
  for (const turn of Object.values(BASE)) t.is(nameOf(() => openTurn(crypto, signedJson(JSON.stringify(turn)), expecting(turn), LIMITS)), 'opened', turn.k);
  t.is(nameOf(() => parseTurn(deltaOfBytes(LIMITS.maxTurnBytes), LIMITS)), 'opened', 'a turn of exactly maxTurnBytes');
  for (const [what, bytes] of ROWS) {
    const err = t.throws(() => parseTurn(bytes, LIMITS), undefined, what);
    t.is(err?.name, 'SagaMalformedError', what);
    t.true(err?.message.startsWith('SagaMalformedError: '), what);
    // openTurn checks the shape first: the key it is given does not matter.
    t.is(nameOf(() => openTurn(crypto, bytes, expecting(BASE.delta, mallory.publicKey), LIMITS)), 'SagaMalformedError', what);
  }
});

test('property: bytes that are not a turn are refused with SagaMalformedError, never another error', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map((j) => signedJson(j))), (bytes) => nameOf(() => parseTurn(bytes, LIMITS)) === 'SagaMalformedError'),
    { numRuns: 500, seed: 0x7e57 },
  );
  t.pass();
});

// --- space ---

const crypt = crypto;
const entryOf = (e: SyncEntry): DigestedEntry => digestEntry(crypt, e);
/**
 * Entries of a few keys, with few clocks and origins, so ties are common and
 * every tie-break is reached. Origins include code points whose UTF-16 and
 * UTF-8 orders differ (U+FFFD vs U+1F600).
 */
const contender = fc
  .record({
    key: fc.constantFrom('a', 'b', 'k/é', 'k/😀'),
    value: text(6),
    clock: fc.integer({ min: 1, max: 3 }),
    origin: fc.constantFrom('o', 'p', 'o\ufffd', 'o😀'),
    deleted: fc.boolean(),
  })
  .map((e) => entryOf(e.deleted ? { ...e, value: '' } : e));

const same = (a: DigestedEntry, b: DigestedEntry) => a.digest === b.digest;

test('property: wins is a strict total order on distinct entries', (t) => {
  fc.assert(
    fc.property(contender, contender, contender, (a, b, c) => {
      strictEqual(wins(a, a), false, 'irreflexive');
      if (!same(a, b)) strictEqual(wins(a, b) !== wins(b, a), true, 'exactly one of two distinct entries wins');
      if (wins(a, b) && wins(b, c)) strictEqual(wins(a, c), true, 'transitive');
    }),
    { numRuns: 2000, seed: 0x3177 },
  );
  t.pass();
});

/** The winner per key of `list`, merged one by one in its order. */
const mergeAll = (list: readonly DigestedEntry[]): Map<string, DigestedEntry> => {
  const out = new Map<string, DigestedEntry>();
  for (const e of list) {
    const had = out.get(e.key);
    if (!had || wins(e, had)) out.set(e.key, e);
  }
  return out;
};
const digests = (m: Map<string, DigestedEntry>) => [...m.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, e]) => [k, e.digest]);

test('property: merging entry sets is commutative and idempotent (the same winner whatever the order)', (t) => {
  fc.assert(
    fc.property(fc.array(contender, { maxLength: 12 }), fc.array(contender, { maxLength: 12 }), (xs, ys) => {
      const once = digests(mergeAll([...xs, ...ys]));
      deepStrictEqual(digests(mergeAll([...ys, ...xs])), once, 'commutative');
      deepStrictEqual(digests(mergeAll([...xs, ...ys, ...ys, ...xs])), once, 'idempotent');
      deepStrictEqual(digests(mergeAll([...xs, ...ys].reverse())), once, 'any order');
    }),
    { numRuns: 500, seed: 0x3e26 },
  );
  t.pass();
});

test('property: the store merges a saga by the same rule, in any order, and a second time changes nothing', (t) => {
  const store = openSpaceStore(join(storeHome(t), 'store.sqlite'), crypt, LIMITS);
  t.teardown(() => store.close());
  let n = 0;
  /** Commits `list` as one saga into `space`; answers how many entries won. */
  const commit = (space: string, list: readonly DigestedEntry[]) => {
    const saga = (n++).toString(16).padStart(32, '0');
    store.begin(saga, BOB, space, 'responder');
    store.stage(saga, list, 0);
    return store.commit(saga, space, () => [], { peer: BOB, role: 'responder' }).applied;
  };
  fc.assert(
    fc.property(fc.array(contender, { minLength: 1, maxLength: 10 }), fc.array(contender, { maxLength: 10 }), (xs, ys) => {
      const run = n;
      const [one, two] = [`m${run}.a`, `m${run}.b`];
      commit(one, [...xs, ...ys]);
      commit(two, ys);
      commit(two, [...xs].reverse());
      const rows = (s: string) => store.page(s, 0, FINE_BUCKETS, undefined, 100).map((e) => [e.key, e.digest]).sort(([x], [y]) => (x! < y! ? -1 : 1));
      deepStrictEqual(rows(one), digests(mergeAll([...xs, ...ys])), 'the store keeps the entry `wins` picks');
      deepStrictEqual(rows(two), rows(one), 'commutative');
      strictEqual(commit(one, [...ys, ...xs]), 0, 'idempotent: nothing wins a second time');
      deepStrictEqual(rows(one), rows(two));
    }),
    { numRuns: 15, seed: 0x5703 },
  );
  t.is(store.tempRows(), 0);
});

/** The fine digests of `list` as space.ts defines them: per bucket, entry digests in UTF-8 byte order of keys. */
const fineOf = (list: readonly DigestedEntry[]): FineDigests => {
  const fine = emptyFine();
  const byBucket = new Map<number, DigestedEntry[]>();
  for (const e of list) byBucket.set(e.bucket, [...(byBucket.get(e.bucket) ?? []), e]);
  for (const [b, es] of byBucket) fromHex(bucketDigest(crypt, es.sort((x, y) => Buffer.compare(utf8.encode(x.key), utf8.encode(y.key))).map((e) => e.digest)), fine, 32 * b);
  return fine;
};

test('property: the store keeps the summary tree the pure functions compute; bits = 0 is the root', (t) => {
  const store = openSpaceStore(join(storeHome(t), 'store.sqlite'), crypt, LIMITS);
  t.teardown(() => store.close());
  const keys = fc.uniqueArray(text(8, 1), { minLength: 0, maxLength: 40 });
  let run = 0;
  fc.assert(
    fc.property(keys, fc.integer({ min: 0, max: FINE_BITS }), (ks, bits) => {
      const space = `t${run++}`;
      const list = ks.map((key, i) => entryOf({ key, value: `v${i}`, clock: 10 + i, origin: 'o', deleted: i % 5 === 4 }));
      store.putMany(space, list);
      const fine = fineOf(list);
      const root = rootOf(crypt, fine);
      strictEqual(coarseDigests(crypt, fine, 0)[0], root);
      strictEqual(store.root(space), root);
      const summary = store.summary(space, bits);
      deepStrictEqual(summary.buckets, coarseDigests(crypt, fine, bits).map((d) => d.slice(0, SHORT_DIGEST_CHARS)));
      strictEqual(summary.count, list.length);
      for (const e of list) strictEqual(e.bucket, bucketOfKey(crypt, e.key));
    }),
    { numRuns: 5, seed: 0x7e1e },
  );
  t.is(rootOf(crypt, emptyFine()), coarseDigests(crypt, emptyFine(), 0)[0]!);
  t.throws(() => coarseDigests(crypt, new Uint8Array(32), 0), { instanceOf: RangeError });
});

test('the store refuses a key or value it could not keep as given (a lone surrogate), and keeps astral ones', (t) => {
  const store = openSpaceStore(join(storeHome(t), 'store.sqlite'), crypt, LIMITS);
  t.teardown(() => store.close());
  t.throws(() => store.put('s', 'k\ud800', 'v', 'o'), { instanceOf: RangeError });
  t.throws(() => store.putMany('s', [{ key: 'k', value: 'v\udfff', clock: 1, origin: 'o', deleted: false }]), { instanceOf: RangeError });
  t.is(store.count('s'), 0);
  store.put('s', 'k😀', 'v😀', 'o');
  t.is(store.get('s', 'k😀')?.value, 'v😀');
});

test('space names: the pattern the header check uses', (t) => {
  for (const ok of ['a', 'notes', 'a.b:c-d_e', `a${'b'.repeat(63)}`]) t.true(SPACE_PATTERN.test(ok), ok);
  for (const bad of ['', 'A', '1a', `a${'b'.repeat(64)}`, 'a b', 'a/b']) t.false(SPACE_PATTERN.test(bad), bad);
});
