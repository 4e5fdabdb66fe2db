/**
 * The bridges a host knows, and the choice of bridges in a handshake
 * (docs/protocol.md 15.1): configured ones (`--bridges`, kept first, never
 * dropped) and ones learned from peers' suggestions and selections (at most
 * MAX_LEARNED_BRIDGES, the oldest dropped first). Refs from peers are checked
 * (`parseBridgeRef`) and never thrown on: a malformed one is skipped.
 */
import { type BridgeRef, formatBridgeRef, parseBridgeRef } from '../../protocols/bridge/codec.js';
import { BridgeRefError } from '../../protocols/bridge/errors.js';
import type { VatId } from '../../protocols/session/vat-id.js';

/** Bridges learned from peers' suggestions: enough for a tribe's sisters, bounded against a peer that suggests many. */
export const MAX_LEARNED_BRIDGES = 16;
/** Paths one session runs through bridges (the handshake selects at most this many). */
export const MAX_BRIDGED_PATHS = 3;

export interface BridgeBook {
  /** Configured first, then the most recently learned. */
  known(): BridgeRef[];
  learn(refs: readonly string[]): void;
  /** What this host suggests when it dials `peer` (Hello.bridges): itself first when it is a bridge. */
  suggest(peer: VatId): string[];
  /**
   * What this host selects when `peer` dials it with `suggested` (Response.bridges): its
   * configured bridges first, then the peer's in its order, then others it learned; none for a
   * bridge's own sessions, for a peer that is a bridge, and when `resumes` (a path of a session
   * that exists already).
   */
  select(peer: VatId, suggested: readonly string[], resumes: boolean): string[];
}

export const makeBridgeBook = (opts: { self: VatId; configured: readonly string[]; bridge: boolean; selfRef: () => string }): BridgeBook => {
  const { self } = opts;
  const configured = new Map<VatId, BridgeRef>();
  for (const text of opts.configured) {
    const ref = parseBridgeRef(text);
    if (!ref) throw new BridgeRefError(`not a bridge ref (tribe://<VatId>@<host>:<port>): ${JSON.stringify(text)}`);
    if (ref.vatId !== self) configured.set(ref.vatId, ref);
  }
  const learned = new Map<VatId, BridgeRef>();
  const known = (): BridgeRef[] => [...configured.values(), ...[...learned.values()].reverse()];
  const isBridge = (peer: VatId) => configured.has(peer) || learned.has(peer);

  const learn = (texts: readonly string[]) => {
    for (const text of texts) {
      const ref = parseBridgeRef(text);
      if (!ref || ref.vatId === self || configured.has(ref.vatId)) continue;
      learned.delete(ref.vatId);
      learned.set(ref.vatId, ref);
      if (learned.size > MAX_LEARNED_BRIDGES) learned.delete(learned.keys().next().value as VatId);
    }
  };

  return {
    known,
    learn,
    suggest(peer) {
      if (isBridge(peer)) return [];
      const own = opts.bridge ? [opts.selfRef()] : [];
      return [...own, ...known().filter((r) => r.vatId !== peer).map(formatBridgeRef)];
    },
    select(peer, suggested, resumes) {
      learn(suggested);
      if (opts.bridge || isBridge(peer) || resumes) return [];
      const picked = new Map<VatId, BridgeRef>();
      const suggestedRefs = suggested.map(parseBridgeRef).filter((r): r is BridgeRef => r !== undefined);
      for (const r of [...configured.values(), ...suggestedRefs, ...learned.values()]) {
        if (r.vatId !== peer && r.vatId !== self && !picked.has(r.vatId)) picked.set(r.vatId, r);
      }
      return [...picked.values()].slice(0, MAX_BRIDGED_PATHS).map(formatBridgeRef);
    },
  };
};
