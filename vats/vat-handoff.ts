/**
 * A vat's part in three-party handoff (capabilities/handoff.ts): its gift
 * table, how it asks its host for an introduction to a gift's owner, and its
 * counts of gifts claimed directly or left as proxies.
 *
 * Introductions go to the host on the vat's port, outside CapTP, and the host
 * answers there too (`introduced`): a vat whose connection to its host waits for
 * a gift must still hear the answer. The host posts a new channel's port before
 * it answers, so the link to the owner is there when the answer is.
 */
import type { Connection } from '../capabilities/connection.js';
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
}

export interface VatHandoffs {
  readonly table: Handoffs;
  /** A peer's full id: local vats by name, remote endpoints already `<VatId>/<endpoint>`. */
  fullIdOf(peerName: string): string;
  /** The full id of the vat's host. */
  readonly hostId: string;
  /** The host's answer to an introduction (HostToVat `introduced`). */
  introduced(req: unknown, id: unknown, error: unknown): void;
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

  /** Introductions asked of the host, by request number. */
  const introductions = new Map<number, { resolve: (id: number) => void; reject: (err: Error) => void }>();
  let nextIntroduction = 0;
  const introduce = (owner: string, hints: readonly string[], donor: string) =>
    new Promise<number>((resolve, reject) => {
      const req = ++nextIntroduction;
      introductions.set(req, { resolve, reject });
      parent.postMessage({ k: 'introduce', req, owner, hints, donor } satisfies VatToHost);
    });

  const table = makeHandoffs({
    self: fullIdOf(spec.name),
    nonce: () => base32(opts.randomBytes(NONCE_BYTES)),
    clock: opts.clock,
    ...(spec.handoffLimits ? { limits: spec.handoffLimits } : {}),
    // The host introduces this vat to the owner and runs the rendezvous machine the visualizer shows.
    reach: async (owner, hints, donor) => {
      const id = await introduce(owner, hints ?? [], donor);
      const settled = (outcome: 'direct' | 'proxied', why?: string) =>
        parent.postMessage({ k: 'handoff', id, outcome, ...(why ? { why } : {}) } satisfies VatToHost);
      if (owner === hostId) return { link: opts.hostLink(), settled };
      const link = opts.peer(owner.startsWith(`${hostVatId}/`) ? owner.slice(hostVatId.length + 1) : owner);
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
    introduced(req, id, error) {
      const waiter = introductions.get(Number(req));
      introductions.delete(Number(req));
      if (typeof id === 'number') waiter?.resolve(id);
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
