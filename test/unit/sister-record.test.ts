/** protocols/bootstrap/record.ts: signed sister records — forgeries, other tribes, hostile text, sister swiss numbers. */
import test from 'ava';
import fc from 'fast-check';
import { SWISS_PATTERN } from '../../capabilities/sturdy-ref.js';
import {
  checkRecord,
  encodeRecord,
  MAX_RECORD_CHARS,
  RECORD_VERSION,
  type SisterRecord,
  signRecord,
  sisterSwiss,
  tribeIdOf,
  unbase32,
} from '../../protocols/bootstrap/record.js';
import { base32, vatIdOf } from '../../protocols/session/vat-id.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';

const seed = (n: number) => new Uint8Array(32).fill(n);
const keyA = nodeCrypto.ed25519FromSeed(seed(1));
const keyB = nodeCrypto.ed25519FromSeed(seed(2));
const secret = seed(7);
const tribe = tribeIdOf(nodeCrypto, secret);
const otherTribe = tribeIdOf(nodeCrypto, seed(8));

const recordOf = (key = keyA, over: Partial<SisterRecord> = {}): SisterRecord => {
  const vatId = vatIdOf(nodeCrypto, key.publicKey);
  return {
    v: RECORD_VERSION,
    tribe,
    vatId,
    key: base32(key.publicKey),
    slot: 2,
    address: '127.0.0.1:4100',
    bridgeRef: `tribe://${vatId}@127.0.0.1:4100`,
    pid: 4242,
    startedAt: 1_700_000_000_000,
    machine: '0123456789abcdef',
    coreSize: 3,
    ...over,
  };
};
const check = (text: string) => checkRecord(nodeCrypto, tribe, text);
/** The signed envelope as a plain object, for editing after signing. */
const envelope = (key = keyA, over: Partial<SisterRecord> = {}) =>
  JSON.parse(encodeRecord(signRecord(key, recordOf(key, over)))) as { record: Record<string, unknown>; sig: string };

test('a signed record checks ok and reads back as it was signed', (t) => {
  const r = recordOf();
  const c = check(encodeRecord(signRecord(keyA, r)));
  t.true(c.ok, JSON.stringify(c));
  if (c.ok) t.deepEqual(c.record, r);
  t.is(tribe.length, 32);
  t.regex(tribe, /^[0-9a-f]{32}$/);
});

test('tribeIdOf is the first 16 bytes of SHA-256 of the secret, in hex', (t) => {
  t.is(tribe, Buffer.from(nodeCrypto.sha256(secret).subarray(0, 16)).toString('hex'));
  t.not(tribe, otherTribe);
});

test('any field changed after signing is forged (or malformed where no other value is valid)', (t) => {
  const other = recordOf(keyB);
  const changes: Record<keyof SisterRecord, unknown> = {
    v: RECORD_VERSION + 1, // only one version is valid: malformed, below
    tribe: otherTribe,
    vatId: other.vatId,
    key: other.key,
    slot: 3,
    address: '127.0.0.1:4101',
    bridgeRef: '',
    pid: 4243,
    startedAt: 1_700_000_000_001,
    machine: 'fedcba9876543210',
    coreSize: 4,
  };
  for (const [field, value] of Object.entries(changes)) {
    const e = envelope();
    t.not(e.record[field], value, field);
    e.record[field] = value;
    const c = check(JSON.stringify(e));
    t.false(c.ok, field);
    if (!c.ok) t.is(c.why, field === 'v' ? 'malformed' : 'forged', `${field}: ${c.detail}`);
  }
});

test('fields reordered after signing still check: the verifier signs its own canonical order', (t) => {
  const e = envelope();
  const reversed = Object.fromEntries(Object.entries(e.record).reverse());
  t.true(check(JSON.stringify({ sig: e.sig, record: reversed })).ok);
});

test('a record signed by another key but claiming this VatId and key is forged', (t) => {
  const claimed = recordOf(keyA);
  const c = check(encodeRecord(signRecord(keyB, claimed)));
  t.false(c.ok);
  if (!c.ok) {
    t.is(c.why, 'forged');
    t.regex(c.detail, /signature/);
  }
});

test('a key that does not hash to the VatId is forged, even signed by that key', (t) => {
  // keyB signs a record naming keyB's key but keyA's VatId: the signature is good, the name is not its.
  const r = recordOf(keyB, { vatId: vatIdOf(nodeCrypto, keyA.publicKey) });
  const c = check(encodeRecord(signRecord(keyB, r)));
  t.false(c.ok);
  if (!c.ok) {
    t.is(c.why, 'forged');
    t.regex(c.detail, /key is not the key of/);
  }
});

test('a good record of another tribe is other-tribe; a forged one of another tribe is forged', (t) => {
  const c = check(encodeRecord(signRecord(keyA, recordOf(keyA, { tribe: otherTribe }))));
  t.false(c.ok);
  if (!c.ok) t.is(c.why, 'other-tribe');
  const f = check(encodeRecord(signRecord(keyB, recordOf(keyA, { tribe: otherTribe }))));
  if (!f.ok) t.is(f.why, 'forged');
  else t.fail('a forged record of another tribe checked ok');
  t.true(checkRecord(nodeCrypto, otherTribe, encodeRecord(signRecord(keyA, recordOf(keyA, { tribe: otherTribe })))).ok);
});

test('a signature of the wrong length or alphabet is forged, not a throw', (t) => {
  for (const sig of ['', 'a', 'A'.repeat(103), `${envelope().sig}a`, envelope().sig.slice(0, -1), '0'.repeat(103)]) {
    const e = envelope();
    const c = check(JSON.stringify({ record: e.record, sig }));
    t.false(c.ok, sig);
    if (!c.ok) t.is(c.why, 'forged', sig);
  }
});

test('malformed inputs are malformed, each naming what is wrong', (t) => {
  const good = envelope();
  const withField = (field: string, value: unknown) => JSON.stringify({ record: { ...good.record, [field]: value }, sig: good.sig });
  const without = (field: string) => {
    const record = { ...good.record };
    delete record[field];
    return JSON.stringify({ record, sig: good.sig });
  };
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{record', /not JSON/],
    ['empty', '', /not JSON/],
    ['null', 'null', /no signature/],
    ['a number', '42', /no signature/],
    ['an array', JSON.stringify([good.record, good.sig]), /no signature/],
    ['missing sig', JSON.stringify({ record: good.record }), /no signature/],
    ['sig not text', JSON.stringify({ record: good.record, sig: 7 }), /no signature/],
    ['missing record', JSON.stringify({ sig: good.sig }), /an object/],
    ['record an array', JSON.stringify({ record: Object.values(good.record), sig: good.sig }), /an object/],
    ['record null', JSON.stringify({ record: null, sig: good.sig }), /an object/],
    ['extra field', withField('extra', 1), /unknown record field "extra"/],
    ['__proto__ field', JSON.stringify(good).replace('"v":1', '"__proto__":{},"v":1'), /unknown record field "__proto__"/],
    ['over MAX_RECORD_CHARS', withField('bridgeRef', 'x'.repeat(MAX_RECORD_CHARS)), /longer than/],
  ];
  const bad: [string, unknown][] = [
    ['v', 0],
    ['v', '1'],
    ['tribe', tribe.toUpperCase()],
    ['tribe', tribe.slice(1)],
    ['tribe', 5],
    ['vatId', 'A'.repeat(52)],
    ['vatId', `${good.record['vatId']}a`],
    ['key', (good.record['key'] as string).slice(1)],
    ['key', '1'.repeat(52)],
    ['key', null],
    ['slot', -1],
    ['slot', 1024],
    ['slot', 1.5],
    ['slot', '2'],
    ['address', 'no-port'],
    ['address', 'host:123456'],
    ['address', 'a b:1'],
    ['address', 1],
    ['bridgeRef', 'x'.repeat(401)],
    ['bridgeRef', null],
    ['pid', 0],
    ['pid', 2 ** 31 + 1],
    ['pid', '4242'],
    ['startedAt', -1],
    ['startedAt', 2 ** 53 + 2],
    ['startedAt', Number.NaN], // serialized as null
    ['machine', ''],
    ['machine', 'm'.repeat(129)],
    ['machine', 3],
    ['coreSize', 0],
    ['coreSize', 65],
    ['coreSize', true],
  ];
  for (const [field, value] of bad) cases.push([`${field} = ${JSON.stringify(value)?.slice(0, 20)}`, withField(field, value), new RegExp(`field ${field}`)]);
  for (const field of Object.keys(good.record)) cases.push([`missing ${field}`, without(field), new RegExp(`field ${field}`)]);
  for (const [what, text, detail] of cases) {
    const c = check(text);
    t.false(c.ok, what);
    if (!c.ok) {
      t.is(c.why, 'malformed', `${what}: ${c.detail}`);
      t.regex(c.detail, detail, what);
    }
  }
});

test('the longest realistic record fits under MAX_RECORD_CHARS; text of the limit is read, one character more is not', (t) => {
  const address = '[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535';
  const longest = recordOf(keyA, {
    slot: 1023,
    address,
    bridgeRef: `tribe://${vatIdOf(nodeCrypto, keyA.publicKey)}@${address}`,
    pid: 2 ** 31,
    startedAt: 2 ** 53,
    coreSize: 64,
  });
  const text = encodeRecord(signRecord(keyA, longest));
  t.true(text.length < MAX_RECORD_CHARS, `${text.length} characters`);
  // JSON allows trailing white space: pad to the limit exactly, then one past it.
  const at = text.padEnd(MAX_RECORD_CHARS, ' ');
  t.true(check(at).ok);
  const over = check(`${at} `);
  t.false(over.ok);
  if (!over.ok) t.regex(over.detail, /longer than 1150/);
});

test('property: checkRecord never throws and never answers ok for arbitrary strings or JSON', (t) => {
  const good = envelope();
  const answers = (text: string) => {
    const c = check(text); // a throw fails the property
    return !c.ok && ['malformed', 'forged', 'other-tribe'].includes(c.why) && typeof c.detail === 'string';
  };
  fc.assert(fc.property(fc.string({ maxLength: 1200 }), answers));
  fc.assert(fc.property(fc.jsonValue(), (v) => answers(JSON.stringify(v) ?? 'null')));
  // Near misses: the good record with one field replaced by any JSON value, and any signature.
  const field = fc.constantFrom(...Object.keys(good.record));
  fc.assert(
    fc.property(field, fc.jsonValue({ maxDepth: 2 }), (f, v) => {
      fc.pre(JSON.stringify(v) !== JSON.stringify(good.record[f]));
      return answers(JSON.stringify({ record: { ...good.record, [f]: v }, sig: good.sig }));
    }),
  );
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z2-7]{0,110}$/), (sig) => {
      fc.pre(unbase32(sig) === undefined || base32(unbase32(sig)!) !== good.sig);
      return answers(JSON.stringify({ record: good.record, sig }));
    }),
  );
  t.pass();
});

test('property: unbase32 inverts base32; text outside the alphabet is undefined', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const back = unbase32(base32(bytes));
      return back !== undefined && Buffer.from(back).equals(Buffer.from(bytes));
    }),
  );
  fc.assert(
    fc.property(fc.string(), fc.constantFrom('A', '0', '1', '8', '9', '=', ' ', 'é'), fc.string(), (a, bad, b) => unbase32(a + bad + b) === undefined),
  );
  t.deepEqual(unbase32(''), new Uint8Array(0));
});

test('sisterSwiss is a sturdy-ref swiss number, different per VatId and per secret, and stable', (t) => {
  const a = vatIdOf(nodeCrypto, keyA.publicKey);
  const b = vatIdOf(nodeCrypto, keyB.publicKey);
  const swiss = sisterSwiss(nodeCrypto, secret, a);
  t.regex(swiss, /^[a-z2-7]{32}$/);
  t.regex(swiss, SWISS_PATTERN);
  t.is(sisterSwiss(nodeCrypto, new Uint8Array(secret), a), swiss, 'a function of its inputs only');
  t.not(sisterSwiss(nodeCrypto, secret, b), swiss, 'per VatId');
  t.not(sisterSwiss(nodeCrypto, seed(8), a), swiss, 'per secret');
  const many = new Set(Array.from({ length: 64 }, (_, i) => sisterSwiss(nodeCrypto, secret, vatIdOf(nodeCrypto, nodeCrypto.ed25519FromSeed(seed(i)).publicKey))));
  t.is(many.size, 64);
  for (const s of many) t.regex(s, SWISS_PATTERN);
});
