/** Handshake message codecs, their limits, and VatIds. */
import test from 'ava';
import fc from 'fast-check';
import { encodePayload } from '../../protocols/framing/frames.js';
import {
  COOKIE_BYTES,
  decodeCookie,
  decodeHello,
  decodeProtocolOffered,
  decodeReason,
  decodeResponse,
  decodeResponseBody,
  decodeSignature,
  decodeVatIdMessage,
  encodeHello,
  encodeReason,
  encodeResponseBody,
  type Hello,
  MAX_BRIDGE_SELECTIONS,
  MAX_BRIDGE_SUGGESTIONS,
  MAX_DOMAIN_CHARS,
  MAX_NAME_CHARS,
  MAX_OFFERED_CIPHERS,
  MAX_OFFERED_ENCODERS,
  MAX_OFFERED_VERSIONS,
  MAX_REASON_CHARS,
} from '../../protocols/session/messages.js';
import { isVatId, type VatId, vatIdOf } from '../../protocols/session/vat-id.js';
import { vatIdOf as runtimeVatIdOf } from '../../runtime/identity.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';

const ID = 'a'.repeat(52) as VatId;
const key = new Uint8Array(32).fill(7);

const hello = (over: Partial<Record<keyof Hello, unknown>> = {}) => ({
  vatId: ID,
  wanted: null,
  domain: 'tribe',
  identityKey: key,
  ephemeralKey: key,
  ciphers: ['chacha20-poly1305'],
  encoders: ['msgpack'],
  bridges: [],
  ...over,
});

const malformed = { name: 'MalformedMessageError' };

// base32's RFC 4648 vectors are in identity.test.ts: runtime/identity re-exports this one.

test('vatIdOf is the runtime identity scheme, and isVatId accepts exactly its shape', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (pub) => {
      const id = vatIdOf(nodeCrypto, pub);
      return id === runtimeVatIdOf(pub) && isVatId(id) && id.length === 52;
    }),
    { numRuns: 50 },
  );
  t.false(isVatId('A'.repeat(52)));
  t.false(isVatId('a'.repeat(51)));
  t.false(isVatId('a'.repeat(53)));
  t.false(isVatId(`${'a'.repeat(51)}1`));
  t.false(isVatId(42));
});

test('Hello round-trips and decodes to plain copies', (t) => {
  const bytes = encodeHello(hello({ cookie: new Uint8Array(COOKIE_BYTES).fill(1) }) as Hello);
  const h = decodeHello(bytes);
  t.is(h.vatId, ID);
  t.is(h.cookie?.length, COOKIE_BYTES);
  t.is(Object.getPrototypeOf(h.identityKey), Uint8Array.prototype);
  t.is(decodeHello(encodeHello(hello() as Hello)).cookie, null);
});

test('Hello: every field is checked', (t) => {
  const bad: Array<Partial<Record<keyof Hello | 'extra', unknown>>> = [
    { vatId: 'nope' },
    { wanted: 'nope' },
    { domain: '' },
    { domain: 5 },
    { identityKey: new Uint8Array(31) },
    { ephemeralKey: 'x'.repeat(32) },
    { ciphers: [] },
    { ciphers: 'chacha20-poly1305' },
    { ciphers: [7] },
    { encoders: [] },
    { bridges: [''] },
    { cookie: new Uint8Array(31) },
    { extra: 1 },
  ];
  for (const over of bad) t.throws(() => decodeHello(encodePayload(hello(over))), malformed, JSON.stringify(Object.keys(over)));
  const { domain: _, ...missing } = hello();
  t.throws(() => decodeHello(encodePayload(missing)), malformed);
  t.throws(() => decodeHello(encodePayload([1, 2])), malformed);
  t.throws(() => decodeHello(new Uint8Array([0xc1])), malformed);
  t.throws(() => decodeHello(new Uint8Array([...encodePayload(hello()), 0])), malformed, 'trailing bytes');
});

test('limit: list lengths (versions, ciphers, encoders, bridge suggestions) are bounded', (t) => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`);
  t.notThrows(() => decodeHello(encodePayload(hello({ ciphers: names(MAX_OFFERED_CIPHERS) }))));
  t.throws(() => decodeHello(encodePayload(hello({ ciphers: names(MAX_OFFERED_CIPHERS + 1) }))), malformed);
  t.notThrows(() => decodeHello(encodePayload(hello({ encoders: names(MAX_OFFERED_ENCODERS) }))));
  t.throws(() => decodeHello(encodePayload(hello({ encoders: names(MAX_OFFERED_ENCODERS + 1) }))), malformed);
  t.notThrows(() => decodeHello(encodePayload(hello({ bridges: names(MAX_BRIDGE_SUGGESTIONS) }))));
  t.throws(() => decodeHello(encodePayload(hello({ bridges: names(MAX_BRIDGE_SUGGESTIONS + 1) }))), malformed);
  t.notThrows(() => decodeProtocolOffered(encodePayload({ versions: names(MAX_OFFERED_VERSIONS) })));
  t.throws(() => decodeProtocolOffered(encodePayload({ versions: names(MAX_OFFERED_VERSIONS + 1) })), malformed);
  t.throws(() => decodeHello(encodePayload(hello({ ciphers: ['c'.repeat(MAX_NAME_CHARS + 1)] }))), malformed);
});

test('limit: the domain is at most MAX_DOMAIN_CHARS', (t) => {
  t.notThrows(() => decodeHello(encodePayload(hello({ domain: 'd'.repeat(MAX_DOMAIN_CHARS) }))));
  t.throws(() => decodeHello(encodePayload(hello({ domain: 'd'.repeat(MAX_DOMAIN_CHARS + 1) }))), malformed);
});

test('Response, Signature, Cookie, NotMe, Abort: shapes and bounds', (t) => {
  const body = {
    vatId: ID,
    identityKey: key,
    ephemeralKey: key,
    cipher: 'aes-256-gcm',
    encoder: 'msgpack',
    bridges: [] as string[],
  };
  t.deepEqual(decodeResponseBody(encodeResponseBody(body)).bridges, []);
  t.throws(() => decodeResponseBody(encodePayload({ ...body, bridges: ['a', 'b', 'c', 'd'].slice(0, MAX_BRIDGE_SELECTIONS + 1) })), malformed);
  t.throws(() => decodeResponse(encodePayload({ body: new Uint8Array(3), signature: new Uint8Array(63) })), malformed);
  t.notThrows(() => decodeResponse(encodePayload({ body: new Uint8Array(3), signature: new Uint8Array(64) })));
  t.throws(() => decodeSignature(encodePayload({ signature: new Uint8Array(64) })), malformed);
  t.throws(() => decodeSignature(encodePayload({ signature: new Uint8Array(64), nonces: [new Uint8Array(31)] })), malformed);
  t.throws(() => decodeCookie(encodePayload({ cookie: new Uint8Array(33) })), malformed);
  t.throws(() => decodeVatIdMessage(encodePayload({ vatId: 'x' }), 'NotMe'), malformed);
  t.throws(() => decodeReason(encodePayload({ code: '', message: '' }), 'Abort'), malformed);
  t.throws(() => decodeReason(encodePayload({ code: 'x', message: 'm'.repeat(MAX_REASON_CHARS + 1) }), 'Abort'), malformed);
  // Sending cuts instead of refusing.
  t.is(decodeReason(encodeReason({ code: 'x', message: 'm'.repeat(MAX_REASON_CHARS * 2) }), 'Abort').message.length, MAX_REASON_CHARS);
});

test('a __proto__ key is refused, not merged', (t) => {
  const bytes = encodePayload({ versions: ['tribe/1'] });
  // A map with one key "__proto__" → { versions } inside.
  const evil = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode('__proto__'), ...bytes]);
  t.throws(() => decodeProtocolOffered(evil), malformed);
});

test('decoders never throw anything but MalformedMessageError on random bytes', (t) => {
  const decoders = [decodeHello, decodeProtocolOffered, decodeResponse, decodeSignature, decodeCookie];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      for (const d of decoders) {
        try {
          d(bytes);
        } catch (err) {
          if ((err as Error).name !== 'MalformedMessageError') return false;
        }
      }
      return true;
    }),
  );
  t.pass();
});
