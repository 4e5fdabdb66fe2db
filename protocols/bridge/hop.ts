/**
 * What bridges and relay clients ride on: a host's session with one peer (its
 * PeerLink), seen only as far as relaying needs.
 */
import type { Lifetime } from '../lifetime.js';
import type { VatId } from '../session/vat-id.js';

export interface HopLink {
  readonly peer: VatId;
  send(tag: number, payload: Uint8Array): void;
  /** Bytes sent on it and not yet taken by the peer (a triple session's unacked bytes). */
  backlog(): number;
  /** Ends the hop session (a malformed bridge frame). */
  abort(reason: Error): void;
  readonly lifetime: Lifetime;
}

/**
 * Route ids on one hop link are made by the side that is the bridge for them.
 * Two hosts may each be a bridge for the other over one link, so each makes
 * ids of its own parity: the smaller VatId odd ones, the larger even ones.
 */
export const routeParity = (self: VatId, peer: VatId): 0 | 1 => (self < peer ? 1 : 0);
