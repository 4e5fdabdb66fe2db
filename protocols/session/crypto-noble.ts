/**
 * The portable CryptoSuite: @noble/* only, no platform code. It runs in
 * browsers and in deterministic simulation; the host uses node:crypto
 * (runtime/crypto-node.ts), which is ≈ 10–40× faster here. Known-answer tests
 * (test/unit/crypto-kat.test.ts) hold both to the RFC vectors and to each other.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { AEAD_KEY_BYTES, AEAD_TAG_BYTES, type Aead, type CipherName, type CryptoSuite } from './crypto.js';
import { WeakKeyError } from './errors.js';

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

const joinParts = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/**
 * RFC 8032 decoding, not noble's ed25519 default (ZIP-215, for consensus code):
 * a public key or R with y ≥ p is refused, and so is a small-order public key.
 * node:crypto's suite refuses the same keys, so both answer alike for any input.
 */
const STRICT = { zip215: false } as const;

export const nobleCrypto: CryptoSuite = {
  name: 'noble',
  randomBytes: (n) => randomBytes(n),
  sha256: (data) => sha256(data),
  hmacSha256: (key, data) => hmac(sha256, key, data),
  hkdf: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  x25519(secret) {
    if (secret && secret.length !== 32) throw new RangeError('an X25519 secret is 32 bytes');
    // A copy: the caller's array must not change the key after the fact.
    const priv = secret ? Uint8Array.from(secret) : randomBytes(32);
    const publicKey = x25519.getPublicKey(priv);
    return {
      publicKey,
      agree(peer) {
        let shared: Uint8Array;
        try {
          shared = x25519.getSharedSecret(priv, peer);
        } catch (err) {
          // noble refuses low-order points itself; name it as node's path does.
          throw new WeakKeyError('X25519 with a low-order or malformed public key', { cause: err });
        }
        if (allZero(shared)) throw new WeakKeyError('X25519 gave the all-zero secret (low-order point)');
        return shared;
      },
    };
  },
  ed25519FromSeed(seed) {
    if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
    const priv = Uint8Array.from(seed);
    return { publicKey: ed25519.getPublicKey(priv), sign: (message) => ed25519.sign(message, priv) };
  },
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, message, publicKey, STRICT);
    } catch {
      return false;
    }
  },
  aead(cipher: CipherName, key: Uint8Array): Aead {
    if (key.length !== AEAD_KEY_BYTES) throw new RangeError(`${cipher} needs a ${AEAD_KEY_BYTES}-byte key`);
    // A copy, as node's suite makes: later changes to the caller's array do not change the key.
    const k = Uint8Array.from(key);
    const make = cipher === 'aes-256-gcm' ? (n: Uint8Array, aad?: Uint8Array) => gcm(k, n, aad) : (n: Uint8Array, aad?: Uint8Array) => chacha20poly1305(k, n, aad);
    return {
      seal: (nonce, plaintext, aad) => make(nonce, aad).encrypt(plaintext),
      sealParts(nonce, parts) {
        // noble seals one array: join the parts (this suite is the portable one, not the fast one).
        const sealed = make(nonce).encrypt(parts.length === 1 ? (parts[0] as Uint8Array) : joinParts(parts));
        const at = sealed.length - AEAD_TAG_BYTES;
        return [sealed.subarray(0, at), sealed.subarray(at)];
      },
      open(nonce, sealed, aad) {
        try {
          return make(nonce, aad).decrypt(sealed);
        } catch {
          // noble throws on a tag mismatch (and on a malformed nonce, as node does): both are "does not open".
          return undefined;
        }
      },
    };
  },
};
