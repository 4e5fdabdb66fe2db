/**
 * The host's identity: an Ed25519 key pair made on first start and kept in the
 * home (PKCS#8 PEM, mode 0600). Its VatId is the SHA-256 of the raw public key
 * in lowercase RFC 4648 base32 without padding: self-authenticating, printable,
 * and safe in URLs and file names.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { base32, type VatId } from '../protocols/session/vat-id.js';
import { HomeError } from './errors.js';
import { homeFileError } from './home.js';

export type { VatId };
export { base32 };

export interface Identity {
  readonly vatId: VatId;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

export const vatIdOf = (publicKey: Uint8Array): VatId => base32(createHash('sha256').update(publicKey).digest()) as VatId;

const rawPublicKey = (key: KeyObject): Uint8Array => {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (!jwk.x) throw new HomeError('identity key is not an Ed25519 key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
};

export const loadOrCreateIdentity = (path: string): Identity & { created: boolean } => {
  let privateKey: KeyObject;
  let created = false;
  if (existsSync(path)) {
    try {
      privateKey = createPrivateKey(readFileSync(path));
    } catch (err) {
      throw new HomeError(`identity key ${path} is unreadable or corrupt: ${(err as Error).message}`, { cause: err });
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new HomeError(`identity key ${path} is not Ed25519`);
    // Only when needed: a read-only home can still be read (and is then refused, by name, elsewhere).
    if ((statSync(path).mode & 0o777) !== 0o600) chmodSync(path, 0o600);
  } else {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    // Written aside, then linked into place (which fails if a key appeared meanwhile, as
    // 'wx' did): a full disk never leaves a truncated key that later reads as corrupt.
    const aside = `${path}.${process.pid}.tmp`;
    try {
      writeFileSync(aside, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
      linkSync(aside, path);
    } catch (err) {
      throw homeFileError(path, 'write the identity key', err);
    } finally {
      rmSync(aside, { force: true });
    }
    created = true;
  }
  const publicKey = rawPublicKey(privateKey);
  return { vatId: vatIdOf(publicKey), publicKey, privateKey, created };
};
