/**
 * VatIds: the self-authenticating name of a host. A VatId is the SHA-256 of the
 * host's raw 32-byte Ed25519 public key, in lowercase RFC 4648 base32 without
 * padding (52 characters): printable, case-stable, and safe in URLs and file
 * names. Whoever holds the key behind a VatId can prove it in a handshake, and
 * nobody else can (the handshake checks `vatIdOf(identityKey)` on both sides).
 */
import type { CryptoSuite } from './crypto.js';

export type VatId = string & { readonly __brand: 'VatId' };

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** 256 bits at 5 bits a character. */
export const VAT_ID_CHARS = 52;
const VAT_ID_PATTERN = /^[a-z2-7]{52}$/;

/** Lowercase RFC 4648 base32, no padding. */
export const base32 = (bytes: Uint8Array): string => {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
};

export const vatIdOf = (crypto: CryptoSuite, publicKey: Uint8Array): VatId =>
  base32(crypto.sha256(publicKey)) as VatId;

/**
 * How many leading characters name a host for people: in `tribe ps`, the host's
 * own output and error messages about sessions. 40 bits tell one person's hosts
 * apart at a glance; the full VatId is in `--json` output and in sturdy refs,
 * and only the full one is ever checked against a key.
 */
export const SHORT_ID_CHARS = 8;

export const shortVatId = (id: string): string => id.slice(0, SHORT_ID_CHARS);

/** The shape check only; whether a key stands behind it is the handshake's business. */
export const isVatId = (s: unknown): s is VatId => typeof s === 'string' && VAT_ID_PATTERN.test(s);
