/** Sturdy ref text: format, strict parsing, and the size of the secret. */
import test from 'ava';
import fc from 'fast-check';
import { formatSturdyRef, parseSturdyRef, SWISS_BYTES } from '../../capabilities/sturdy-ref.js';
import { base32 } from '../../protocols/session/vat-id.js';

const vatId = 'a'.repeat(52);
const swiss = 'b'.repeat(32);

test('format and parse round-trip, IPv4, names and IPv6', (t) => {
  for (const host of ['127.0.0.1', 'example.org', '::1', 'fe80::1']) {
    const text = formatSturdyRef({ vatId, host, port: 7420, swiss });
    t.deepEqual(parseSturdyRef(text), { vatId, host, port: 7420, swiss });
  }
  t.is(formatSturdyRef({ vatId, host: '::1', port: 1, swiss }), `tribe://${vatId}@[::1]:1/${swiss}`);
});

// What hosts generate (random, distinct, every bit used) is checked in test/e2e/cross-host.test.ts.
test('a swiss number is SWISS_BYTES in base32: that parses, a byte less or more does not', (t) => {
  const ref = (bytes: number) =>
    formatSturdyRef({ vatId, host: '127.0.0.1', port: 1, swiss: base32(new Uint8Array(bytes).fill(0xa5)) });
  t.is(parseSturdyRef(ref(SWISS_BYTES)).swiss.length, 32);
  for (const bytes of [SWISS_BYTES - 1, SWISS_BYTES + 1]) t.throws(() => parseSturdyRef(ref(bytes)), { name: 'SturdyRefError' });
});

test('malformed refs are SturdyRefError, each with a reason', (t) => {
  for (const bad of [
    '',
    'http://x',
    `tribe://${vatId}@127.0.0.1/${swiss}`,
    `tribe://${vatId}@127.0.0.1:0/${swiss}`,
    `tribe://${vatId}@127.0.0.1:70000/${swiss}`,
    `tribe://${vatId.slice(1)}@127.0.0.1:1/${swiss}`,
    `tribe://${vatId}@127.0.0.1:1/${swiss.slice(1)}`,
    `tribe://${vatId}@127.0.0.1:1/${swiss.toUpperCase()}`,
    `tribe://${vatId}@bad host:1/${swiss}`,
    `tribe://${vatId}@127.0.0.1:1/${swiss}/extra`,
    `tribe://${vatId}@${'h'.repeat(400)}:1/${swiss}`,
  ]) {
    t.throws(() => parseSturdyRef(bad), { name: 'SturdyRefError' }, bad);
  }
  t.throws(() => parseSturdyRef(42), { name: 'SturdyRefError' });
});

test('random text never parses by accident and never throws anything but SturdyRefError', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 500 }), (s) => {
      try {
        parseSturdyRef(`tribe://${s}`);
        return true;
      } catch (err) {
        return (err as Error).name === 'SturdyRefError';
      }
    }),
  );
  t.pass();
});
