/**
 * docs/protocol.md §4.4, checked: what OpenSSL (node:crypto) accepts on its own,
 * which checks Tribe adds to it, and where the two suites' equations differ.
 * Every refusal below is paired with proof that the input is a real signature
 * to someone (raw OpenSSL, ZIP-215 or the cofactored equation), so a check that
 * went missing would show as an acceptance.
 */
import { createPublicKey, verify as opensslVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import test from 'ava';
import { nobleCrypto } from '../../protocols/session/crypto-noble.js';
import { nodeCrypto } from '../../runtime/crypto-node.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;
const le32 = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const fromLe = (b: Uint8Array): bigint => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
const setBit255 = (b: Uint8Array): Uint8Array => {
  const c = b.slice();
  c[31]! |= 0x80;
  return c;
};
const Point = ed25519.Point;
const MSG = new TextEncoder().encode('transfer everything');

/** Plain node:crypto, as a peer written against it would call it: no extra checks. */
const rawOpenssl = (key: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean => {
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(key).toString('base64url') };
  return opensslVerify(null, msg, createPublicKey({ key: jwk, format: 'jwk' }), sig);
};
const challenge = (r: Uint8Array, key: Uint8Array, msg: Uint8Array): bigint => fromLe(sha512(cat(r, key, msg))) % L;
/**
 * Row 6's cofactorless equation, by arithmetic: the canonical encoding of [S]B − [k]A
 * is R. What OpenSSL checks, without the checks node:crypto adds on some versions.
 */
const equationHolds = (key: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean => {
  const r = sig.subarray(0, 32);
  const sB = Point.BASE.multiply(fromLe(sig.subarray(32)));
  return toHex(sB.subtract(Point.fromBytes(key, true).multiplyUnsafe(challenge(r, key, msg))).toBytes()) === toHex(r);
};

/** The five y values (bit 255 cleared) that §4.4 lists, in its order. */
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
];
const ORDER_8 = Point.fromBytes(Buffer.from(SMALL_ORDER_Y[4]!, 'hex'));
const TORSION = Array.from({ length: 8 }, (_, i) => (i === 0 ? Point.ZERO : ORDER_8.multiplyUnsafe(BigInt(i))));

/**
 * A signature under key bytes `a` of small order, made without any secret:
 * R = sB − jA with k = H(R‖A‖M) ≡ j on A's subgroup, so sB = R + kA.
 */
const forge = (a: Uint8Array, msg: Uint8Array): Uint8Array => {
  const A = Point.fromBytes(a, true);
  for (let s = 1n; ; s++) {
    for (let j = 0n; j < 8n; j++) {
      const R = Point.BASE.multiply(s).subtract(A.multiplyUnsafe(j)).toBytes();
      if (A.multiplyUnsafe(challenge(R, a, msg)).equals(A.multiplyUnsafe(j))) return cat(R, le32(s));
    }
  }
};

// An honest key pair, with its secret scalar a (A = aB).
const SEED = new Uint8Array(32).fill(7);
const KEY = ed25519.getPublicKey(SEED);
const { scalar: A_SECRET } = ed25519.utils.getExtendedPublicKey(SEED);
/** A signature by the key holder with the R bytes chosen and r its discrete log (mod L). */
const signWithR = (rBytes: Uint8Array, r: bigint): Uint8Array => cat(rBytes, le32((r + challenge(rBytes, KEY, MSG) * A_SECRET) % L));

test('§4.4: the five listed y values are exactly the eight points of small order, bit 255 cleared', (t) => {
  const ys = new Set(TORSION.map((p) => toHex(p.toBytes().map((b, i) => (i === 31 ? b & 0x7f : b)))));
  t.deepEqual([...ys].sort(), [...SMALL_ORDER_Y].sort());
  for (const p of TORSION) t.true(p.multiplyUnsafe(8n).is0());
});

test('§4.4: keyless forgeries under small-order and non-canonical keys satisfy the equation OpenSSL checks; both Tribe suites refuse them', (t) => {
  const keys: Array<[string, Uint8Array]> = [
    ...TORSION.map((p, i): [string, Uint8Array] => [`${i}·T8`, p.toBytes()]),
    ['identity, sign bit set (x = 0)', setBit255(le32(1n))],
    ['order 2, sign bit set (x = 0)', setBit255(le32(P - 1n))],
    ['identity as y = p + 1', le32(P + 1n)],
    ['order 4 as y = p', le32(P)],
  ];
  for (const [what, key] of keys) {
    const sig = forge(key, MSG);
    // OpenSSL alone accepts these; node:crypto adds its own refusal of small-order keys on Node 24.
    t.true(equationHolds(key, MSG, sig), `${what}: the forgery satisfies the equation`);
    t.false(nodeCrypto.ed25519Verify(key, MSG, sig), `${what}: node suite`);
    t.false(nobleCrypto.ed25519Verify(key, MSG, sig), `${what}: noble suite`);
  }
});

test('§4.4: S must be below L, in OpenSSL and in both suites', (t) => {
  const good = ed25519.sign(MSG, SEED);
  const unreduced = cat(good.subarray(0, 32), le32(fromLe(good.subarray(32)) + L));
  t.true(rawOpenssl(KEY, MSG, good));
  t.false(rawOpenssl(KEY, MSG, unreduced));
  t.false(nodeCrypto.ed25519Verify(KEY, MSG, unreduced));
  t.false(nobleCrypto.ed25519Verify(KEY, MSG, unreduced));
});

test('§4.4: R is compared as bytes, so a non-canonical R never verifies (ZIP-215 accepts it)', (t) => {
  // R = the identity (r = 0), canonical: the equation holds (row 7 refuses it in hosts, below).
  const canonical = signWithR(le32(1n), 0n);
  t.true(equationHolds(KEY, MSG, canonical));
  t.true(nobleCrypto.ed25519Verify(KEY, MSG, canonical));
  for (const [what, r] of [
    ['y = p + 1', le32(P + 1n)],
    ['x = 0 with the sign bit', setBit255(le32(1n))],
  ] as const) {
    const sig = signWithR(r, 0n);
    t.true(ed25519.verify(sig, MSG, KEY, { zip215: true }), `${what}: valid under ZIP-215`);
    t.false(rawOpenssl(KEY, MSG, sig), `${what}: OpenSSL`);
    t.false(nodeCrypto.ed25519Verify(KEY, MSG, sig), `${what}: node suite`);
    t.false(nobleCrypto.ed25519Verify(KEY, MSG, sig), `${what}: noble suite`);
  }
});

test('§4.4: hosts refuse an R of small order (row 7), on every Node; the noble suite accepts it', (t) => {
  // With an honest key, R = the identity is the one small-order R that satisfies the equation (S = k·a).
  const identityR = signWithR(le32(1n), 0n);
  t.true(equationHolds(KEY, MSG, identityR), 'a signature to the key holder, by the equation');
  t.true(nobleCrypto.ed25519Verify(KEY, MSG, identityR), 'cofactored: accepted');
  t.false(nodeCrypto.ed25519Verify(KEY, MSG, identityR), 'hosts: refused, whatever node:crypto says');
  // The other small-order R values, either sign: refused before any arithmetic.
  for (const [i, p] of TORSION.entries()) {
    for (const sign of [0, 0x80]) {
      const r = p.toBytes();
      r[31]! = (r[31]! & 0x7f) | sign;
      t.false(nodeCrypto.ed25519Verify(KEY, MSG, signWithR(r, 0n)), `R = ${i}·T8, sign bit ${sign ? 'set' : 'clear'}`);
    }
  }
  // The control: an honest signature passes the same check.
  t.true(nodeCrypto.ed25519Verify(KEY, MSG, ed25519.sign(MSG, SEED)));
});

test('§4.4: hosts check the cofactorless equation; the noble suite the cofactored one (they differ only on a small-order part in R)', (t) => {
  const r = 12345n;
  const honest = signWithR(Point.BASE.multiply(r).toBytes(), r);
  t.true(nodeCrypto.ed25519Verify(KEY, MSG, honest));
  t.true(nobleCrypto.ed25519Verify(KEY, MSG, honest));
  for (let i = 1; i < 8; i++) {
    const sig = signWithR(Point.BASE.multiply(r).add(TORSION[i]!).toBytes(), r);
    t.false(rawOpenssl(KEY, MSG, sig), `R + ${i}·T8: OpenSSL`);
    t.false(nodeCrypto.ed25519Verify(KEY, MSG, sig), `R + ${i}·T8: node suite (hosts)`);
    t.true(nobleCrypto.ed25519Verify(KEY, MSG, sig), `R + ${i}·T8: noble suite`);
  }
});
