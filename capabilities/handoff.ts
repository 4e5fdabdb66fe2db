/**
 * Three-party handoff: a reference that reaches a party through a third one
 * becomes a direct reference to its owner (docs/architecture.md, "Handoff";
 * the wire form is in gift-notes.ts and docs/protocol.md).
 *
 * Every party that holds CapTP connections — a vat, or a host — has one
 * `Handoffs`. It plays three roles, by connection:
 * - **donor**: when a connection first sends the peer a reference imported from
 *   another link, `give` deposits a gift with that reference's owner
 *   (`provideFor(recipient, nonce, object)`, on the owner's bootstrap) and
 *   returns the note the message carries;
 * - **recipient**: `take` asks for a link to the owner (the host introduces, or
 *   dials its host) and claims the gift (`acceptFrom(donor, nonce)`), which
 *   answers with the object over that link — the same presence as any other
 *   route to it;
 * - **owner**: `gate(peer)` gives the two methods a peer's bootstrap object
 *   offers, bound to that peer's id, over one table of gifts and waiting claims.
 *
 * Rules of the owner's table (HandoffLimits bound each): a gift is claimed once,
 * only by the recipient it was given for, naming its donor; a claim may come
 * first and waits (bounded) for its gift; an unclaimed gift expires and frees
 * its entry; a donor holds a bounded number of pending gifts, and a recipient a
 * bounded number of waiting claims per donor, so one peer's flood leaves others alone.
 * Refusals are named (GiftRefusedError, GiftClaimedError, GiftExpiredError,
 * GiftLimitError). A claim whose owner goes away breaks with that link's end
 * (VatTerminatedError, SessionLostError).
 *
 * Failure never loses the reference: a gift that cannot be claimed leaves it a
 * proxy through the donor, as CapTP alone would (connection.ts).
 */
import { E, passStyleOf } from '@endo/far';
import type { Connection, HandoffPort } from './connection.js';
import { describeError, GiftClaimedError, GiftExpiredError, GiftLimitError, GiftRefusedError, passableError } from './errors.js';
import { answerWithin } from './deadline.js';
import { type DurableRefs, type DurableSource, makeDurableRefs } from './durable-refs.js';
import { FULL_ID_PATTERN, type GiftNote, type GiftTerms, NONCE_PATTERN } from './gift-notes.js';

export interface HandoffLimits {
  /** Gifts one donor may have waiting here for their claims: a busy donor hands on hundreds at once. */
  readonly maxGiftsPerDonor: number;
  /**
   * Claims one recipient may have waiting here for gifts of one donor (they arrive within
   * milliseconds). Per donor: a donor that writes notes naming no real gift (claims that can only
   * wait and expire) uses up its own share of the recipient's claims, not other donors'.
   */
  readonly maxClaimsPerRecipient: number;
  /** Claims waiting here in all, whoever makes them: what bounds the table's memory. */
  readonly maxClaims: number;
  /** How long a gift waits for its claim: a recipient that dials a new host claims within seconds. */
  readonly giftTtlMs: number;
  /** How long a claim waits for its gift: the donor sends the gift as it sends the note. */
  readonly claimWaitMs: number;
  /** Claimed nonces remembered, so that a replay is refused by name rather than as unknown. */
  readonly claimedMemory: number;
  /** How long a durable reference waits for its owner's `revive` answer after reaching it again (durable-refs.ts). */
  readonly reviveWithinMs: number;
}

export const DEFAULT_HANDOFF_LIMITS: HandoffLimits = Object.freeze({
  maxGiftsPerDonor: 1024,
  maxClaimsPerRecipient: 1024,
  maxClaims: 16_384,
  giftTtlMs: 60_000,
  claimWaitMs: 10_000,
  claimedMemory: 4096,
  reviveWithinMs: 20_000,
});

/** One CapTP connection to a peer, as handoff sees it. */
export interface Link {
  /** The peer's full id, `<VatId>/<endpoint>`. */
  readonly id: string;
  readonly conn: Connection;
  /** The peer's bootstrap object, where `provideFor` and `acceptFrom` go. */
  boot(): Promise<any>;
}

export interface HandoffClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface HandoffOptions {
  /** This party's full id. */
  readonly self: string;
  /** A fresh nonce (≥ 128 random bits, lowercase base32). */
  readonly nonce: () => string;
  readonly clock: HandoffClock;
  readonly limits?: Partial<HandoffLimits>;
  /**
   * A link to `owner` on which to claim a gift from `donor`, made if there is
   * none: the host introduces two of its vats, or reaches another host
   * (HandoffUnreachableError when it cannot).
   */
  readonly reach: (owner: string, hints: readonly string[] | undefined, donor: string) => Promise<Reached>;
  /** This party's own durable objects, if it keeps any (a durable vat): read when needed. */
  readonly durable?: () => DurableSource | undefined;
}

/** A link to a gift's owner, and whom to tell how the claim ended (the host's rendezvous machine). */
export interface Reached {
  readonly link: Link;
  settled?(outcome: 'direct' | 'proxied', why?: string): void;
}

export interface HandoffStats {
  /** Gifts deposited here by donors, and claimed, expired or refused. */
  readonly provided: number;
  readonly claimed: number;
  readonly expired: number;
  readonly refused: number;
  /** Gifts waiting for their claim, and claims waiting for their gift, now. */
  readonly pending: number;
  readonly waiting: number;
  /** Gifts this party deposited as a donor. */
  readonly given: number;
}

export interface GiftGate {
  provideFor(recipient: unknown, nonce: unknown, obj: unknown): void;
  acceptFrom(donor: unknown, nonce: unknown): unknown;
  /** One of this party's durable objects, by the key its note carried (durable-refs.ts). */
  revive(key: unknown): unknown;
}

export interface Handoffs {
  /** Records that `val` arrived over `link` (each connection's `onImport`); the first link a presence came by is its owner. */
  imported(val: unknown, link: Link): void;
  /** The connection hooks for the link `link()` names (read lazily: the link holds the connection being made). */
  port(link: () => Link): HandoffPort;
  /** `provideFor`, `acceptFrom` and `revive`, for the bootstrap object a peer with full id `peer` gets. */
  gate(peer: string): GiftGate;
  stats(): HandoffStats;
  /** Durable references: this party's durable presences, and the notes of its durable objects. */
  readonly durable: DurableRefs;
}

interface Gift {
  readonly donor: string;
  readonly recipient: string;
  readonly obj: unknown;
  readonly timer: unknown;
}
interface Claim {
  readonly donor: string;
  readonly recipient: string;
  readonly resolve: (obj: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: unknown;
}

export const makeHandoffs = (opts: HandoffOptions): Handoffs => {
  const limits: HandoffLimits = { ...DEFAULT_HANDOFF_LIMITS, ...opts.limits };
  const { clock } = opts;
  const origin = new WeakMap<object, Link>();
  const gifts = new Map<string, Gift>();
  const claims = new Map<string, Claim>();
  const claimedNonces = new Set<string>();
  const giftsBy = new Map<string, number>();
  const claimsBy = new Map<string, number>();
  const counts = { provided: 0, claimed: 0, expired: 0, refused: 0, given: 0 };

  const bump = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };
  const remember = (nonce: string) => {
    claimedNonces.add(nonce);
    if (claimedNonces.size > limits.claimedMemory) claimedNonces.delete(claimedNonces.values().next().value!);
  };
  const refused = (err: Error): never => {
    counts.refused += 1;
    throw passableError(err);
  };
  const takeGift = (nonce: string, g: Gift) => {
    gifts.delete(nonce);
    clock.clearTimeout(g.timer);
    bump(giftsBy, g.donor, -1);
    remember(nonce);
    counts.claimed += 1;
    return g.obj;
  };
  const dropClaim = (nonce: string, c: Claim) => {
    claims.delete(nonce);
    clock.clearTimeout(c.timer);
    bump(claimsBy, `${c.recipient}\u0000${c.donor}`, -1);
  };

  const durable = makeDurableRefs({
    self: opts.self,
    // Revival is the recipient reaching an owner on its own behalf: it is its own "donor".
    reach: (owner, hints) => opts.reach(owner, hints, opts.self),
    source: () => opts.durable?.(),
    reviveWithinMs: limits.reviveWithinMs,
    clock,
  });

  const gate = (peer: string): GiftGate => ({
    revive: (key) => durable.serve(key),
    /** Called by a donor (`peer`): hold `obj`, one of ours, for `recipient` to claim with `nonce`. */
    provideFor(recipient, nonce, obj) {
      if (typeof recipient !== 'string' || !FULL_ID_PATTERN.test(recipient)) refused(new GiftRefusedError('provideFor names a malformed recipient'));
      if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) refused(new GiftRefusedError('provideFor carries a malformed nonce'));
      const r = recipient as string;
      const n = nonce as string;
      // Normally one of ours; a reference this party itself holds from elsewhere is
      // served as a proxy from here, which is still shorter than through the donor.
      if (passStyleOf(obj) !== 'remotable') refused(new GiftRefusedError('only references (not promises or data) can be gifts'));
      if (claimedNonces.has(n)) refused(new GiftClaimedError('this nonce was already claimed'));
      if (gifts.has(n)) refused(new GiftRefusedError('this nonce already names a gift'));
      const waiting = claims.get(n);
      if (waiting) {
        dropClaim(n, waiting);
        if (waiting.recipient === r && waiting.donor === peer) {
          remember(n);
          counts.provided += 1;
          counts.claimed += 1;
          waiting.resolve(obj);
          return;
        }
        counts.refused += 1;
        waiting.reject(passableError(new GiftRefusedError('the gift for this nonce names another donor or recipient')));
      }
      if ((giftsBy.get(peer) ?? 0) >= limits.maxGiftsPerDonor) {
        refused(new GiftLimitError(`${peer} has ${limits.maxGiftsPerDonor} gifts waiting here already`));
      }
      const timer = clock.setTimeout(() => {
        const g = gifts.get(n);
        if (!g || g.timer !== timer) return;
        gifts.delete(n);
        bump(giftsBy, g.donor, -1);
        counts.expired += 1;
      }, limits.giftTtlMs);
      gifts.set(n, { donor: peer, recipient: r, obj, timer });
      bump(giftsBy, peer, 1);
      counts.provided += 1;
    },
    /** Called by a recipient (`peer`): the object `donor` left here for it under `nonce`, once. */
    acceptFrom(donor, nonce) {
      if (typeof donor !== 'string' || !FULL_ID_PATTERN.test(donor)) refused(new GiftRefusedError('acceptFrom names a malformed donor'));
      if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) refused(new GiftRefusedError('acceptFrom carries a malformed nonce'));
      const d = donor as string;
      const n = nonce as string;
      if (claimedNonces.has(n)) refused(new GiftClaimedError('this nonce was already claimed'));
      const gift = gifts.get(n);
      if (gift) {
        // A wrong claimant does not burn the gift: its recipient can still claim it.
        if (gift.recipient !== peer) refused(new GiftRefusedError('this gift is for another recipient'));
        if (gift.donor !== d) refused(new GiftRefusedError('this gift was given by another donor'));
        return takeGift(n, gift);
      }
      if (claims.has(n)) refused(new GiftRefusedError('another claim for this nonce is already waiting'));
      const pair = `${peer}\u0000${d}`;
      if ((claimsBy.get(pair) ?? 0) >= limits.maxClaimsPerRecipient) {
        refused(new GiftLimitError(`${peer} has ${limits.maxClaimsPerRecipient} claims of gifts from ${d} waiting here already`));
      }
      if (claims.size >= limits.maxClaims) refused(new GiftLimitError(`${limits.maxClaims} claims are waiting here already`));
      return new Promise((resolve, reject) => {
        const timer = clock.setTimeout(() => {
          const c = claims.get(n);
          if (!c || c.timer !== timer) return;
          dropClaim(n, c);
          counts.expired += 1;
          reject(passableError(new GiftExpiredError(`no gift arrived for this claim within ${limits.claimWaitMs} ms`)));
        }, limits.claimWaitMs);
        claims.set(n, { donor: d, recipient: peer, resolve, reject, timer });
        bump(claimsBy, pair, 1);
      });
    },
  });

  /**
   * How long a recipient waits for an owner's answer to its claim: an honest owner
   * answers within its own claimWaitMs; one that never answers must not hold the
   * donor's messages (which wait for the claim) for ever.
   */
  const claimDeadlineMs = 2 * limits.claimWaitMs;

  const port = (link: () => Link): HandoffPort => ({
    give(val) {
      if (typeof val !== 'object' || val === null) return undefined;
      // A durable object (ours, or a durable presence) travels as its key: no deposit, and it revives.
      const terms = durable.termsOf(val);
      if (terms) return terms;
      const from = origin.get(val);
      const to = link();
      if (!from || from.id === to.id || from.conn.aborted) return undefined;
      const nonce = opts.nonce();
      counts.given += 1;
      // Sent at once on the owner's link; the recipient's claim waits for it if it is late.
      // A refused provide leaves the recipient's claim to fail, and the slot a proxy.
      E(from.boot())
        .provideFor(to.id, nonce, val)
        .catch(() => {});
      const gift: GiftTerms = { owner: from.id, nonce };
      return gift;
    },
    revivable: (note, direct) => durable.imported(note, direct, link()),
    async take(note: GiftNote) {
      const donor = link().id;
      if (note.owner === opts.self || note.owner === donor) {
        throw new GiftRefusedError('a gift note names the recipient or the donor itself as owner');
      }
      const reached = await opts.reach(note.owner, note.hints, donor);
      try {
        const obj = await answerWithin(
          clock,
          E(reached.link.boot()).acceptFrom(donor, note.nonce),
          claimDeadlineMs,
          () => new GiftExpiredError(`the owner did not answer the claim within ${claimDeadlineMs} ms`),
        );
        if (passStyleOf(obj) !== 'remotable') throw new GiftRefusedError('the owner answered a claim with something else than a reference');
        reached.settled?.('direct');
        return obj;
      } catch (err) {
        reached.settled?.('proxied', describeError(err));
        throw err;
      }
    },
  });

  return {
    imported(val, link) {
      if (typeof val === 'object' && val !== null && !origin.has(val)) origin.set(val, link);
    },
    port,
    gate,
    stats: () => ({ ...counts, pending: gifts.size, waiting: claims.size }),
    durable,
  };
};
