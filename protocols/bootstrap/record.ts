/**
 * A sister's record: who it is, where it listens, which process it is — signed
 * by its own identity key, so a record whose signature does not match its
 * VatId is a forgery, whoever wrote it. Records are what the registry directory
 * holds (one file per live sister) and what UDP announcements carry.
 *
 * The signed bytes are a fixed context string and the record's fields as JSON in
 * a fixed order: a verifier re-encodes the fields it parsed, so no field can be
 * added, dropped or reordered without breaking the signature.
 */
import type { CryptoSuite, SigningKey } from '../session/crypto.js';
import { base32, isVatId, type VatId, vatIdOf } from '../session/vat-id.js';
import { SisterRecordError } from './errors.js';

export const RECORD_VERSION = 1;
/** The most a record takes as text: it must fit one UDP announcement with room to spare. */
export const MAX_RECORD_CHARS = 1150;
const CONTEXT = 'tribe sister record v1\n';

export interface SisterRecord {
  readonly v: number;
  /** The tribe's id (tribeIdOf its secret): records of other tribes are not ours to use. */
  readonly tribe: string;
  readonly vatId: VatId;
  /** The raw Ed25519 public key, base32: vatIdOf(key) must be vatId. */
  readonly key: string;
  /** Its place in its machine's core (0 = the tribe home itself); members beyond the core size have higher slots. */
  readonly slot: number;
  /** `host:port` it listens on for other hosts. */
  readonly address: string;
  /** Its bridge ref (`tribe://<VatId>@host:port`), '' when it is no bridge. */
  readonly bridgeRef: string;
  readonly pid: number;
  /** When this process started (ms since the epoch): a newer record of the same slot replaces an older one. */
  readonly startedAt: number;
  /** Which machine (tribe home) it lives on: sisters of other machines are not spawned here. */
  readonly machine: string;
  readonly coreSize: number;
}

export interface SignedRecord {
  readonly record: SisterRecord;
  /** Ed25519 signature, base32. */
  readonly sig: string;
}

const FIELDS = ['v', 'tribe', 'vatId', 'key', 'slot', 'address', 'bridgeRef', 'pid', 'startedAt', 'machine', 'coreSize'] as const;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** Inverse of base32 (lowercase, unpadded); undefined for any other text. */
export const unbase32 = (text: string): Uint8Array | undefined => {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const i = ALPHABET.indexOf(ch);
    if (i < 0) return undefined;
    value = ((value << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
};

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The tribe's public id: the first 16 bytes of SHA-256 over its secret, hex. */
export const tribeIdOf = (crypto: CryptoSuite, secret: Uint8Array): string => hex(crypto.sha256(secret).subarray(0, 16));

const canonical = (r: SisterRecord): string => JSON.stringify(FIELDS.map((f) => r[f]));

const encoder = new TextEncoder();
const signedBytes = (r: SisterRecord) => encoder.encode(CONTEXT + canonical(r));

export const signRecord = (key: SigningKey, record: SisterRecord): SignedRecord => ({
  record,
  sig: base32(key.sign(signedBytes(record))),
});

const isInt = (n: unknown, min: number, max: number): n is number => Number.isInteger(n) && (n as number) >= min && (n as number) <= max;
const isText = (s: unknown, max: number): s is string => typeof s === 'string' && s.length <= max;

/** The record's fields checked for shape; throws SisterRecordError naming the first bad one. */
const parseFields = (raw: unknown): SisterRecord => {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SisterRecordError('a record is an object');
  const r = raw as Record<string, unknown>;
  const extra = Object.keys(r).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) throw new SisterRecordError(`unknown record field ${JSON.stringify(extra[0])}`);
  const bad = (field: string) => new SisterRecordError(`bad record field ${field}: ${JSON.stringify(r[field])?.slice(0, 80)}`);
  if (r['v'] !== RECORD_VERSION) throw bad('v');
  if (!isText(r['tribe'], 64) || !/^[0-9a-f]{32}$/.test(r['tribe'])) throw bad('tribe');
  if (!isVatId(r['vatId'])) throw bad('vatId');
  if (!isText(r['key'], 64) || !/^[a-z2-7]{52}$/.test(r['key'])) throw bad('key');
  if (!isInt(r['slot'], 0, 1023)) throw bad('slot');
  if (!isText(r['address'], 262) || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(r['address'])) throw bad('address');
  if (!isText(r['bridgeRef'], 330)) throw bad('bridgeRef');
  if (!isInt(r['pid'], 1, 2 ** 31)) throw bad('pid');
  if (!isInt(r['startedAt'], 0, 2 ** 53)) throw bad('startedAt');
  if (!isText(r['machine'], 128) || r['machine'] === '') throw bad('machine');
  if (!isInt(r['coreSize'], 1, 64)) throw bad('coreSize');
  return Object.fromEntries(FIELDS.map((f) => [f, r[f]])) as unknown as SisterRecord;
};

export type RecordCheck =
  | { readonly ok: true; readonly record: SisterRecord }
  | { readonly ok: false; readonly why: 'malformed' | 'forged' | 'other-tribe'; readonly detail: string };

/**
 * Checks a record read from a file or a datagram: its shape, that its key hashes
 * to its VatId, that the signature is that key's, and that it belongs to `tribe`.
 * Never throws.
 */
export const checkRecord = (crypto: CryptoSuite, tribe: string, text: string): RecordCheck => {
  if (text.length > MAX_RECORD_CHARS) return { ok: false, why: 'malformed', detail: `longer than ${MAX_RECORD_CHARS} characters` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, why: 'malformed', detail: 'not JSON' };
  }
  const p = parsed as { record?: unknown; sig?: unknown } | null;
  if (!p || typeof p !== 'object' || typeof p.sig !== 'string') return { ok: false, why: 'malformed', detail: 'no signature' };
  let record: SisterRecord;
  try {
    record = parseFields(p.record);
  } catch (err) {
    return { ok: false, why: 'malformed', detail: (err as Error).message };
  }
  const key = unbase32(record.key);
  const sig = unbase32(p.sig);
  if (key?.length !== 32 || vatIdOf(crypto, key as Uint8Array) !== record.vatId) {
    return { ok: false, why: 'forged', detail: `its key is not the key of ${record.vatId}` };
  }
  if (sig?.length !== 64 || !crypto.ed25519Verify(key as Uint8Array, signedBytes(record), sig as Uint8Array)) {
    return { ok: false, why: 'forged', detail: `its signature is not ${record.vatId}'s` };
  }
  if (record.tribe !== tribe) return { ok: false, why: 'other-tribe', detail: `of tribe ${record.tribe}` };
  return { ok: true, record };
};

export const encodeRecord = (signed: SignedRecord): string => JSON.stringify({ record: signed.record, sig: signed.sig });

/**
 * The swiss number of a sister's own sturdy ref, derived from the tribe's secret
 * and its VatId: every member can name every sister's Sister actor from its
 * record alone, and nobody without the secret can. So announcements and
 * registry records carry no capability.
 */
export const sisterSwiss = (crypto: CryptoSuite, secret: Uint8Array, vatId: string): string =>
  base32(crypto.hmacSha256(secret, encoder.encode(`tribe sister ref\n${vatId}`)).subarray(0, 20));
