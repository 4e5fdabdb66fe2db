/**
 * Address hints: where a host may be dialed, as one host tells another in a
 * handed-on reference (a gift's `hints`). A hint is only ever dialed with the
 * owner's VatId as the wanted identity, so a wrong or hostile hint costs a
 * failed dial (NotMeError, DialError) and grants nothing; it is still bounded
 * in form and length because it comes from the network.
 *
 * Pure: no platform module, no I/O. The address book is what this host learned
 * about other hosts' addresses; `fillGiftHints` puts them on gifts that leave.
 */
import type { CapTPMessage } from '../../capabilities/captp-schema.js';
import type { GiftNote } from '../../capabilities/gift-notes.js';
import { isVatId, VAT_ID_CHARS, type VatId } from '../../protocols/session/vat-id.js';

/** A hint is 'host:port' or '[v6]:port'; a DNS name fits in 64 chars in practice, and anything longer from the network is not a hint. */
export const MAX_HINT_CHARS = 64;
/**
 * Peers whose address this host remembers (the last that worked). A host talks
 * to far fewer hosts than this; past it the oldest entry goes, so a stream of
 * peers cannot grow it.
 */
export const MAX_KNOWN_ADDRESSES = 1024;

/** Host names and IPv4 literals, or bracketed IPv6; then a port. Nothing else (no spaces, slashes, user info). */
const HINT_PATTERN = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$/;

/** `v` is a dialable hint: 'host:port' or '[v6]:port', at most MAX_HINT_CHARS, port 1-65535. */
export const isHint = (v: unknown): v is string => {
  if (typeof v !== 'string' || v.length > MAX_HINT_CHARS) return false;
  const m = HINT_PATTERN.exec(v);
  const port = Number(m?.[1]);
  return m !== null && port >= 1 && port <= 65535;
};

/**
 * How this host learned an address: by dialing it (proven), from a sturdy ref it
 * enlivened over a session it already had, or from the peer itself (`advertised()`
 * on its gateway, asked when the peer dialled in).
 */
export type AddressSource = 'dialed' | 'ref' | 'told';

/** VatId → the last address that worked for that host; bounded, the oldest entry out first. */
export interface AddressBook {
  /** A 'ref' or 'told' address never replaces a known one: a dialed address is proof, the others only a word. */
  remember(peer: VatId, address: string, source: AddressSource): void;
  get(peer: VatId): string | undefined;
  readonly size: number;
}

export const makeAddressBook = (maxEntries = MAX_KNOWN_ADDRESSES): AddressBook => {
  const known = new Map<VatId, string>();
  return {
    remember(peer, address, source) {
      if (source !== 'dialed' && known.has(peer)) return;
      // Delete first: a refreshed entry becomes the newest.
      known.delete(peer);
      known.set(peer, address);
      if (known.size > maxEntries) known.delete(known.keys().next().value as VatId);
    },
    get: (peer) => known.get(peer),
    get size() {
      return known.size;
    },
  };
};

/**
 * `msg` with `hints` filled in on each of its gifts that has none and whose
 * owner is not `peer` (the host the message goes to, which needs no address
 * for itself): this host, or a third host. `hintsFor(owner)` gives this host's
 * advertised address for itself and what it knows of others; a gift for whose
 * owner nothing is known stays without hints.
 *
 * A message without `gifts` (almost all of them) is returned as it is after one
 * property read. Otherwise a copy is returned when anything changed, so a
 * hardened message is never written to. A malformed gift is left as it is: our
 * own vats are trusted, and the receiver checks every gift's shape anyway.
 */
export const fillGiftHints = (msg: CapTPMessage, peer: VatId, hintsFor: (owner: VatId) => readonly string[]): CapTPMessage => {
  const gifts = (msg as { gifts?: unknown }).gifts;
  if (gifts === undefined || !Array.isArray(gifts)) return msg;
  let changed = false;
  const filled = gifts.map((gift: unknown) => {
    if (typeof gift !== 'object' || gift === null) return gift;
    const { owner, hints } = gift as Partial<GiftNote>;
    if (hints !== undefined || typeof owner !== 'string') return gift;
    const ownerId = owner.slice(0, VAT_ID_CHARS);
    if (owner[VAT_ID_CHARS] !== '/' || !isVatId(ownerId) || ownerId === peer) return gift;
    const known = hintsFor(ownerId);
    if (known.length === 0) return gift;
    changed = true;
    return { ...gift, hints: [...known] };
  });
  return changed ? ({ ...msg, gifts: filled } as CapTPMessage) : msg;
};
