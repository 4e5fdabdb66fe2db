/**
 * The cryptography the session layer needs, as one interface with two
 * implementations: `runtime/crypto-node.ts` (node:crypto, the hot path) and
 * `protocols/session/crypto-noble.ts` (@noble/*, pure JS: browsers and
 * deterministic simulation). test/unit/crypto-kat.test.ts runs the RFC
 * known-answer vectors through both and checks they agree with each other.
 *
 * All byte strings are Uint8Array. Functions never return key material they were
 * not asked for; failures are exceptions, except AEAD `open`, which returns
 * undefined on an authentication failure (the caller names the error).
 */

export const CIPHERS = ['chacha20-poly1305', 'aes-256-gcm'] as const;
export type CipherName = (typeof CIPHERS)[number];

/** 96-bit nonces and 128-bit tags for both ciphers. */
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
export const AEAD_KEY_BYTES = 32;

export interface Aead {
  /** ciphertext ‖ tag. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /**
   * Seals the concatenation of `parts` (no AAD) without joining them: returns
   * the ciphertext in one or more pieces, then the 16-byte tag, to be written
   * in that order (the bytes `seal` would return). Reads `parts` only during
   * the call. The data path uses this, so a batch of inner frames and large
   * payloads are not copied into one plaintext first.
   */
  sealParts(nonce: Uint8Array, parts: readonly Uint8Array[]): Uint8Array[];
  /** The plaintext, or undefined when the tag does not verify. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array | undefined;
}

/** An X25519 key pair whose secret never leaves it. */
export interface EphemeralKey {
  readonly publicKey: Uint8Array;
  /** The shared secret with `peerPublicKey`; throws when it is all zero (a low-order point). */
  agree(peerPublicKey: Uint8Array): Uint8Array;
}

/** An Ed25519 identity key pair whose secret never leaves it. */
export interface SigningKey {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface CryptoSuite {
  readonly name: string;
  randomBytes(n: number): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-SHA256 (RFC 5869), extract then expand. */
  hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** A fresh X25519 key pair; `secret` (32 bytes) only for known-answer tests. */
  x25519(secret?: Uint8Array): EphemeralKey;
  /** An Ed25519 key pair from its 32-byte seed (RFC 8032 "private key"). */
  ed25519FromSeed(seed: Uint8Array): SigningKey;
  /** false for a wrong signature, a malformed key or a malformed signature; never throws. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  aead(cipher: CipherName, key: Uint8Array): Aead;
}
