/**
 * A keyed space as the saga sees it: entries `key → value` with a version, and
 * a summary tree over them that two sides compare to find where they differ.
 *
 * Merge rule (a last-writer-wins register per key, with deletions kept as
 * tombstones): of two entries of one key, the one with the greater
 * (clock, origin, digest) wins. The order is total, and merging is
 * commutative, associative and idempotent, so two sides that have pushed to
 * each other hold the same entries, whatever order their sagas ran in.
 *
 * Summary tree: each key falls in one of FINE_BUCKETS buckets by the first
 * FINE_BITS of SHA-256(key); a bucket's digest is SHA-256 of its entries'
 * digests in key order (UTF-8 byte order, SQLite's BINARY collation), 32 zero
 * bytes when empty; a coarser bucket's digest hashes its fine buckets' digests
 * in order, and the root is the coarsest (one bucket). Pure: hashing comes in
 * as a CryptoSuite.
 */
import type { CryptoSuite } from '../session/crypto.js';
import { FINE_BITS, FINE_BUCKETS } from './limits.js';

export interface SyncEntry {
  readonly key: string;
  readonly value: string;
  /** Hybrid logical clock of the write (ms since the epoch, or one more than the greatest clock seen). */
  readonly clock: number;
  /** Who wrote it (a VatId, or a name of the writer): breaks ties of clocks. */
  readonly origin: string;
  /** A tombstone: the key was deleted at `clock`. */
  readonly deleted: boolean;
}

/** An entry with what the saga derives from it (never taken from a peer: always computed here). */
export interface DigestedEntry extends SyncEntry {
  /** SHA-256 of the entry, lowercase hex. */
  readonly digest: string;
  /** Its fine bucket. */
  readonly bucket: number;
}

const encoder = new TextEncoder();
const ENTRY_CONTEXT = 'tribe saga entry v1\n';
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export const toHex = (bytes: Uint8Array): string => {
  let s = '';
  for (const b of bytes) s += HEX[b];
  return s;
};

const nibble = (c: number): number => (c <= 57 ? c - 48 : c - 87);

/** Lowercase hex to bytes (the caller checked it is hex). */
export const fromHex = (hex: string, out: Uint8Array = new Uint8Array(hex.length >> 1), at = 0): Uint8Array => {
  for (let i = 0; i < hex.length >> 1; i++) out[at + i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return out;
};

export const ZERO_DIGEST = '0'.repeat(64);

export const bucketOfKey = (crypto: CryptoSuite, key: string): number => {
  const h = crypto.sha256(encoder.encode(key));
  return ((h[0]! << 8) | h[1]!) >>> (16 - FINE_BITS);
};

export const entryDigest = (crypto: CryptoSuite, e: SyncEntry): string =>
  toHex(crypto.sha256(encoder.encode(ENTRY_CONTEXT + JSON.stringify([e.key, e.value, e.clock, e.origin, e.deleted ? 1 : 0]))));

export const digestEntry = (crypto: CryptoSuite, e: SyncEntry): DigestedEntry => ({
  key: e.key,
  value: e.value,
  clock: e.clock,
  origin: e.origin,
  deleted: e.deleted,
  digest: entryDigest(crypto, e),
  bucket: bucketOfKey(crypto, e.key),
});

/**
 * Whether `a` is after `b` in UTF-8 byte order (code point order), as SQLite's
 * BINARY collation compares them. JS's `>` compares UTF-16 units, which puts
 * U+E000..U+FFFF after every astral code point: the store's merge and this rule
 * would then pick different winners.
 */
const utf8After = (a: string, b: string): boolean => {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x > y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return i < a.length;
};

/** Whether `a` wins over `b` (entries of one key): greater clock, then origin (UTF-8 byte order, as the store compares), then digest. */
export const wins = (a: Pick<DigestedEntry, 'clock' | 'origin' | 'digest'>, b: Pick<DigestedEntry, 'clock' | 'origin' | 'digest'>): boolean =>
  a.clock !== b.clock ? a.clock > b.clock : a.origin !== b.origin ? utf8After(a.origin, b.origin) : a.digest > b.digest;

/** A fine bucket's digest from its entries' digests in key order. */
export const bucketDigest = (crypto: CryptoSuite, digests: readonly string[]): string => {
  if (digests.length === 0) return ZERO_DIGEST;
  const all = new Uint8Array(32 * digests.length);
  for (let i = 0; i < digests.length; i++) fromHex(digests[i]!, all, 32 * i);
  return toHex(crypto.sha256(all));
};

/** The fine digests of a space, FINE_BUCKETS × 32 bytes in bucket order (zeros for an empty bucket). */
export type FineDigests = Uint8Array;

export const emptyFine = (): FineDigests => new Uint8Array(32 * FINE_BUCKETS);

/** The digests of the 2^bits coarse buckets from the fine ones. bits = 0 gives [root]. */
export const coarseDigests = (crypto: CryptoSuite, fine: FineDigests, bits: number): string[] => {
  if (fine.length !== 32 * FINE_BUCKETS) throw new RangeError(`want ${FINE_BUCKETS} fine digests, got ${fine.length / 32}`);
  const per = 32 * (FINE_BUCKETS >>> bits);
  const out: string[] = [];
  for (let c = 0; c < 1 << bits; c++) out.push(toHex(crypto.sha256(fine.subarray(c * per, (c + 1) * per))));
  return out;
};

export const rootOf = (crypto: CryptoSuite, fine: FineDigests): string => coarseDigests(crypto, fine, 0)[0]!;

/** The fine buckets coarse bucket `c` covers at `bits`: [first, end). */
export const fineRange = (c: number, bits: number): readonly [number, number] => {
  const per = FINE_BUCKETS >>> bits;
  return [c * per, (c + 1) * per];
};

/** The summary level for a space of `count` entries: about ENTRIES_PER_BUCKET a bucket, at most FINE_BITS. */
export const summaryBits = (count: number, perBucket: number): number => {
  let bits = 0;
  while (bits < FINE_BITS && (count >>> bits) > perBucket) bits++;
  return bits;
};
