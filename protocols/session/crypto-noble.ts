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
import { AEAD_KEY_BYTES, type Aead, type CipherName, type CryptoSuite } from './crypto.js';
import { WeakKeyError } from './errors.js';

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

export const nobleCrypto: CryptoSuite = {
  name: 'noble',
  randomBytes: (n) => randomBytes(n),
  sha256: (data) => sha256(data),
  hmacSha256: (key, data) => hmac(sha256, key, data),
  hkdf: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  x25519(secret) {
    const priv = secret ?? randomBytes(32);
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
    const priv = Uint8Array.from(seed);
    return { publicKey: ed25519.getPublicKey(priv), sign: (message) => ed25519.sign(message, priv) };
  },
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      // Strict RFC 8032 (as OpenSSL, the node suite, verifies), not noble's default
      // ZIP-215 rule: both suites must accept exactly the same signatures.
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
  aead(cipher: CipherName, key: Uint8Array): Aead {
    if (key.length !== AEAD_KEY_BYTES) throw new RangeError(`${cipher} needs a ${AEAD_KEY_BYTES}-byte key`);
    const make = cipher === 'aes-256-gcm' ? (n: Uint8Array, aad?: Uint8Array) => gcm(key, n, aad) : (n: Uint8Array, aad?: Uint8Array) => chacha20poly1305(key, n, aad);
    return {
      seal: (nonce, plaintext, aad) => make(nonce, aad).encrypt(plaintext),
      open(nonce, sealed, aad) {
        try {
          return make(nonce, aad).decrypt(sealed);
        } catch {
          return undefined;
        }
      },
    };
  },
};
