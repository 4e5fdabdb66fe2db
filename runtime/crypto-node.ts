/**
 * The CryptoSuite on node:crypto (OpenSSL): the hot path of every host. Raw
 * 32-byte keys become KeyObjects through fixed DER prefixes (PKCS#8 for
 * secrets) and JWK (public keys: ≈ 10 µs here, against ≈ 100 µs for SPKI DER,
 * whose OpenSSL 3 decoder is slow). Long-lived keys keep theirs: our own inside
 * their closures, peers' identity keys in a small cache of the suite
 * (`makeNodeCrypto`), since a host verifies the same few peers again and again.
 */
import { readFileSync } from 'node:fs';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign as edSign,
  verify as edVerify,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { AEAD_KEY_BYTES, AEAD_TAG_BYTES, type Aead, type CipherName, type CryptoSuite, type SigningKey } from '../protocols/session/crypto.js';
import { WeakKeyError } from '../protocols/session/errors.js';

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A plain Uint8Array over the same memory (callers compare and store Uint8Arrays, not Buffers). */
const bytes = (b: Buffer | ArrayBuffer): Uint8Array => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.length));
const rawPublicOf = (publicKey: KeyObject): Uint8Array => new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
const publicFromRaw = (crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('base64url') }, format: 'jwk' });

/** A SigningKey over an Ed25519 KeyObject (the host's identity key). */
export const nodeSigningKey = (privateKey: KeyObject): SigningKey => {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('nodeSigningKey needs an Ed25519 private key');
  const publicKey = rawPublicOf(createPublicKey(privateKey));
  return { publicKey, sign: (message) => bytes(edSign(null, message, privateKey)) };
};

// --- Ed25519 public keys OpenSSL accepts and RFC 8032 / the noble suite do not ---

/**
 * The y coordinates (little-endian, sign bit cleared) of the eight points of
 * order 1, 2, 4 and 8: with such a key one signature verifies for many messages,
 * so nobody holds it. libsodium refuses the same list; noble's strict mode
 * (crypto-noble.ts) refuses these points by arithmetic.
 */
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // order 1 (identity)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2 (y = p − 1)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
].map((h) => Buffer.from(h, 'hex'));

/** The y value of an encoded point: its 32 bytes with bit 255 (the sign of x) cleared. */
const yValue = (point: Uint8Array): Buffer => {
  const y = Buffer.from(point);
  y[31]! &= 0x7f;
  return y;
};
const isSmallOrder = (point: Uint8Array): boolean => {
  const y = yValue(point);
  return SMALL_ORDER_Y.some((small) => small.equals(y));
};

/**
 * OpenSSL decodes a public key with y ≥ p (reducing it) and verifies against
 * small-order keys; RFC 8032 §5.1.3 rejects the first, and the noble suite both.
 * Refusing them here keeps the two suites' answers identical for every input.
 */
const isStrictEd25519Key = (key: Uint8Array): boolean => {
  const y = yValue(key);
  // y ≥ p = 2^255 − 19: 0xed…0xff, then thirty 0xff, then 0x7f.
  if (y[0]! >= 0xed && y[31] === 0x7f && y.subarray(1, 31).every((b) => b === 0xff)) return false;
  return !isSmallOrder(key);
};

// --- AEAD ---

// The two branches are the same call: each narrows `cipher` to one literal so that
// TypeScript picks the overload typed with setAAD/getAuthTag (GCM vs ChaCha20-Poly1305).
const cipherFor = (cipher: CipherName, key: Buffer, nonce: Uint8Array) =>
  cipher === 'aes-256-gcm'
    ? createCipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_BYTES })
    : createCipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_BYTES });
const decipherFor = (cipher: CipherName, key: Buffer, nonce: Uint8Array) =>
  cipher === 'aes-256-gcm'
    ? createDecipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_BYTES })
    : createDecipheriv(cipher, key, nonce, { authTagLength: AEAD_TAG_BYTES });

/**
 * One cipher object per seal and per open: node:crypto cannot restart one
 * with a new nonce (≈ 2–3 µs to make one here; batching inner frames into
 * one Encrypted frame is what amortizes it). Sealing returns update()'s
 * output and the tag as they come, unjoined; opening returns update()'s output
 * itself (final() adds nothing for these two ciphers), so neither copies.
 */
const aead = (cipher: CipherName, key: Uint8Array): Aead => {
  if (key.length !== AEAD_KEY_BYTES) throw new RangeError(`${cipher} needs a ${AEAD_KEY_BYTES}-byte key`);
  const k = Buffer.from(key);
  const sealParts = (nonce: Uint8Array, parts: readonly Uint8Array[], aad?: Uint8Array): Uint8Array[] => {
    const c = cipherFor(cipher, k, nonce);
    if (aad) c.setAAD(aad, { plaintextLength: parts.reduce((n, p) => n + p.length, 0) });
    const out: Uint8Array[] = [];
    for (const p of parts) if (p.length > 0) out.push(c.update(p));
    const tail = c.final();
    if (tail.length > 0) out.push(tail);
    out.push(c.getAuthTag());
    return out;
  };
  return {
    seal(nonce, plaintext, aad) {
      const pieces = sealParts(nonce, [plaintext], aad);
      const out = new Uint8Array(plaintext.length + AEAD_TAG_BYTES);
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
    sealParts: (nonce, parts) => sealParts(nonce, parts),
    open(nonce, sealed, aad) {
      if (sealed.length < AEAD_TAG_BYTES) return undefined;
      const body = sealed.subarray(0, sealed.length - AEAD_TAG_BYTES);
      try {
        const d = decipherFor(cipher, k, nonce);
        d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
        if (aad) d.setAAD(aad, { plaintextLength: body.length });
        const head = d.update(body);
        const tail = d.final(); // throws when the tag does not verify
        return tail.length === 0 ? bytes(head) : bytes(Buffer.concat([head, tail]));
      } catch {
        return undefined;
      }
    },
  };
};

// --- X25519 ---

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

/**
 * A fresh X25519 pair whose public half the key generation encodes itself.
 * Exporting it from the KeyObject afterwards can hang Node 20 for good: the JWK
 * export holds the key's mutex while it allocates, the allocation may run a GC,
 * and the GC finalizes the finished generation job, whose destructor takes that
 * same mutex. A loop of generate-then-export hung within a few thousand keys in
 * most runs here; encoded inside the job, the key is exported while the job lives.
 */
const freshX25519 = (): { privateKey: KeyObject; publicKey: Uint8Array } => {
  // @types/node types only a KeyObject pair when the private half has no encoding.
  const pair = generateKeyPairSync('x25519', { publicKeyEncoding: { format: 'jwk' } }) as unknown as { privateKey: KeyObject; publicKey: JsonWebKey };
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(Buffer.from(pair.publicKey.x!, 'base64url')) };
};

const x25519 = (secret?: Uint8Array) => {
  let privateKey: KeyObject;
  let publicKey: Uint8Array;
  if (secret) {
    if (secret.length !== 32) throw new RangeError('an X25519 secret is 32 bytes');
    privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
    publicKey = rawPublicOf(createPublicKey(privateKey));
  } else ({ privateKey, publicKey } = freshX25519());
  return {
    publicKey,
    agree(peer: Uint8Array): Uint8Array {
      let shared: Uint8Array;
      try {
        shared = bytes(diffieHellman({ privateKey, publicKey: publicFromRaw('X25519', peer) }));
      } catch (err) {
        // OpenSSL refuses the all-zero result itself (and malformed keys).
        throw new WeakKeyError('X25519 with a low-order or malformed public key', { cause: err });
      }
      if (allZero(shared)) throw new WeakKeyError('X25519 gave the all-zero secret (low-order point)');
      return shared;
    },
  };
};

const SHA256_BYTES = 32;
/** RFC 5869: at most 255 blocks of output. */
const MAX_HKDF_BYTES = 255 * SHA256_BYTES;

/**
 * HKDF-SHA256 (RFC 5869, extract then expand) on createHmac. hkdfSync costs
 * ≈ 15 µs a call here (a KeyObject and a job each time), these two HMACs ≈ 5 µs;
 * a handshake derives three keys per side, and every rekey one more. An empty
 * salt is the RFC's HashLen zeros: HMAC pads its key with zeros either way.
 */
const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array => {
  if (!Number.isSafeInteger(length) || length < 1 || length > MAX_HKDF_BYTES) throw new RangeError(`HKDF-SHA256 gives 1–${MAX_HKDF_BYTES} bytes, not ${length}`);
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const out = new Uint8Array(length);
  let block: Buffer = Buffer.alloc(0);
  for (let i = 1, at = 0; at < length; i++, at += SHA256_BYTES) {
    const h = createHmac('sha256', prk).update(block).update(info).update(Uint8Array.of(i));
    block.fill(0);
    block = h.digest();
    out.set(length - at < SHA256_BYTES ? block.subarray(0, length - at) : block, at);
  }
  prk.fill(0);
  block.fill(0);
  return out;
};

/** Peers' identity keys whose KeyObjects are kept: a host's usual peers and then some. Public values only. */
export const VERIFY_KEY_CACHE_ENTRIES = 256;

/**
 * A CryptoSuite on node:crypto with its own cache of peers' Ed25519 KeyObjects
 * (at most `verifyKeyCacheEntries`, the oldest dropped first). The cache maps
 * exact raw key bytes to the key made from them, after the strict checks, so it
 * changes no answer, only what it costs.
 */
export const makeNodeCrypto = (opts: { verifyKeyCacheEntries?: number } = {}): CryptoSuite => {
  const max = opts.verifyKeyCacheEntries ?? VERIFY_KEY_CACHE_ENTRIES;
  const verifyKeys = new Map<string, KeyObject>();
  const verifyKeyOf = (raw: Uint8Array): KeyObject => {
    const id = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('base64url');
    let key = verifyKeys.get(id);
    if (!key) {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: id }, format: 'jwk' });
      if (max > 0) {
        if (verifyKeys.size >= max) verifyKeys.delete(verifyKeys.keys().next().value as string);
        verifyKeys.set(id, key);
      }
    }
    return key;
  };
  return {
    name: 'node',
    randomBytes: (n) => bytes(randomBytes(n)),
    sha256: (data) => bytes(createHash('sha256').update(data).digest()),
    hmacSha256: (key, data) => bytes(createHmac('sha256', key).update(data).digest()),
    hkdf,
    x25519,
    ed25519FromSeed(seed) {
      if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
      return nodeSigningKey(createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
    },
    ed25519Verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64 || !isStrictEd25519Key(publicKey)) return false;
      // An R of small order (docs/protocol.md §4.4, row 7): node:crypto refuses it itself on
      // Node 24 (nodejs/node#64026), not on 20 or 22; checked here, every Node answers alike.
      if (isSmallOrder(signature.subarray(0, 32))) return false;
      try {
        return edVerify(null, message, verifyKeyOf(publicKey), signature);
      } catch {
        return false;
      }
    },
    aead,
  };
};

/** The suite a host uses. */
export const nodeCrypto: CryptoSuite = makeNodeCrypto();

// --- cipher preference ---

/**
 * Whether this CPU has AES instructions: the x86 `aes` flag or the arm64 `aes`
 * feature in /proc/cpuinfo. Elsewhere (no /proc) we cannot tell, and answer no.
 */
export const hasAesHardware = (cpuinfo?: string): boolean => {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return false;
    }
  }
  return /^(flags|Features)\s*:.*\baes\b/m.test(text);
};

/**
 * The ciphers in this host's preference order: AES-256-GCM first where the CPU
 * has AES instructions (there it costs about half of ChaCha20-Poly1305 per byte
 * in OpenSSL: docs/performance.md), ChaCha20-Poly1305 first elsewhere, where
 * software AES is slow and not constant-time. A responder picks by its own
 * order among what the initiator offers, so both sides get the accepting host's choice.
 */
export const preferredCiphers = (aes = hasAesHardware()): readonly CipherName[] =>
  aes ? ['aes-256-gcm', 'chacha20-poly1305'] : ['chacha20-poly1305', 'aes-256-gcm'];
