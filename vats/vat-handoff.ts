/**
 * A vat's part in three-party handoff (capabilities/handoff.ts): its gift
 * table, how it asks its host for an introduction to a gift's owner, and its
 * counts of gifts claimed directly or left as proxies.
 *
 * Introductions go to the host on the vat's port, outside CapTP, and the host
 * answers there too (`introduced`): a vat whose connection to its host waits for
 * a gift must still hear the answer. The host posts a new channel's port before
 * it answers, so the link to the owner is there when the answer is. When the vat
 * already has a channel to the owner (the common case) it claims at once and
 * only tells the host, which runs the rendezvous machine beside the claim: a
 * handoff then costs the claim's round trip to the owner and nothing more.
 */
import type { Connection } from '../capabilities/connection.js';
import type { DurableSource } from '../capabilities/durable-refs.js';
import { reviveError } from '../capabilities/errors.js';
import { NONCE_BYTES } from '../capabilities/gift-notes.js';
import { type Handoffs, type Link, makeHandoffs } from '../capabilities/handoff.js';
import { base32 } from '../protocols/session/vat-id.js';
import { VatTerminatedError } from './errors.js';
import type { PortLike, VatSpec, VatToHost } from './link.js';

export interface VatHandoffOptions {
  readonly spec: VatSpec;
  readonly parent: PortLike;
  readonly clock: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void };
  readonly randomBytes: (n: number) => Uint8Array;
  /** The vat's link to its host. */
  readonly hostLink: () => Link;
  /** The vat's live channel to a peer, by the name the vat knows it by. */
  readonly peer: (name: string) => Link | undefined;
  /** The vat's own durable objects (a durable vat), read when needed. */
  readonly durable?: () => DurableSource | undefined;
}

export interface VatHandoffs {
  readonly table: Handoffs;
  /** A peer's full id: local vats by name, remote endpoints already `<VatId>/<endpoint>`. */
  fullIdOf(peerName: string): string;
  /** The full id of the vat's host. */
  readonly hostId: string;
  /** The host's answer to an introduction (HostToVat `introduced`). */
  introduced(req: unknown, ok: unknown, error: unknown): void;
  /** A channel ended: its counts stay in the vat's totals. */
  channelEnded(conn: Connection): void;
  /** The gift table's counters, and the gifts handed to this vat: claimed directly or left as proxies. */
  stats(live: readonly Connection[]): ReturnType<Handoffs['stats']> & { direct: number; proxied: number };
}

export const makeVatHandoffs = (opts: VatHandoffOptions): VatHandoffs => {
  const { spec, parent } = opts;
  const hostVatId = spec.hostId;
  const fullIdOf = (peerName: string) => (peerName.includes('/') ? peerName : `${hostVatId}/${peerName}`);
  const hostId = `${hostVatId}/@host`;

  /** Introductions asked of the host and not answered yet, by request number. */
  const introductions = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let nextIntroduction = 0;
  /**
   * Asks the host to introduce this vat to `owner`; resolves once it has (the
   * channel's port arrives first). With `linked`, the vat has its channel and
   * claims at once: the host runs the rendezvous machine beside the claim.
   */
  const introduce = (req: number, owner: string, hints: readonly string[], donor: string, linked: boolean) => {
    parent.postMessage({ k: 'introduce', req, owner, hints, donor, ...(linked ? { linked } : {}) } satisfies VatToHost);
    if (linked) return Promise.resolve();
    return new Promise<void>((resolve, reject) => introductions.set(req, { resolve, reject }));
  };
  /** The local name of a peer with full id `owner` (a local vat's name, or the full id of a remote one). */
  const localName = (owner: string) => (owner.startsWith(`${hostVatId}/`) ? owner.slice(hostVatId.length + 1) : owner);
  const linkTo = (owner: string) => (owner === hostId ? opts.hostLink() : opts.peer(localName(owner)));

  const table = makeHandoffs({
    self: fullIdOf(spec.name),
    nonce: () => base32(opts.randomBytes(NONCE_BYTES)),
    clock: opts.clock,
    ...(spec.handoffLimits ? { limits: spec.handoffLimits } : {}),
    ...(opts.durable ? { durable: opts.durable } : {}),
    // The host introduces this vat to the owner and runs the rendezvous machine the visualizer shows.
    reach: async (owner, hints, donor) => {
      const req = ++nextIntroduction;
      const settled = (outcome: 'direct' | 'proxied', why?: string) =>
        parent.postMessage({ k: 'handoff', req, outcome, ...(why ? { why } : {}) } satisfies VatToHost);
      // A channel to the owner already there is the common case: claim on it now.
      const existing = linkTo(owner);
      await introduce(req, owner, hints ?? [], donor, existing !== undefined);
      const link = existing ?? linkTo(owner);
      if (!link) {
        settled('proxied', 'no channel to the owner');
        throw new VatTerminatedError(`no channel to ${owner}`);
      }
      return { link, settled };
    },
  });

  const ended = { direct: 0, proxied: 0 };
  return {
    table,
    fullIdOf,
    hostId,
    introduced(req, ok, error) {
      const waiter = introductions.get(Number(req));
      introductions.delete(Number(req));
      if (ok === true) waiter?.resolve();
      else waiter?.reject(reviveError(new Error(String(error ?? 'HandoffUnreachableError: no introduction'))));
    },
    channelEnded(conn) {
      const h = conn.handoffStats();
      ended.direct += h.direct;
      ended.proxied += h.proxied;
    },
    stats(live) {
      let { direct, proxied } = ended;
      for (const c of live) {
        const h = c.handoffStats();
        direct += h.direct;
        proxied += h.proxied;
      }
      return { ...table.stats(), direct, proxied };
    },
  };
};
