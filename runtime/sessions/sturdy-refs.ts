/**
 * Sturdy refs of this host: making and revoking them, and following one to a
 * live reference for a local endpoint (a vat, or '@host' for the host itself).
 *
 * Only the SHA-256 of a swiss number is stored (a stolen store lists no
 * usable ref). A ref of this host is served locally, without a session; a ref
 * whose name was itself connected from a sturdy ref is followed, at most
 * `maxRefHops` deep (no loops). A ref of another host goes through the session
 * with it (one per peer) and that host's gateway (gateway.ts).
 *
 * Failure semantics: an unknown, revoked or malformed ref fails with
 * SturdyRefError; a peer that answers `enliven` with garbage loses its session
 * (ProtocolViolationError) and the caller gets SessionLostError.
 */
import { createHash } from 'node:crypto';
import { E } from '@endo/far';
import { describeError, ProtocolViolationError, SessionLostError, SturdyRefError } from '../../capabilities/errors.js';
import type { NameRegistry } from '../../capabilities/names.js';
import { HOST_ENDPOINT, isEndpointName } from '../../capabilities/session-mux.js';
import { formatSturdyRef, parseSturdyRef, SWISS_BYTES } from '../../capabilities/sturdy-ref.js';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import { base32, shortVatId, type VatId } from '../../protocols/session/vat-id.js';
import type { HostStore } from '../store.js';
import { formatAddress } from '../tcp.js';
import type { Gateway, HostSession } from './gateway.js';

/** The key a swiss number is stored under. */
export const hashSwiss = (swiss: string) => createHash('sha256').update(swiss).digest('hex');

export interface SturdyRefs {
  /** A new ref to what is published as `name` (NameNotFoundError when nothing is). */
  make(name: string): string;
  /** The ref with the swiss number `swiss` (chosen by the caller) for `name`; kept across restarts like any ref. */
  exportAt(swiss: string, name: string): string;
  /** Later enlivens of `refText` fail; SturdyRefError if it is not this host's or not known. */
  revoke(refText: string): void;
  /** A live reference for the local endpoint `from`: the reference itself for '@host', else where the vat redeems it. */
  enlivenFor(from: string, refText: string): Promise<unknown>;
}

export interface SturdyRefsOptions {
  readonly self: VatId;
  readonly crypto: CryptoSuite;
  readonly names: NameRegistry;
  readonly refs: HostStore['sturdyRefs'];
  /** The address written into new refs. */
  readonly advertised: { readonly host: string; readonly port: number };
  readonly maxRefHops: number;
  /** The session with `peer`, dialing `address` if there is none. */
  readonly connect: (peer: VatId, address: string) => Promise<HostSession>;
  readonly gateway: Gateway;
}

const short = shortVatId;

export const makeSturdyRefs = (opts: SturdyRefsOptions): SturdyRefs => {
  const { self, names, refs, gateway } = opts;

  const enlivenFor = async (from: string, refText: string, hops = 0): Promise<unknown> => {
    const ref = parseSturdyRef(refText);
    if (ref.vatId === self) {
      const name = refs.lookup(hashSwiss(ref.swiss));
      if (name === undefined) throw new SturdyRefError('unknown or revoked sturdy ref');
      const entry = names.lookup(name);
      if (entry.home.sturdy !== undefined) {
        if (hops >= opts.maxRefHops) throw new SturdyRefError(`sturdy ref chain longer than ${opts.maxRefHops}`);
        return enlivenFor(from, entry.home.sturdy, hops + 1);
      }
      if (from === HOST_ENDPOINT) return entry.ref;
      return entry.home.vat !== undefined ? harden({ vat: entry.home.vat, key: entry.home.key }) : harden({ ref: entry.ref });
    }
    const ask = async () => {
      const session = await opts.connect(ref.vatId as VatId, formatAddress(ref.host, ref.port));
      return { session, answer: (await E(session.mux.gateway()).enliven(ref.swiss, from)) as { endpoint?: unknown; ticket?: unknown } };
    };
    let asked: Awaited<ReturnType<typeof ask>>;
    try {
      asked = await ask();
    } catch (err) {
      // Asked on a session that was waiting for its peer, which came back restarted: that session
      // ended unanswered (its tables are gone with the old run). Nothing was granted; ask the new one, once.
      if (!describeError(err).includes('TripleEpochChangedError')) throw err;
      asked = await ask();
    }
    const { session, answer } = asked;
    const endpoint = answer?.endpoint;
    const ticket = answer?.ticket;
    if (typeof endpoint !== 'string' || typeof ticket !== 'string' || !isEndpointName(endpoint)) {
      session.path.abort(new ProtocolViolationError(`host ${short(session.peer)} answered enliven with garbage`));
      throw new SessionLostError('the remote host answered enliven with garbage');
    }
    if (from === HOST_ENDPOINT) return E(gateway.hostConn(session, endpoint).getBootstrap()).redeem(ticket);
    gateway.wireVatChannel(session, from, endpoint);
    return harden({ vat: `${session.peer}/${endpoint}`, ticket });
  };

  return {
    make(name) {
      names.lookup(name); // NameNotFoundError when nothing is published under it
      const swiss = base32(opts.crypto.randomBytes(SWISS_BYTES));
      refs.add(hashSwiss(swiss), name);
      return formatSturdyRef({ vatId: self, host: opts.advertised.host, port: opts.advertised.port, swiss });
    },
    exportAt(swiss, name) {
      names.lookup(name);
      if (refs.lookup(hashSwiss(swiss)) !== name) refs.add(hashSwiss(swiss), name);
      return formatSturdyRef({ vatId: self, host: opts.advertised.host, port: opts.advertised.port, swiss });
    },
    revoke(refText) {
      const ref = parseSturdyRef(refText);
      if (ref.vatId !== self) throw new SturdyRefError(`this ref belongs to host ${ref.vatId}, not to this host (${self})`);
      if (!refs.revoke(hashSwiss(ref.swiss))) throw new SturdyRefError('unknown or already revoked sturdy ref');
    },
    enlivenFor: (from, refText) => enlivenFor(from, refText),
  };
};
