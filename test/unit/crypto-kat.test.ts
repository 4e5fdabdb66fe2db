/**
 * Known-answer tests for both CryptoSuites (node:crypto and @noble), from the
 * RFCs and the GCM specification, and cross-checks that each accepts exactly
 * what the other produces — including the hostile inputs where OpenSSL and
 * noble's defaults disagree (small-order and non-canonical Ed25519 keys).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify as opensslVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import test from 'ava';
import fc from 'fast-check';
import { CIPHERS, type CryptoSuite } from '../../protocols/session/crypto.js';
import { nobleCrypto } from '../../protocols/session/crypto-noble.js';
import { hasAesHardware, makeNodeCrypto, nodeCrypto, nodeSigningKey, preferredCiphers } from '../../runtime/crypto-node.js';

/** Strict: a typo in a vector fails loudly instead of truncating (as Buffer.from(…, 'hex') would). */
const hex = (s: string): Uint8Array => {
  const clean = s.replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(clean)) throw new Error(`not hex: ${s}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
};
const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const utf8 = (s: string) => new TextEncoder().encode(s);
const SUITES: readonly CryptoSuite[] = [nodeCrypto, nobleCrypto];
const PAIRS = [
  [nodeCrypto, nobleCrypto],
  [nobleCrypto, nodeCrypto],
] as const;

// --- vectors ---

/** RFC 7748 §6.1. */
const ALICE = { secret: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', pub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a' };
const BOB = { secret: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', pub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f' };
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

/** RFC 7748 §5.2: scalar × u. The second u has its top bit set, which X25519 must ignore. */
const X25519_MULT = [
  {
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];
/** RFC 7748 §5.2, iterated from k = u = 9: after one and after 1,000 iterations. */
const X25519_ITERATED = {
  1: '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079',
  1000: '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51',
};

/**
 * u-coordinates of small order (and their non-canonical forms ≥ p), as listed by
 * libsodium and Bernstein's Curve25519 page. With the top bit set they are the
 * same points (§5: the top bit is masked), so each is tried both ways.
 */
const X25519_LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/** RFC 8032 §7.1, tests 1–3. */
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
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

/** RFC 8439 §2.8.2. */
const CHACHA = {
  key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
  nonce: '070000004041424344454647',
  aad: '50515253c0c1c2c3c4c5c6c7',
  plaintext: "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ciphertext:
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116',
  tag: '1ae10b594f09e26a7e902ecbd0600691',
};

/** The GCM specification (McGrew & Viega), AES-256 test cases 13–16 (96-bit IVs; 16 has AAD). */
const GCM_KEY = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const GCM_PLAIN =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const GCM_CIPHER =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
const GCM = [
  { name: '13', key: '00'.repeat(32), iv: '00'.repeat(12), aad: '', plaintext: '', ciphertext: '', tag: '530f8afbc74536b9a963b4f1c4cb738b' },
  {
    name: '14',
    key: '00'.repeat(32),
    iv: '00'.repeat(12),
    aad: '',
    plaintext: '00'.repeat(16),
    ciphertext: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  { name: '15', key: GCM_KEY, iv: 'cafebabefacedbaddecaf888', aad: '', plaintext: GCM_PLAIN, ciphertext: GCM_CIPHER, tag: 'b094dac5d93471bdec1a502270e3cc6c' },
  {
    name: '16',
    key: GCM_KEY,
    iv: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    plaintext: GCM_PLAIN.slice(0, 120),
    ciphertext: GCM_CIPHER.slice(0, 120),
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

// --- Ed25519 forgeries that only a strict verifier refuses ---

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;
const le32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const fromLe = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const Point = ed25519.Point;
/** The eight points of small order: multiples of one point of order 8. */
const ORDER_8 = Point.fromBytes(hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'));
const TORSION = Array.from({ length: 8 }, (_, i) => (i === 0 ? Point.ZERO : ORDER_8.multiplyUnsafe(BigInt(i))));
const setBit255 = (b: Uint8Array) => {
  const c = b.slice();
  c[31]! |= 0x80;
  return c;
};
/** Small-order keys as encoded canonically, and the non-canonical encodings ZIP-215 decoders accept. */
const WEAK_ED_KEYS: Array<[string, Uint8Array]> = [
  ...TORSION.map((p, i): [string, Uint8Array] => [`torsion point ${i}`, p.toBytes()]),
  ['identity as y = p + 1', le32(P + 1n)],
  ['order 4 as y = p', le32(P)],
  ['identity with the sign bit on x = 0', setBit255(le32(1n))],
  ['order 2 with the sign bit on x = 0', setBit255(le32(P - 1n))],
];

/**
 * A signature (R, s) under small-order key bytes `a` that satisfies the
 * cofactorless equation sB = R + kA (so OpenSSL and ZIP-215 accept it) for
 * `msg`: try R = sB − jA until k = H(R‖A‖M) ≡ j on A's small subgroup.
 */
const forge = (a: Uint8Array, msg: Uint8Array): Uint8Array => {
  const A = Point.fromBytes(a, true);
  for (let s = 1n; ; s++) {
    for (let j = 0n; j < 8n; j++) {
      const R = Point.BASE.multiply(s).subtract(A.multiplyUnsafe(j)).toBytes();
      const k = fromLe(sha512(Uint8Array.from([...R, ...a, ...msg]))) % L;
      if (A.multiplyUnsafe(k).equals(A.multiplyUnsafe(j))) return Uint8Array.from([...R, ...le32(s)]);
    }
  }
};

for (const suite of SUITES) {
  test(`${suite.name}: X25519 key agreement (RFC 7748 §6.1)`, (t) => {
    const alice = suite.x25519(hex(ALICE.secret));
    const bob = suite.x25519(hex(BOB.secret));
    t.is(toHex(alice.publicKey), ALICE.pub);
    t.is(toHex(bob.publicKey), BOB.pub);
    t.is(toHex(alice.agree(bob.publicKey)), SHARED);
    t.is(toHex(bob.agree(alice.publicKey)), SHARED);
  });

  test(`${suite.name}: X25519 scalar multiplication and the iterated vectors (RFC 7748 §5.2)`, (t) => {
    for (const v of X25519_MULT) t.is(toHex(suite.x25519(hex(v.scalar)).agree(hex(v.u))), v.out);
    // k, u ← X25519(k, u), k — exercises clamping of arbitrary scalars.
    let k = hex(`09${'00'.repeat(31)}`);
    let u = k;
    for (let i = 1; i <= 1000; i++) {
      [k, u] = [suite.x25519(k).agree(u), k];
      if (i === 1) t.is(toHex(k), X25519_ITERATED[1]);
    }
    t.is(toHex(k), X25519_ITERATED[1000]);
  });

  test(`${suite.name}: X25519 refuses every low-order point with WeakKeyError`, (t) => {
    const key = suite.x25519();
    for (const u of X25519_LOW_ORDER) {
      t.throws(() => key.agree(hex(u)), { name: 'WeakKeyError' }, u);
      t.throws(() => key.agree(setBit255(hex(u))), { name: 'WeakKeyError' }, `${u} with the top bit set`);
    }
    t.throws(() => key.agree(new Uint8Array(31)), { name: 'WeakKeyError' }, 'a malformed key');
    // The key still works after refusing.
    t.is(key.agree(suite.x25519(hex(BOB.secret)).publicKey).length, 32);
    t.throws(() => suite.x25519(new Uint8Array(31)), { instanceOf: RangeError });
  });

  test(`${suite.name}: Ed25519 (RFC 8032 §7.1 tests 1–3)`, (t) => {
    for (const v of ED) {
      const key = suite.ed25519FromSeed(hex(v.seed));
      t.is(toHex(key.publicKey), v.pub);
      t.is(toHex(key.sign(hex(v.msg))), v.sig);
      t.true(suite.ed25519Verify(hex(v.pub), hex(v.msg), hex(v.sig)));
      for (const bit of [0, 200, 511]) {
        const flipped = hex(v.sig);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        t.false(suite.ed25519Verify(hex(v.pub), hex(v.msg), flipped), `signature bit ${bit}`);
      }
      const otherKey = hex(v.pub);
      otherKey[0]! ^= 1;
      t.false(suite.ed25519Verify(otherKey, hex(v.msg), hex(v.sig)), 'another key');
      t.false(suite.ed25519Verify(hex(v.pub), utf8('other'), hex(v.sig)), 'another message');
    }
  });

  test(`${suite.name}: Ed25519 verify is false, never a throw, for malformed keys and signatures`, (t) => {
    const [v] = ED;
    const pub = hex(v!.pub);
    const msg = hex(v!.msg);
    const sig = hex(v!.sig);
    for (const k of [new Uint8Array(0), pub.slice(1), Uint8Array.from([...pub, 0])]) t.false(suite.ed25519Verify(k, msg, sig), `key of ${k.length} bytes`);
    for (const s of [new Uint8Array(0), sig.slice(1), Uint8Array.from([...sig, 0])]) t.false(suite.ed25519Verify(pub, msg, s), `signature of ${s.length} bytes`);
    // Not a point on the curve (no x for this y).
    t.false(suite.ed25519Verify(hex(`02${'00'.repeat(31)}`), msg, sig));
    // s + L: the same scalar, not reduced (RFC 8032 §5.1.7 requires s < L).
    const unreduced = Uint8Array.from([...sig.subarray(0, 32), ...le32(fromLe(sig.subarray(32)) + L)]);
    t.false(suite.ed25519Verify(pub, msg, unreduced));
    t.throws(() => suite.ed25519FromSeed(new Uint8Array(31)));
  });

  test(`${suite.name}: Ed25519 refuses small-order and non-canonical keys, even with a signature that satisfies the equation`, (t) => {
    const msg = utf8('transfer everything');
    for (const [what, key] of WEAK_ED_KEYS) {
      const sig = forge(key, msg);
      // The forgery is real: ZIP-215 (noble's default) accepts it.
      t.true(ed25519.verify(sig, msg, key, { zip215: true }), `${what}: forgery valid under ZIP-215`);
      t.false(suite.ed25519Verify(key, msg, sig), what);
    }
  });

  test(`${suite.name}: ChaCha20-Poly1305 (RFC 8439 §2.8.2)`, (t) => {
    const aead = suite.aead('chacha20-poly1305', hex(CHACHA.key));
    const sealed = aead.seal(hex(CHACHA.nonce), utf8(CHACHA.plaintext), hex(CHACHA.aad));
    t.is(toHex(sealed), CHACHA.ciphertext + CHACHA.tag);
    t.is(new TextDecoder().decode(aead.open(hex(CHACHA.nonce), hex(CHACHA.ciphertext + CHACHA.tag), hex(CHACHA.aad))), CHACHA.plaintext);
    t.is(aead.open(hex(CHACHA.nonce), sealed), undefined, 'without its AAD');
  });

  test(`${suite.name}: AES-256-GCM (GCM specification test cases 13–16)`, (t) => {
    for (const v of GCM) {
      const aead = suite.aead('aes-256-gcm', hex(v.key));
      const aad = v.aad ? hex(v.aad) : undefined;
      t.is(toHex(aead.seal(hex(v.iv), hex(v.plaintext), aad)), v.ciphertext + v.tag, `case ${v.name}`);
      const opened = aead.open(hex(v.iv), hex(v.ciphertext + v.tag), aad);
      t.is(opened && toHex(opened), v.plaintext, `case ${v.name} opens`);
    }
  });

  test(`${suite.name}: any change to sealed data, nonce or AAD fails to open`, (t) => {
    for (const cipher of CIPHERS) {
      const aead = suite.aead(cipher, hex(CHACHA.key));
      const nonce = hex(CHACHA.nonce);
      const aad = utf8('aad');
      const sealed = aead.seal(nonce, utf8('attack at dawn'), aad);
      t.is(sealed.length, 14 + 16);
      t.deepEqual(aead.open(nonce, sealed, aad), utf8('attack at dawn'));
      for (let i = 0; i < sealed.length; i++) {
        const bad = sealed.slice();
        bad[i]! ^= 0x80;
        t.is(aead.open(nonce, bad, aad), undefined, `${cipher} byte ${i}`);
      }
      for (let i = 0; i < nonce.length; i++) {
        const otherNonce = nonce.slice();
        otherNonce[i]! ^= 1;
        t.is(aead.open(otherNonce, sealed, aad), undefined, `${cipher} nonce byte ${i}`);
      }
      t.is(aead.open(nonce, sealed, utf8('AAD')), undefined);
      t.is(aead.open(nonce, sealed), undefined, 'AAD dropped');
      t.is(aead.open(nonce, sealed.subarray(0, sealed.length - 1), aad), undefined, 'truncated');
      t.is(aead.open(nonce, Uint8Array.from([...sealed, 0]), aad), undefined, 'extended');
      t.is(aead.open(nonce, sealed.slice(0, 10), aad), undefined, 'shorter than a tag');
      t.is(suite.aead(cipher, new Uint8Array(32).fill(1)).open(nonce, sealed, aad), undefined, 'another key');
      t.throws(() => suite.aead(cipher, new Uint8Array(16)), { instanceOf: RangeError });
    }
  });

  test(`${suite.name}: sealParts gives the bytes seal gives, however the plaintext is cut`, (t) => {
    fc.assert(
      fc.property(fc.constantFrom(...CIPHERS), fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(3000), { maxLength: 8 }), (cipher, plain, cuts) => {
        const aead = suite.aead(cipher, hex(CHACHA.key));
        const nonce = hex(CHACHA.nonce);
        const at = [...new Set(cuts.map((c) => c % (plain.length + 1)))].sort((a, b) => a - b);
        const parts = [...at, plain.length].map((end, i) => plain.subarray(i === 0 ? 0 : at[i - 1]!, end));
        const pieces = suite.aead(cipher, hex(CHACHA.key)).sealParts(nonce, parts);
        const joined = Uint8Array.from(pieces.flatMap((p) => [...p]));
        return pieces.at(-1)!.length === 16 && toHex(joined) === toHex(aead.seal(nonce, plain)) && toHex(aead.open(nonce, joined) ?? new Uint8Array(1)) === toHex(plain);
      }),
      { numRuns: 60 },
    );
    t.pass();
  });

  test(`${suite.name}: HKDF-SHA256 (RFC 5869 case 1), HMAC-SHA256 (RFC 4231 case 2), SHA-256 ("abc")`, (t) => {
    const okm = suite.hkdf(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    t.is(toHex(okm), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    // Case 2: long inputs, three blocks of output. Case 3: empty salt (HashLen zeros) and info.
    const run = (from: number) => Uint8Array.from({ length: 80 }, (_, i) => from + i);
    t.is(
      toHex(suite.hkdf(run(0x00), run(0x60), run(0xb0), 82)),
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    );
    t.is(toHex(suite.hkdf(hex('0b'.repeat(22)), new Uint8Array(0), new Uint8Array(0), 42)), '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
    t.is(toHex(suite.hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?'))), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    t.is(toHex(suite.sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    t.is(suite.randomBytes(24).length, 24);
    t.notDeepEqual(suite.randomBytes(16), suite.randomBytes(16));
  });

  test(`${suite.name}: every byte string returned is a plain Uint8Array`, (t) => {
    const x = suite.x25519();
    const e = suite.ed25519FromSeed(new Uint8Array(32));
    const a = suite.aead('aes-256-gcm', new Uint8Array(32));
    const sealed = a.seal(new Uint8Array(12), new Uint8Array(5));
    const outputs: Record<string, Uint8Array | undefined> = {
      randomBytes: suite.randomBytes(8),
      sha256: suite.sha256(new Uint8Array(1)),
      hmacSha256: suite.hmacSha256(new Uint8Array(1), new Uint8Array(1)),
      hkdf: suite.hkdf(new Uint8Array(1), new Uint8Array(1), new Uint8Array(1), 16),
      x25519Public: x.publicKey,
      agree: x.agree(suite.x25519().publicKey),
      edPublic: e.publicKey,
      sign: e.sign(new Uint8Array(1)),
      seal: sealed,
      open: a.open(new Uint8Array(12), sealed),
    };
    for (const [name, out] of Object.entries(outputs)) t.is(Object.getPrototypeOf(out), Uint8Array.prototype, name);
  });
}

test('the suites agree on fresh keys: X25519 both ways, each verifies the other’s signatures, each opens the other’s ciphertexts', (t) => {
  for (const [x, y] of PAIRS) {
    const ex = x.x25519();
    const ey = y.x25519();
    const shared = ex.agree(ey.publicKey);
    t.deepEqual(ey.agree(ex.publicKey), shared, `${x.name}↔${y.name} X25519`);
    const seed = x.randomBytes(32);
    const kx = x.ed25519FromSeed(seed);
    const ky = y.ed25519FromSeed(seed);
    t.deepEqual(kx.publicKey, ky.publicKey);
    const msg = x.randomBytes(100);
    const sig = kx.sign(msg);
    t.deepEqual(ky.sign(msg), sig, 'Ed25519 is deterministic');
    t.true(y.ed25519Verify(kx.publicKey, msg, sig), `${x.name} signs, ${y.name} verifies`);
    const bad = sig.slice();
    bad[0]! ^= 1;
    t.false(y.ed25519Verify(kx.publicKey, msg, bad));
    for (const cipher of CIPHERS) {
      const key = x.randomBytes(32);
      const nonce = x.randomBytes(12);
      const plain = x.randomBytes(1000);
      const sealed = x.aead(cipher, key).seal(nonce, plain, msg);
      const opener = y.aead(cipher, key);
      t.deepEqual(opener.open(nonce, sealed, msg), plain, `${cipher} ${x.name}→${y.name}`);
      const tampered = [sealed.length - 1, 0, 500].map((i) => {
        const b = sealed.slice();
        b[i]! ^= 4;
        return b;
      });
      for (const b of tampered) t.is(opener.open(nonce, b, msg), undefined, `${cipher} tampered ${x.name}→${y.name}`);
      t.is(opener.open(x.randomBytes(12), sealed, msg), undefined, 'another nonce');
      t.is(opener.open(nonce, sealed, msg.subarray(1)), undefined, 'another AAD');
    }
  }
});

test('property: X25519 with any 32 peer bytes gives the same secret, or WeakKeyError, in both suites', (t) => {
  const outcome = (suite: CryptoSuite, secret: Uint8Array, peer: Uint8Array) => {
    try {
      return toHex(suite.x25519(secret).agree(peer));
    } catch (err) {
      return (err as Error).name;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (secret, peer) => {
      t.is(outcome(nodeCrypto, secret, peer), outcome(nobleCrypto, secret, peer));
    }),
    { numRuns: 60 },
  );
});

test('property: HKDF-SHA256 gives the same bytes in both suites for any input and length', (t) => {
  const bytes = fc.uint8Array({ maxLength: 100 });
  fc.assert(
    fc.property(bytes, bytes, bytes, fc.integer({ min: 1, max: 300 }), (ikm, salt, info, length) => {
      t.deepEqual(nodeCrypto.hkdf(ikm, salt, info, length), nobleCrypto.hkdf(ikm, salt, info, length));
    }),
    { numRuns: 200 },
  );
  for (const length of [0, 255 * 32 + 1, 1.5]) t.throws(() => nodeCrypto.hkdf(new Uint8Array(1), new Uint8Array(1), new Uint8Array(1), length), { instanceOf: RangeError });
  t.is(nodeCrypto.hkdf(new Uint8Array(1), new Uint8Array(1), new Uint8Array(1), 255 * 32).length, 255 * 32);
});

test('node suite: the cache of peers\' verify keys changes no answer, also when it is full and drops keys', (t) => {
  const suite = makeNodeCrypto({ verifyKeyCacheEntries: 2 });
  const keys = [1, 2, 3].map((n) => nodeCrypto.ed25519FromSeed(new Uint8Array(32).fill(n)));
  const msg = utf8('the same message');
  const sigs = keys.map((k) => k.sign(msg));
  for (let round = 0; round < 3; round++) {
    for (const [i, key] of keys.entries()) {
      t.true(suite.ed25519Verify(key.publicKey, msg, sigs[i]!), `key ${i}, round ${round}`);
      t.false(suite.ed25519Verify(key.publicKey, msg, sigs[(i + 1) % keys.length]!), `key ${i} with another's signature, round ${round}`);
      t.false(suite.ed25519Verify(key.publicKey, utf8('another message'), sigs[i]!), `key ${i}, another message, round ${round}`);
    }
  }
  // Keys that differ in their last byte only are different keys, also while the first is cached.
  t.true(suite.ed25519Verify(keys[0]!.publicKey, msg, sigs[0]!));
  const near = keys[0]!.publicKey.slice();
  near[31]! ^= 1;
  t.false(suite.ed25519Verify(near, msg, sigs[0]!));
  // A weak key is refused before any cache lookup, however often it comes.
  const [what, weak] = WEAK_ED_KEYS[0]!;
  const forged = forge(weak, msg);
  for (let i = 0; i < 3; i++) t.false(suite.ed25519Verify(weak, msg, forged), what);
  const uncached = makeNodeCrypto({ verifyKeyCacheEntries: 0 });
  t.true(uncached.ed25519Verify(keys[0]!.publicKey, msg, sigs[0]!));
  t.false(uncached.ed25519Verify(keys[1]!.publicKey, msg, sigs[0]!));
});

test('nodeSigningKey over a host identity KeyObject signs as the seed does in both suites', (t) => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = Uint8Array.from(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
  // As runtime/identity.ts loads it: through PEM.
  const key = nodeSigningKey(createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })));
  const msg = utf8('hello');
  for (const suite of SUITES) {
    const fromSeed = suite.ed25519FromSeed(seed);
    t.deepEqual(key.publicKey, fromSeed.publicKey, suite.name);
    t.deepEqual(key.sign(msg), fromSeed.sign(msg), suite.name);
    t.true(suite.ed25519Verify(key.publicKey, msg, key.sign(msg)));
  }
  t.true(opensslVerify(null, msg, createPublicKey(privateKey), key.sign(msg)));
  t.throws(() => nodeSigningKey(createPublicKey(privateKey)), { instanceOf: TypeError });
  t.throws(() => nodeSigningKey(generateKeyPairSync('x25519').privateKey), { instanceOf: TypeError });
});

test('cipher preference: AES-256-GCM first only where /proc/cpuinfo shows AES instructions', (t) => {
  t.true(hasAesHardware('processor\t: 0\nflags\t\t: fpu sse2 aes avx2\n'));
  t.true(hasAesHardware('Features\t: fp asimd aes pmull sha1\n'));
  t.false(hasAesHardware('flags\t\t: fpu sse2 avx2 vaes_not\n'));
  t.false(hasAesHardware('model name\t: aes-less cpu\nflags\t\t: fpu\n'));
  t.deepEqual(preferredCiphers(true), ['aes-256-gcm', 'chacha20-poly1305']);
  t.deepEqual(preferredCiphers(false), ['chacha20-poly1305', 'aes-256-gcm']);
});
