/**
 * The wire form of a handed-on reference (docs/protocol.md, "Handoff").
 *
 * A CapTP message that first names, as the sender's export `slot`, a reference
 * whose owner is a third party carries one note per such slot in its `gifts`
 * field. The note names the owner and a nonce; the sender has asked the owner
 * to `provideFor(recipient, nonce, object)`, and the recipient asks the owner
 * `acceptFrom(donor, nonce)` to get the object over its own channel.
 *
 * Parties are named by their full id, `<VatId>/<endpoint>`: the 52-character
 * VatId of their host, and a vat name or '@host'. Every field is checked here
 * before use: a malformed note aborts the connection it came on.
 */
import { VAT_ID_CHARS } from '../protocols/session/vat-id.js';
import { NAME_PATTERN } from './names.js';

/** What a donor tells the recipient about one gift. */
export interface GiftTerms {
  /** The owner's full id, `<VatId>/<endpoint>`. */
  readonly owner: string;
  /** ≥ 128 random bits, lowercase base32 (26 characters for 16 bytes). */
  readonly nonce: string;
  /** Addresses ('host:port') where the owner's host may be dialled, filled in by the donor's host. */
  readonly hints?: readonly string[];
}

/**
 * What a sender tells the recipient about a durable object it sends: its owner
 * and its key, which the owner serves again after a restart (`revive(key)` on
 * the owner's bootstrap). No deposit is made: the key itself is the authority,
 * like a sturdy ref's swiss number, and never reaches user code.
 */
export interface DurableTerms {
  /** The owner's full id, `<VatId>/<endpoint>`. */
  readonly owner: string;
  /** `d:` or `r:`, then ≥ 128 random bits in lowercase base32. */
  readonly key: string;
  readonly hints?: readonly string[];
}

/** One gift note, as it travels in a message's `gifts` field. */
export interface GiftNote extends GiftTerms {
  /** The slot of the message that the gift stands for, as the sender wrote it (`o+N`). */
  readonly slot: string;
  readonly key?: undefined;
}
/** A durable object's note, in the same `gifts` field. */
export interface DurableNote extends DurableTerms {
  readonly slot: string;
  readonly nonce?: undefined;
}
/** What a message's `gifts` field holds: gifts (with a nonce) and durable objects (with a key). */
export type SlotNote = GiftNote | DurableNote;

/** A durable object's key: a kind instance (`d:`) or a durable vat's root (`r:`), 128 random bits in base32. */
export const DURABLE_KEY_PATTERN = /^[dr]:[a-z2-7]{26}$/;
/** Bytes of randomness in a nonce: 128 bits, as the issue of guessing one demands. */
export const NONCE_BYTES = 16;
/** base32 of NONCE_BYTES (26 characters); longer nonces are accepted up to 64 characters. */
export const NONCE_PATTERN = /^[a-z2-7]{26,64}$/;
/** `<VatId>/<endpoint>`: a VatId, then a vat name (names.ts) or '@host'. */
export const FULL_ID_PATTERN = new RegExp(`^[a-z2-7]{${VAT_ID_CHARS}}\\/(@host|${NAME_PATTERN.source.slice(1, -1)})$`);
/** Gift notes per message: one per new third-party reference in it; a message passing more is hostile. */
export const MAX_GIFTS_PER_MESSAGE = 1000;
/** Hints per note: a few addresses of one host. */
export const MAX_HINTS = 4;
const HINT_PATTERN = /^[A-Za-z0-9.:[\]_-]{1,64}$/;
const SLOT_PATTERN = /^o\+[0-9]{1,15}$/;

/** The host part of a full id. */
export const hostOf = (fullId: string): string => fullId.slice(0, fullId.indexOf('/'));
/** The endpoint part of a full id. */
export const endpointOf = (fullId: string): string => fullId.slice(fullId.indexOf('/') + 1);

const noteProblem = (g: unknown): string | undefined => {
  if (typeof g !== 'object' || g === null || Array.isArray(g)) return 'a gift note is not a record';
  const { slot, owner, nonce, key, hints } = g as Record<string, unknown>;
  if (typeof slot !== 'string' || !SLOT_PATTERN.test(slot)) return 'a gift note names a bad slot';
  if (typeof owner !== 'string' || !FULL_ID_PATTERN.test(owner)) return 'a gift note names a bad owner';
  if (key !== undefined) {
    if (nonce !== undefined) return 'a note carries both a nonce and a durable key';
    if (typeof key !== 'string' || !DURABLE_KEY_PATTERN.test(key)) return 'a durable note carries a bad key';
  } else if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) return 'a gift note carries a bad nonce';
  if (hints !== undefined) {
    if (!Array.isArray(hints) || hints.length > MAX_HINTS) return 'a gift note carries too many hints';
    if (!hints.every((h) => typeof h === 'string' && HINT_PATTERN.test(h))) return 'a gift note carries a bad hint';
  }
  return undefined;
};

/** Why a message's `gifts` field is malformed, or undefined when it is well formed. */
export const checkGiftNotes = (gifts: unknown): string | undefined => {
  if (!Array.isArray(gifts) || gifts.length === 0) return 'gifts is not a non-empty list';
  if (gifts.length > MAX_GIFTS_PER_MESSAGE) return `more than ${MAX_GIFTS_PER_MESSAGE} gift notes in one message`;
  for (const g of gifts) {
    const bad = noteProblem(g);
    if (bad) return bad;
  }
  return undefined;
};
