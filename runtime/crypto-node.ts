/**
 * The CryptoSuite on node:crypto (OpenSSL): the hot path of every host. Raw
 * 32-byte keys become KeyObjects through fixed DER prefixes (PKCS#8 for
 * secrets) and JWK (public keys); per TOOLCHAIN.md that conversion is most of a
 * handshake's cost, so long-lived keys keep theirs inside their closures.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type CipherGCM,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto';
import { AEAD_KEY_BYTES, AEAD_TAG_BYTES, type Aead, type CipherName, type CryptoSuite, type SigningKey } from '../protocols/session/crypto.js';
import { WeakKeyError } from '../protocols/session/errors.js';

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const bytes = (b: Buffer | ArrayBuffer): Uint8Array => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.length));
const rawPublic = (key: KeyObject): Uint8Array => new Uint8Array(Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url'));
const publicFromRaw = (crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });

/** A SigningKey over an Ed25519 KeyObject (the host's identity key). */
export const nodeSigningKey = (privateKey: KeyObject): SigningKey => {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('nodeSigningKey needs an Ed25519 private key');
  const publicKey = rawPublic(privateKey);
  return { publicKey, sign: (message) => bytes(edSign(null, message, privateKey)) };
};

const allZero = (b: Uint8Array) => b.every((x) => x === 0);

const aead = (cipher: CipherName, key: Uint8Array): Aead => {
  if (key.length !== AEAD_KEY_BYTES) throw new RangeError(`${cipher} needs a ${AEAD_KEY_BYTES}-byte key`);
  const k = Buffer.from(key);
  return {
    seal(nonce, plaintext, aad) {
      const c = createCipheriv(cipher, k, nonce, { authTagLength: AEAD_TAG_BYTES } as never) as unknown as CipherGCM;
      if (aad) c.setAAD(aad, { plaintextLength: plaintext.length });
      const head = c.update(plaintext);
      const tail = c.final();
      const tag = c.getAuthTag();
      const out = new Uint8Array(head.length + tail.length + tag.length);
      out.set(head, 0);
      out.set(tail, head.length);
      out.set(tag, head.length + tail.length);
      return out;
    },
    open(nonce, sealed, aad) {
      if (sealed.length < AEAD_TAG_BYTES) return undefined;
      const body = sealed.subarray(0, sealed.length - AEAD_TAG_BYTES);
      try {
        const d = createDecipheriv(cipher, k, nonce, { authTagLength: AEAD_TAG_BYTES } as never) as unknown as DecipherGCM;
        d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
        if (aad) d.setAAD(aad, { plaintextLength: body.length });
        const head = d.update(body);
        const tail = d.final();
        return tail.length === 0 ? bytes(head) : bytes(Buffer.concat([head, tail]));
      } catch {
        return undefined;
      }
    },
  };
};

export const nodeCrypto: CryptoSuite = {
  name: 'node',
  randomBytes: (n) => bytes(randomBytes(n)),
  sha256: (data) => bytes(createHash('sha256').update(data).digest()),
  hmacSha256: (key, data) => bytes(createHmac('sha256', key).update(data).digest()),
  hkdf: (ikm, salt, info, length) => bytes(hkdfSync('sha256', ikm, salt, info, length)),
  x25519(secret) {
    const privateKey = secret
      ? createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' })
      : generateKeyPairSync('x25519').privateKey;
    return {
      publicKey: rawPublic(privateKey),
      agree(peer) {
        let shared: Uint8Array;
        try {
          shared = bytes(diffieHellman({ privateKey, publicKey: publicFromRaw('X25519', peer) }));
        } catch (err) {
          // OpenSSL refuses some low-order points itself (and malformed keys).
          throw new WeakKeyError('X25519 with a low-order or malformed public key', { cause: err });
        }
        if (allZero(shared)) throw new WeakKeyError('X25519 gave the all-zero secret (low-order point)');
        return shared;
      },
    };
  },
  ed25519FromSeed(seed) {
    return nodeSigningKey(createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
  },
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return edVerify(null, message, publicFromRaw('Ed25519', publicKey), signature);
    } catch {
      return false;
    }
  },
  aead,
};
