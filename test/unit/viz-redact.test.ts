/**
 * What may leave a machine for the visualizer (runtime/viz/redact.ts): known
 * secrets in every position never reach the JSON, public ids and ordinary
 * words do, and the output stays small whatever goes in.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { formatSturdyRef, SWISS_BYTES } from '../../capabilities/sturdy-ref.js';
import { base32 } from '../../protocols/session/vat-id.js';
import { REDACTED, redact, redactText } from '../../runtime/viz/redact.js';

/** Deterministic bytes, so a failure names the same secret on every run. */
const bytesOf = (label: string, n: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0, block = 0; i < n; block++) {
    for (const b of createHash('sha256').update(`${label}/${block}`).digest()) if (i < n) out[i++] = b;
  }
  return out;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

const VAT_ID = base32(bytesOf('vat', 32));
const SWISS = base32(bytesOf('swiss', SWISS_BYTES));
const TICKET = base32(bytesOf('ticket', 16));
const KEY = bytesOf('key', 32);
const REF = formatSturdyRef({ vatId: VAT_ID, host: '127.0.0.1', port: 4000, swiss: SWISS });

/** Every shape a secret takes in this code base, by name. */
const SECRETS: Record<string, string> = {
  'swiss (base32, 32)': SWISS,
  'ticket (base32, 26)': TICKET,
  'hex key (64)': hex(KEY),
  'HEX key (64)': hex(KEY).toUpperCase(),
  'base64 key (44)': b64(KEY),
  'base64url key (43)': b64url(KEY),
};

/** Every position a string can take in a value. */
const PLACES: Record<string, (s: string) => unknown> = {
  bare: (s) => s,
  'array item': (s) => ['a', s, 'b'],
  'nested arrays': (s) => [[[s]]],
  'field value': (s) => ({ note: s }),
  'nested object': (s) => ({ a: { b: [{ c: s }] } }),
  'object key': (s) => ({ [s]: 1 }),
  sentence: (s) => `the value is ${s}, keep it`,
  quoted: (s) => `"${s}"`,
  'query string': (s) => `key=${s}&x=1`,
  'json text': (s) => JSON.stringify({ v: s }),
  'error message': (s) => new Error(`bad value ${s}`),
  'error in a field': (s) => ({ err: new TypeError(`nope: ${s}`) }),
};

/**
 * Structural equality of JSON data: plain arrays and plain objects only, same
 * keys, primitives by `===` (so -0, which JSON writes as 0, counts as 0).
 */
const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
};

const shown = (v: unknown) => JSON.stringify(redact(v)) ?? '';
const leaks = (v: unknown, secret: string) => shown(v).toLowerCase().includes(secret.toLowerCase());

test('the test secrets have the shapes they claim', (t) => {
  t.is(VAT_ID.length, 52);
  t.regex(SWISS, /^[a-z2-7]{32}$/);
  t.regex(TICKET, /^[a-z2-7]{26}$/);
  t.is(SECRETS['base64 key (44)']!.length, 44);
  t.is(SECRETS['base64url key (43)']!.length, 43);
  t.is(REF, `tribe://${VAT_ID}@127.0.0.1:4000/${SWISS}`);
});

test('secret-shaped strings are replaced in every position', (t) => {
  for (const [kind, secret] of Object.entries(SECRETS)) {
    for (const [place, put] of Object.entries(PLACES)) {
      const out = shown(put(secret));
      t.false(out.toLowerCase().includes(secret.toLowerCase()), `${kind} as ${place}: ${out}`);
      t.true(out.includes(REDACTED), `${kind} as ${place} is marked, not silently dropped: ${out}`);
    }
  }
});

test('a sturdy ref never shows its swiss number, and keeps host and port', (t) => {
  const v6 = formatSturdyRef({ vatId: VAT_ID, host: '::1', port: 7, swiss: SWISS });
  for (const text of [REF, `'${REF}'`, `(see ${REF})`, `bad ref ${REF}, retrying`, v6]) {
    const out = redactText(text);
    t.false(out.includes(SWISS), out);
    t.true(out.includes(`@127.0.0.1:4000/${REDACTED}`) || out.includes(`@[::1]:7/${REDACTED}`), out);
  }
  const err = redact(new Error(`bad ref ${REF}`));
  t.true(typeof err === 'string' && err.startsWith('Error: bad ref tribe:') && !err.includes(SWISS), String(err));
  // Whatever follows the slash is the capability, even when it is not swiss-shaped.
  t.is(redactText('tribe://x@h:1/short'), `tribe://x@h:1/${REDACTED}`);
  t.is(redactText(`tribe://x@h:1/${SWISS} and more`), `tribe://x@h:1/${REDACTED} and more`);
});

// After the swiss number is replaced, '//' + VatId is one 54-character run of the
// base64 alphabet that SECRET_RUN would also match; the address is kept and VatIds
// are shown in full (the header's promise), so only the swiss goes.
test('a sturdy ref keeps its VatId', (t) => {
  const expected = `tribe://${VAT_ID}@127.0.0.1:4000/${REDACTED}`;
  t.is(redactText(REF), expected);
  t.is(redact(new Error(`bad ref ${REF}`)), `Error: bad ref ${expected}`);
  t.deepEqual(redact({ ref: REF, refs: [REF, REF] }), { ref: expected, refs: [expected, expected] });
  const v6 = formatSturdyRef({ vatId: VAT_ID, host: '::1', port: 7, swiss: SWISS });
  t.is(redactText(v6), `tribe://${VAT_ID}@[::1]:7/${REDACTED}`);
});

test('fields whose names speak of a secret are redacted whatever they hold', (t) => {
  const names = [
    'privateKey',
    'secretKey',
    'swiss',
    'ticket',
    'nonce',
    'cookie',
    'token',
    'signature',
    'password',
    'passphrase',
    'seed',
    'sessionKey',
    'PRIVATE_KEY',
    'x-api-key',
  ];
  for (const name of names) {
    for (const value of ['opensesame', 1234567, { inner: 'opensesame' }, ['opensesame'], new Uint8Array(4)]) {
      const out = redact({ [name]: value, plain: 'visible' });
      t.deepEqual(out, { [name]: REDACTED, plain: 'visible' }, name);
    }
    t.deepEqual(redact({ a: [{ b: { [name]: 'opensesame' } }] }), { a: [{ b: { [name]: REDACTED } }] }, `${name} nested`);
  }
  // A field holding nothing is left out, not shown as redacted.
  t.deepEqual(redact({ privateKey: undefined, n: 1 }), { n: 1 });
});

test('bytes never pass: only their length is shown', (t) => {
  const filled = new Uint8Array(32).fill(0xab);
  const cases: [unknown, number][] = [
    [filled, 32],
    [Buffer.from(KEY), 32],
    [filled.buffer, 32],
    [new DataView(new ArrayBuffer(12)), 12],
    [new Uint32Array(8).fill(0xabababab), 32],
    [filled.subarray(3, 10), 7],
  ];
  for (const [bytes, n] of cases) {
    t.is(redact(bytes), `‹${n} bytes›`);
    t.deepEqual(redact({ payload: bytes, list: [bytes] }), { payload: `‹${n} bytes›`, list: [`‹${n} bytes›`] });
  }
  const out = shown({ key: KEY, frames: [KEY, Buffer.from(KEY)], buf: Buffer.from(KEY).buffer });
  t.false(out.includes(hex(KEY)));
  t.false(out.includes(b64(KEY).slice(0, 20)));
  t.false(shown({ bytes: filled }).includes('171'), 'no byte value shows');
});

test('VatIds, words, numbers and short ids survive unchanged', (t) => {
  const plain = {
    peer: VAT_ID,
    peers: [VAT_ID, VAT_ID],
    [VAT_ID]: 'up',
    state: 'awaitingHello',
    role: 'initiator',
    count: 42,
    ratio: 0.25,
    negative: -7,
    ok: true,
    none: null,
    id: 'path-7',
    at: '127.0.0.1:4000',
    sentence: `session with ${VAT_ID} up (initiator, 127.0.0.1:4000)`,
    words: 'the quick brown fox jumps over the lazy dog',
    shortHex: 'deadbeef',
  };
  t.deepEqual(redact(plain), plain);
  t.is(redactText(VAT_ID), VAT_ID);
});

test('the documented run lengths: just below each limit passes, at the limit it is replaced', (t) => {
  const b32 = base32(bytesOf('runs', 40)); // 64 base32 characters
  t.is(redactText(b32.slice(0, 19)), b32.slice(0, 19));
  t.is(redactText(b32.slice(0, 20)), REDACTED);
  t.is(redactText(b32.slice(0, 40)), REDACTED);
  t.is(redactText(b32.slice(0, 52)), b32.slice(0, 52), 'VatId-sized runs are public');
  t.is(redactText(b32.slice(0, 53)), REDACTED);
  const digits = '0189'.repeat(20); // hex digits outside the base32 alphabet
  t.is(redactText(digits.slice(0, 31)), digits.slice(0, 31));
  t.is(redactText(digits.slice(0, 32)), REDACTED);
  const b64run = 'Ab+/'.repeat(20);
  t.is(redactText(b64run.slice(0, 39)), b64run.slice(0, 39));
  t.is(redactText(b64run.slice(0, 40)), REDACTED);
});

test('functions and symbols vanish; live objects show what they are, not their insides', (t) => {
  const k = Symbol('k');
  t.deepEqual(redact({ f() {}, g: () => 1, s: Symbol('s'), [k]: 'hidden', u: undefined, n: 1 }), { n: 1 });
  t.deepEqual(redact([() => 1, Symbol('x'), undefined, 2]), [null, null, null, 2]);
  t.is(redact(() => 1), undefined);
  t.is(redact(Symbol('x')), undefined);
  t.is(redact(new Map([[SWISS, SWISS]])), '‹Map of 1›');
  t.deepEqual(redact({ s: new Set([1, 2, 3]) }), { s: '‹Set of 3›' });
  t.is(redact({ sessionId: 'x:1', send() {}, secret: SWISS }), '‹actor›');
  class Holder {
    visible = 1;
    #hidden = SWISS;
    get derived() {
      return this.#hidden;
    }
  }
  t.deepEqual(redact(new Holder()), { visible: 1 });
});

test('numbers that JSON cannot hold become text; bigints are text and redacted like it', (t) => {
  t.deepEqual(redact([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 12n]), [
    'NaN',
    'Infinity',
    '-Infinity',
    '12',
  ]);
  t.is(redact(2n ** 255n), REDACTED, 'a 256-bit secret as a bigint');
});

test('strings, keys, items and depth are bounded', (t) => {
  const long = redactText('word '.repeat(10_000));
  t.is(long.length, 200);
  t.true(long.endsWith('…'));
  const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, i]));
  const out = redact(wide) as Record<string, unknown>;
  t.is(Object.keys(out).length, 25);
  t.is(out['…'], '76 more');
  const items = redact(Array.from({ length: 100 }, (_, i) => i)) as unknown[];
  t.is(items.length, 17);
  t.is(items[16], '… 84 more');
  t.deepEqual(redact({ a: { b: { c: { d: { e: 1 } } } } }), { a: { b: { c: { d: '…' } } } });
  // 1 + 16 + 256 values: the total budget (200) cuts the last ones short.
  const grid = JSON.stringify(redact(Array.from({ length: 16 }, () => Array.from({ length: 16 }, () => 7))));
  const sevens = grid.match(/7/g)?.length ?? 0;
  t.true(sevens > 100 && sevens < 200, `${sevens} values shown`);
});

test('cycles terminate: self, mutual, through arrays, and a 100 000-long chain', (t) => {
  const self: Record<string, unknown> = { name: 'loop' };
  self['self'] = self;
  self['list'] = [self, self];
  const a: Record<string, unknown> = { name: 'a' };
  const b: Record<string, unknown> = { name: 'b', a };
  a['b'] = b;
  const arr: unknown[] = [1];
  arr.push(arr);
  let chain: Record<string, unknown> = { end: true };
  for (let i = 0; i < 100_000; i++) chain = { next: chain };
  for (const v of [self, a, arr, chain]) {
    const text = JSON.stringify(redact(v));
    t.true(text.length < 64 * 1024);
    t.true(text.includes('…'), 'cut off, not followed forever');
  }
});

test('a huge input comes out small', (t) => {
  const shared = { a: 'x'.repeat(1_000_000), b: Array.from({ length: 100_000 }, (_, i) => i) };
  const huge = {
    items: Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], shared })),
    fields: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`f${i}`, 'v '.repeat(5_000)])),
    text: 'lorem ipsum '.repeat(100_000),
  };
  t.true(JSON.stringify(redact(huge)).length < 64 * 1024);
  // The worst ordinary text can do: 200-character keys and values at every level.
  const key = (i: number) => `${'a b '.repeat(48)}${String(i).padStart(8, '0')}`;
  const level = (d: number): unknown => {
    const child = d === 0 ? 'y z '.repeat(75) : level(d - 1);
    return Object.fromEntries(Array.from({ length: 30 }, (_, i) => [key(i), child]));
  };
  const worst = JSON.stringify(redact(level(6)));
  t.true(worst.length < 64 * 1024, `${worst.length} characters`);
});

// Text that JSON escapes (quotes, control characters) grows up to six times when
// written, and keys count too: the bound holds on the written size, not on the
// number of values.
test('the output stays under 64 KiB even when every character needs escaping', (t) => {
  const key = (i: number) => `${'\u0001'.repeat(192)}${String(i).padStart(8, '0')}`;
  const level = (d: number): unknown => {
    const child = d === 0 ? '\u0001'.repeat(300) : level(d - 1);
    return Object.fromEntries(Array.from({ length: 30 }, (_, i) => [key(i), child]));
  };
  const size = JSON.stringify(redact(level(6))).length;
  t.true(size < 64 * 1024, `${size} characters`);
});

test('the output is JSON data: a JSON round trip gives it back unchanged', (t) => {
  const sample = {
    s: `ref ${REF}`,
    n: [1, 2.5, Number.NaN],
    big: 10n,
    bytes: KEY,
    err: new RangeError('out'),
    when: new Date(0),
    nested: { deeper: { deepest: { gone: { x: 1 } } } },
    list: Array.from({ length: 40 }, (_, i) => ({ i })),
    m: new Map(),
    f: () => 1,
  };
  const out = redact(sample);
  t.deepEqual(JSON.parse(JSON.stringify(out)), out);
  t.true(jsonEqual(JSON.parse(JSON.stringify(out)), out));
});

// A '__proto__' key (an own property after JSON.parse) assigned as `out[key]` to an
// object literal would hit the prototype setter: the field would vanish and the
// output inherit from data the input chose.
test('a "__proto__" field does not become the output\'s prototype', (t) => {
  const out = redact(JSON.parse('{"__proto__": {"injected": 1}, "a": 1}')) as Record<string, unknown>;
  t.is(Object.getPrototypeOf(out), Object.prototype);
  t.is(out['injected'], undefined);
});

/** Puts `payload` somewhere in `value`, following `choices` down through objects and arrays. */
const place = (value: unknown, choices: readonly number[], payload: unknown): unknown => {
  const [c = 0, ...rest] = choices;
  if (Array.isArray(value)) {
    if (value.length === 0 || rest.length === 0) return [...value.slice(0, c % (value.length + 1)), payload, ...value.slice(c % (value.length + 1))];
    const i = c % value.length;
    return value.map((v, j) => (j === i ? place(v, rest, payload) : v));
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0 || rest.length === 0) return { ...value, [`slot${c}`]: payload };
    const k = keys[c % keys.length]!;
    return { ...value, [k]: place((value as Record<string, unknown>)[k], rest, payload) };
  }
  return rest.length === 0 ? payload : [value, payload];
};

const secretArb = fc.oneof(
  fc.uint8Array({ minLength: SWISS_BYTES, maxLength: SWISS_BYTES }).map(base32),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map(base32),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b64),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b64url),
);
const swissArb = fc.uint8Array({ minLength: SWISS_BYTES, maxLength: SWISS_BYTES }).map(base32);
/** A secret and the value that carries it. */
const carrierArb = fc.oneof(
  secretArb.map((s) => ({ secret: s, payload: s as unknown })),
  secretArb.map((s) => ({ secret: s, payload: `got ${s} back` as unknown })),
  secretArb.map((s) => ({ secret: s, payload: { privateKey: s } as unknown })),
  secretArb.map((s) => ({ secret: s, payload: { [s]: 'as a key' } as unknown })),
  secretArb.map((s) => ({ secret: s, payload: new Error(`failed with ${s}`) as unknown })),
  swissArb.map((s) => ({ secret: s, payload: `ref tribe://${VAT_ID}@127.0.0.1:4000/${s}` as unknown })),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => ({ secret: hex(b), payload: b as unknown })),
);

test('property: a secret placed anywhere in any JSON value never shows', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.array(fc.nat(), { maxLength: 8 }), carrierArb, (base, choices, { secret, payload }) => {
      const v = place(base, choices, payload);
      return !leaks(v, secret);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: a secret placed anywhere in any value never shows, and redact never throws', (t) => {
  fc.assert(
    fc.property(
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
      fc.array(fc.nat(), { maxLength: 8 }),
      carrierArb,
      (base, choices, { secret, payload }) => !leaks(place(base, choices, payload), secret),
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('property: a free-standing secret in any text never shows', (t) => {
  fc.assert(
    fc.property(fc.string(), secretArb, fc.string(), (before, secret, after) => {
      const out = redactText(`${before} ${secret} ${after}`);
      return !out.includes(secret) && out.length <= 200;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: for any value the output is JSON data that survives a round trip', (t) => {
  fc.assert(
    fc.property(
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }),
      (v) => {
        const out = redact(v);
        const text = JSON.stringify(out);
        if (out === undefined) return text === undefined;
        return jsonEqual(JSON.parse(text), out) && text.length < 64 * 1024;
      },
    ),
    { numRuns: 1000 },
  );
  t.pass();
});

test('a swiss number or ticket glued to a path, an underscore or a dash is still replaced', (t) => {
  for (const secret of [SWISS, TICKET]) {
    for (const text of [`127.0.0.1:4000/${secret}`, `ref_${secret}`, `x-${secret}-y`, `/${secret}/`]) {
      t.false(shown(text).includes(secret), text);
    }
  }
  t.is(redactText(`${VAT_ID}/12`), `${VAT_ID}/12`, 'an actor id keeps its VatId');
});

test('an object whose fields cannot be read is shown as unreadable, not thrown', (t) => {
  const hostile = Object.defineProperty({}, 'boom', {
    enumerable: true,
    get() {
      throw new Error('no');
    },
  });
  t.deepEqual(redact({ ok: 1, hostile }), { ok: 1, hostile: '‹unreadable›' });
});
