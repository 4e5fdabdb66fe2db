/**
 * Durable references: a reference to a durable object (an instance of a durable
 * kind, or a durable vat's root) that reaches its object again after the
 * object's vat or host restarted, without the holder doing anything.
 *
 * The owner sends such an object with a note in the message's `gifts` field:
 * `{slot, owner, key}` (gift-notes.ts). The key is the object's identity in its
 * vat's store — ≥ 128 random bits, so holding it is the authority, as with a
 * sturdy ref's swiss number — and it never reaches user code. The receiving
 * party imports the slot as a *durable presence*: a local presence whose sends
 * go to the connection's own presence for the slot while that connection
 * lives. Once the connection has ended (the owner restarted, was upgraded, or
 * its host went away), the next send finds a link to the owner again (the
 * handoff's `reach`: the host introduces two vats, or dials the owner's host)
 * and asks the owner's bootstrap `revive(key)`; the owner sends the object
 * back with its note, which becomes the presence's new target.
 *
 * Semantics: calls in flight when the connection ends reject with its reason
 * (VatTerminatedError, SessionLostError, …) and are not repeated: a caller that
 * wants at-least-once retries itself. A call made while the owner cannot be
 * reached rejects with DurableUnreachableError, and the next call tries again.
 * A key the owner does not know rejects with DurableObjectNotFoundError.
 *
 * Handing a durable presence on sends the same note (owner, key), so the
 * recipient's presence is direct to the owner, not through the hand-off party,
 * and still revives. One durable presence per (owner, key) is kept while it is
 * alive, so the same object reached by two routes is the same presence.
 */
import { E, HandledPromise } from '@endo/eventual-send';
import { getInterfaceOf, Remotable } from '@endo/marshal';
import { answerWithin, type DeadlineClock } from './deadline.js';
import type { Link } from './handoff.js';
import { describeError, DurableObjectNotFoundError, DurableUnreachableError, passableError, reviveError } from './errors.js';
import { DURABLE_KEY_PATTERN, type DurableNote, type DurableTerms } from './gift-notes.js';

/** What a party that owns durable objects (a durable vat) tells the handoff layer about them. */
export interface DurableSource {
  /** The key of one of this party's own durable objects, or undefined for anything else. */
  keyOf(val: unknown): string | undefined;
  /** This party's durable object under `key`; throws DurableObjectNotFoundError when there is none. */
  revive(key: string): unknown;
}

/** A link to the owner of a durable object, made if there is none (the handoff's `reach`). */
export type ReachOwner = (owner: string, hints: readonly string[] | undefined) => Promise<{
  readonly link: Link;
  settled?(outcome: 'direct' | 'proxied', why?: string): void;
}>;

export interface DurableRefsOptions {
  /** This party's full id. */
  readonly self: string;
  readonly reach: ReachOwner;
  /** This party's own durable objects, if it has any (read when needed: a vat defines them after it starts). */
  readonly source: () => DurableSource | undefined;
  /** How long a revival's `revive(key)` may wait for the owner's answer. */
  readonly reviveWithinMs: number;
  readonly clock: DeadlineClock;
}

export interface DurableRefs {
  /** The terms to send with `val` when it is a durable object (ours, or a durable presence), else undefined. */
  termsOf(val: unknown): DurableTerms | undefined;
  /** The value to import for a note's slot; `direct` is the connection's own presence for the slot, `link` its link. */
  imported(note: DurableNote, direct: unknown, link: Link): unknown;
  /** The object named by terms read back from a store: ours at once, another's as a durable presence. */
  fromTerms(terms: DurableTerms): unknown;
  /** `revive(key)` for a peer's bootstrap object. */
  serve(key: unknown): unknown;
}

interface Entry {
  readonly terms: { owner: string; key: string; hints: readonly string[] };
  /** The presence sends go to, on a link to the owner; undefined until reached. */
  current: { readonly target: unknown; readonly link: Link } | undefined;
  reviving: Promise<void> | undefined;
}

const idOf = (owner: string, key: string) => `${owner}\u0000${key}`;

export const makeDurableRefs = (opts: DurableRefsOptions): DurableRefs => {
  const { self, clock } = opts;
  /** One durable presence per object while it lives (WeakRef: a presence nobody holds may go). */
  const byId = new Map<string, WeakRef<object>>();
  const forget = new FinalizationRegistry<string>((id) => {
    if (byId.get(id)?.deref() === undefined) byId.delete(id);
  });
  const entries = new WeakMap<object, Entry>();

  const live = (e: Entry) => (e.current && !e.current.link.conn.aborted ? e.current : undefined);

  /** Finds the owner again and asks it for the object; its answer's note makes the new target (`imported`). */
  const revive = async (presence: object, e: Entry): Promise<void> => {
    const { owner, key, hints } = e.terms;
    const what = `durable object ${key.slice(0, 6)}… of ${owner.slice(0, 8)}…/${owner.slice(owner.indexOf('/') + 1)}`;
    let reached: Awaited<ReturnType<ReachOwner>>;
    try {
      reached = await opts.reach(owner, hints);
    } catch (err) {
      throw new DurableUnreachableError(`${what} cannot be reached now (a later call tries again): ${describeError(reviveError(err))}`);
    }
    try {
      const answer = await answerWithin(
        clock,
        E(reached.link.boot()).revive(key),
        opts.reviveWithinMs,
        () => new DurableUnreachableError(`${what}: no answer within ${opts.reviveWithinMs} ms`),
      );
      // Normally the answer carried the note and `imported` adopted it; else the answer is the target.
      if (!live(e)) {
        if (answer === presence) throw new DurableUnreachableError(`${what}: the owner answered with no live reference`);
        e.current = { target: answer, link: reached.link };
      }
      reached.settled?.('direct');
    } catch (err) {
      reached.settled?.('proxied', describeError(err));
      throw reviveError(err);
    }
  };

  const targetOf = (presence: object, e: Entry): unknown => {
    const c = live(e);
    if (c) return c.target;
    e.current = undefined;
    e.reviving ??= revive(presence, e).finally(() => {
      e.reviving = undefined;
    });
    return e.reviving.then(() => {
      const now = live(e);
      if (!now) throw new DurableUnreachableError(`the owner of ${e.terms.key.slice(0, 6)}… went away again`);
      return now.target;
    });
  };

  const makePresence = (terms: Entry['terms'], iface: string): object => {
    const e: Entry = { terms, current: undefined, reviving: undefined };
    let presence!: object;
    const handler = {
      get: (_p: unknown, prop: PropertyKey) => HandledPromise.get(targetOf(presence, e), prop as string),
      applyMethod: (_p: unknown, prop: PropertyKey | undefined, args: unknown[]) =>
        prop === undefined ? HandledPromise.applyFunction(targetOf(presence, e), args) : HandledPromise.applyMethod(targetOf(presence, e), prop, args),
      applyFunction: (_p: unknown, args: unknown[]) => HandledPromise.applyFunction(targetOf(presence, e), args),
    };
    // The promise itself is never seen: only the presence it resolves to.
    void new HandledPromise((_resolve, _reject, resolveWithPresence) => {
      presence = Remotable(iface as `Alleged: ${string}`, undefined, resolveWithPresence(handler as any) as object);
    });
    entries.set(presence, e);
    const id = idOf(terms.owner, terms.key);
    byId.set(id, new WeakRef(presence));
    forget.register(presence, id);
    return presence;
  };

  /** `iface`: what the owner called it (its kind), when the note came with the object itself. */
  const presenceFor = (terms: DurableTerms, iface = 'Alleged: durable object'): object => {
    const existing = byId.get(idOf(terms.owner, terms.key))?.deref();
    if (existing) {
      const e = entries.get(existing)!;
      // A later note may know where the owner is when the first did not.
      if (e.terms.hints.length === 0 && terms.hints?.length) (e.terms as { hints: readonly string[] }).hints = [...terms.hints];
      return existing;
    }
    return makePresence({ owner: terms.owner, key: terms.key, hints: [...(terms.hints ?? [])] }, iface);
  };

  return {
    termsOf(val) {
      if (typeof val !== 'object' || val === null) return undefined;
      const own = opts.source()?.keyOf(val);
      if (own !== undefined) return { owner: self, key: own };
      const e = entries.get(val);
      if (!e) return undefined;
      const { owner, key, hints } = e.terms;
      return hints.length > 0 ? { owner, key, hints } : { owner, key };
    },
    imported(note, direct, link) {
      // Our own object, sent back to us: the object itself.
      if (note.owner === self) {
        try {
          return opts.source()?.revive(note.key) ?? direct;
        } catch {
          return direct;
        }
      }
      const presence = presenceFor(note, getInterfaceOf(direct) ?? undefined);
      const e = entries.get(presence)!;
      // From the owner itself: its connection's presence is the target while that connection lives.
      if (note.owner === link.id && !live(e)) e.current = { target: direct, link };
      return presence;
    },
    fromTerms(terms) {
      if (terms.owner === self) {
        const source = opts.source();
        if (!source) throw new DurableObjectNotFoundError('this party keeps no durable objects');
        return source.revive(terms.key);
      }
      return presenceFor(terms);
    },
    serve(key) {
      if (typeof key !== 'string' || !DURABLE_KEY_PATTERN.test(key)) throw passableError(new DurableObjectNotFoundError('malformed durable key'));
      const source = opts.source();
      if (!source) throw passableError(new DurableObjectNotFoundError(`${self} keeps no durable objects`));
      try {
        return source.revive(key);
      } catch (err) {
        throw passableError(err);
      }
    },
  };
};
