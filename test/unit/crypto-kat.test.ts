/**
 * Known-answer tests for both CryptoSuites (node:crypto and @noble), from the
 * RFCs, and cross-checks that each accepts what the other produces.
 */
import test from 'ava';
import { CIPHERS, type CryptoSuite } from '../../protocols/session/crypto.js';
import { nobleCrypto } from '../../protocols/session/crypto-noble.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const utf8 = (s: string) => new TextEncoder().encode(s);
const SUITES: readonly CryptoSuite[] = [nodeCrypto, nobleCrypto];

// RFC 7748 §6.1
const ALICE = { secret: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', pub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a' };
const BOB = { secret: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', pub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f' };
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

// RFC 8032 §7.1, tests 1 and 2
const ED = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

// RFC 8439 §2.8.2
const CHACHA = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  aad: '50515253c0c1c2c3c4c5c6c7',
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ciphertext:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

// The GCM specification (McGrew & Viega), test cases 13 and 14: AES-256, zero key and IV.
const GCM = [
  { plaintext: '', ciphertext: '', tag: '530f8afbc74536b9a963b4f1c4cb738b' },
  { plaintext: '00000000000000000000000000000000', ciphertext: 'cea7403d4d606b6e074ec5d3baf39d18', tag: 'd0d1c8a799996bf0265b98b5d48ab919' },
];

for (const suite of SUITES) {
  test(`${suite.name}: X25519 (RFC 7748)`, (t) => {
    const alice = suite.x25519(hex(ALICE.secret));
    const bob = suite.x25519(hex(BOB.secret));
    t.is(toHex(alice.publicKey), ALICE.pub);
    t.is(toHex(bob.publicKey), BOB.pub);
    t.is(toHex(alice.agree(bob.publicKey)), SHARED);
    t.is(toHex(bob.agree(alice.publicKey)), SHARED);
  });

  test(`${suite.name}: X25519 refuses the all-zero (low-order) point`, (t) => {
    t.throws(() => suite.x25519().agree(new Uint8Array(32)), { name: 'WeakKeyError' });
  });

  test(`${suite.name}: Ed25519 (RFC 8032)`, (t) => {
    for (const v of ED) {
      const key = suite.ed25519FromSeed(hex(v.seed));
      t.is(toHex(key.publicKey), v.pub);
      const sig = key.sign(hex(v.msg));
      t.is(toHex(sig), v.sig);
      t.true(suite.ed25519Verify(hex(v.pub), hex(v.msg), hex(v.sig)));
      const flipped = hex(v.sig);
      flipped[5]! ^= 1;
      t.false(suite.ed25519Verify(hex(v.pub), hex(v.msg), flipped));
      t.false(suite.ed25519Verify(hex(v.pub), utf8('other'), hex(v.sig)));
      // Malformed inputs are a plain false, never a throw.
      t.false(suite.ed25519Verify(hex(v.pub).slice(1), hex(v.msg), hex(v.sig)));
      t.false(suite.ed25519Verify(hex(v.pub), hex(v.msg), hex(v.sig).slice(1)));
      t.false(suite.ed25519Verify(new Uint8Array(32).fill(0xff), hex(v.msg), hex(v.sig)));
    }
  });

  test(`${suite.name}: ChaCha20-Poly1305 (RFC 8439)`, (t) => {
    const aead = suite.aead('chacha20-poly1305', hex(CHACHA.key));
    const sealed = aead.seal(hex(CHACHA.nonce), utf8(CHACHA.plaintext), hex(CHACHA.aad));
    t.is(toHex(sealed), CHACHA.ciphertext + CHACHA.tag);
    const opened = aead.open(hex(CHACHA.nonce), sealed, hex(CHACHA.aad));
    t.is(new TextDecoder().decode(opened), CHACHA.plaintext);
  });

  test(`${suite.name}: AES-256-GCM (GCM spec cases 13, 14)`, (t) => {
    const aead = suite.aead('aes-256-gcm', new Uint8Array(32));
    for (const v of GCM) {
      const sealed = aead.seal(new Uint8Array(12), hex(v.plaintext));
      t.is(toHex(sealed), v.ciphertext + v.tag);
      t.is(toHex(aead.open(new Uint8Array(12), sealed)!), v.plaintext);
    }
  });

  test(`${suite.name}: any change to sealed data, nonce or AAD fails to open`, (t) => {
    for (const cipher of CIPHERS) {
      const aead = suite.aead(cipher, hex(CHACHA.key));
      const nonce = hex(CHACHA.nonce);
      const sealed = aead.seal(nonce, utf8('attack at dawn'), utf8('aad'));
      for (let i = 0; i < sealed.length; i++) {
        const bad = sealed.slice();
        bad[i]! ^= 0x80;
        t.is(aead.open(nonce, bad, utf8('aad')), undefined, `${cipher} byte ${i}`);
      }
      const otherNonce = nonce.slice();
      otherNonce[11]! ^= 1;
      t.is(aead.open(otherNonce, sealed, utf8('aad')), undefined);
      t.is(aead.open(nonce, sealed, utf8('AAD')), undefined);
      t.is(aead.open(nonce, sealed.slice(0, 10), utf8('aad')), undefined, 'shorter than a tag');
    }
  });

  test(`${suite.name}: HKDF-SHA256 (RFC 5869 case 1), HMAC-SHA256 (RFC 4231 case 2), SHA-256`, (t) => {
    const okm = suite.hkdf(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    t.is(toHex(okm), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    t.is(toHex(suite.hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?'))), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    t.is(toHex(suite.sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    t.is(suite.randomBytes(24).length, 24);
    t.notDeepEqual(suite.randomBytes(16), suite.randomBytes(16));
  });
}

test('the suites agree with each other on fresh keys', (t) => {
  for (const [x, y] of [
    [nodeCrypto, nobleCrypto],
    [nobleCrypto, nodeCrypto],
  ] as const) {
    const ex = x.x25519();
    const ey = y.x25519();
    t.deepEqual(ex.agree(ey.publicKey), ey.agree(ex.publicKey), `${x.name}↔${y.name} X25519`);
    const seed = x.randomBytes(32);
    const kx = x.ed25519FromSeed(seed);
    t.deepEqual(kx.publicKey, y.ed25519FromSeed(seed).publicKey);
    const msg = x.randomBytes(100);
    t.true(y.ed25519Verify(kx.publicKey, msg, kx.sign(msg)), `${x.name} signs, ${y.name} verifies`);
    for (const cipher of CIPHERS) {
      const key = x.randomBytes(32);
      const nonce = x.randomBytes(12);
      const plain = x.randomBytes(1000);
      t.deepEqual(y.aead(cipher, key).open(nonce, x.aead(cipher, key).seal(nonce, plain, msg), msg), plain, `${cipher} ${x.name}→${y.name}`);
    }
  }
});
