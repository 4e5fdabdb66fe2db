/** The host identity: base32 VatIds and the key file. */
import { createHash, createPublicKey, sign, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { base32, loadOrCreateIdentity, vatIdOf } from '../../runtime/identity.js';

const tempDir = (t: ExecutionContext): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tribe-id-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const bytes = (s: string) => new TextEncoder().encode(s);

test('base32 matches the RFC 4648 test vectors (lowercase, unpadded)', (t) => {
  const vectors: Array<[string, string]> = [
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ];
  for (const [input, expected] of vectors) t.is(base32(bytes(input)), expected, JSON.stringify(input));
});

test('base32 of all-zero and all-one bytes', (t) => {
  t.is(base32(new Uint8Array(5)), 'aaaaaaaa');
  t.is(base32(new Uint8Array(5).fill(0xff)), '77777777');
  t.is(base32(new Uint8Array([0xff])), '74');
});

/** A reference decoder, to check that base32 loses nothing. */
const decode = (s: string): Uint8Array => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of s) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
};

test('property: base32 has the right length and alphabet, and decodes back to its input', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (input) => {
      const s = base32(input);
      return (
        s.length === Math.ceil((input.length * 8) / 5) &&
        /^[a-z2-7]*$/.test(s) &&
        Buffer.from(decode(s)).equals(Buffer.from(input))
      );
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('a VatId is the base32 of the SHA-256 of the public key: 52 characters', (t) => {
  const key = new Uint8Array(32).fill(7);
  const id = vatIdOf(key);
  t.is(id as string, base32(createHash('sha256').update(key).digest()));
  t.regex(id, /^[a-z2-7]{52}$/);
});

test('loadOrCreateIdentity creates a 0600 key file; loading it again gives the same identity', (t) => {
  const path = join(tempDir(t), 'identity.key');
  const first = loadOrCreateIdentity(path);
  t.true(first.created);
  t.is(statSync(path).mode & 0o777, 0o600);
  t.regex(readFileSync(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  t.is(first.publicKey.length, 32);
  t.is(first.vatId, vatIdOf(first.publicKey));
  t.is(first.privateKey.asymmetricKeyType, 'ed25519');

  const second = loadOrCreateIdentity(path);
  t.false(second.created);
  t.is(second.vatId, first.vatId);
  t.deepEqual(second.publicKey, first.publicKey);
  // The loaded key is the same key: a signature by one verifies with the other.
  const sig = sign(null, bytes('hello'), second.privateKey);
  t.true(verify(null, bytes('hello'), createPublicKey(first.privateKey), sig));
});

test('two fresh homes get different identities', (t) => {
  const a = loadOrCreateIdentity(join(tempDir(t), 'identity.key'));
  const b = loadOrCreateIdentity(join(tempDir(t), 'identity.key'));
  t.not(a.vatId, b.vatId);
});

test('loading restores mode 0600 on a key file that was loosened', (t) => {
  const path = join(tempDir(t), 'identity.key');
  loadOrCreateIdentity(path);
  chmodSync(path, 0o644);
  loadOrCreateIdentity(path);
  t.is(statSync(path).mode & 0o777, 0o600);
});

test('a corrupt key file gives HomeError and is left as it was', (t) => {
  const dir = tempDir(t);
  for (const [what, content] of [
    ['garbage', 'not a key at all'],
    ['empty', ''],
    ['truncated PEM', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n'],
  ] as const) {
    const path = join(dir, `${what}.key`);
    writeFileSync(path, content, { mode: 0o600 });
    const err = t.throws(() => loadOrCreateIdentity(path), undefined, what);
    t.is(err?.name, 'HomeError', what);
    t.regex(err?.message ?? '', /unreadable or corrupt/, what);
    t.is(readFileSync(path, 'utf8'), content, `${what}: not overwritten`);
  }
});

test('a valid key of another type gives HomeError', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto');
  const path = join(tempDir(t), 'identity.key');
  const { privateKey } = generateKeyPairSync('x25519');
  writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const err = t.throws(() => loadOrCreateIdentity(path));
  t.is(err?.name, 'HomeError');
  t.regex(err?.message ?? '', /not Ed25519/);
});
