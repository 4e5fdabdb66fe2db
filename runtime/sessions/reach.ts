/**
 * Reaching an endpoint of another host for a local endpoint: the plumbing of a
 * three-party handoff. A local vat (or the host) was handed a reference to an
 * object of endpoint C on host H; to claim it from C directly it needs the
 * channel (local ↔ C) on a session with H. `reach` finds the session or dials
 * H at the hints it was given, asks H's gateway `open(C, local)` (gateway.ts),
 * and wires the local end.
 *
 * Hints come from the network, so they are checked for form (hints.ts), at most
 * MAX_REACH_HINTS are looked at, and each is dialed with H's VatId as the
 * wanted identity: a wrong hint fails with NotMeError or DialError, and the
 * next one is tried.
 *
 * Failure semantics: `reach` resolves once both ends of the channel are wired
 * (a vat has been handed its port). It rejects with HostStoppingError when this
 * host is stopping, and otherwise always with HandoffUnreachableError, whose
 * `cause` says why: the last dial's error when no hint gave a session (none at
 * all when there were no usable hints), or what the peer's `open` threw
 * (HandoffUnreachableError: no such endpoint; RemoteLimitError: its channel
 * bound), SessionLostError, or this side's RemoteLimitError. Its caller keeps
 * the reference as a proxy through the donor then; nothing is left half-wired
 * on this side. A peer that never answers `open` keeps the reach waiting until
 * the session ends (its keepalive bounds that).
 */
import { E } from '@endo/far';
import { describeError, HandoffUnreachableError, reviveError } from '../../capabilities/errors.js';
import { HOST_ENDPOINT } from '../../capabilities/session-mux.js';
import { shortVatId, type VatId } from '../../protocols/session/vat-id.js';
import type { Supervisor } from '../../vats/supervisor.js';
import { formatAddress } from '../tcp.js';
import { isEndpointName } from '../../capabilities/session-mux.js';
import { channelKey, type Gateway, type HostSession } from './gateway.js';
import { type AddressBook, isHint } from './hints.js';

/**
 * Hints looked at per reach. A host knows one or two addresses for a peer; each
 * hint tried can cost a dial timeout (10 s), so a hostile list of many would
 * hold a reach for minutes.
 */
export const MAX_REACH_HINTS = 4;

export interface Reach {
  reach(peer: VatId, hints: readonly string[], endpoint: string, from: string): Promise<void>;
  hintsFor(peer: VatId): string[];
  /** Round trips to peers' gateways (`open`) made so far: concurrent reaches share one. */
  readonly roundTrips: number;
}

export interface ReachOptions {
  readonly self: VatId;
  /** This host's address as written into sturdy refs. */
  readonly advertised: { readonly host: string; readonly port: number };
  /** The session table: the live session with a peer, or a dial to it (concurrent dials for one peer are one). */
  readonly sessions: {
    get(peer: VatId): HostSession | undefined;
    connect(peer: VatId, address: string): Promise<HostSession>;
  };
  readonly gateway: Gateway;
  readonly supervisor: Pick<Supervisor, 'isRunning'>;
  readonly addresses: AddressBook;
}

const short = shortVatId;

export const makeReach = (opts: ReachOptions): Reach => {
  const { self, sessions, gateway, supervisor, addresses } = opts;
  const advertised = formatAddress(opts.advertised.host, opts.advertised.port);
  /** Reaches in flight, by (peer, endpoint, from): a second caller gets the first one's promise. */
  const inFlight = new Map<string, Promise<void>>();
  let roundTrips = 0;

  /** The live session with `peer`, or the first of its hints that gives one. */
  const sessionWith = async (peer: VatId, hints: readonly string[]): Promise<HostSession> => {
    const live = sessions.get(peer);
    if (live) return live;
    const tried: string[] = [];
    let cause: Error | undefined;
    // Checked here too: the list came from the network, through the caller.
    // The hints given first, then what this host knows (a durable reference's note may carry none:
    // its owner was the very host it came from).
    const known = addresses.get(peer);
    const given = Array.isArray(hints) ? hints.slice(0, MAX_REACH_HINTS) : [];
    for (const hint of known !== undefined ? [...given, known] : given) {
      if (!isHint(hint) || tried.includes(hint)) continue;
      tried.push(hint);
      try {
        return await sessions.connect(peer, hint);
      } catch (err) {
        if ((err as Error).name === 'HostStoppingError') throw err;
        // NotMe (another host there), DialError (no one), a handshake that failed: that address only.
        cause = err as Error;
      }
    }
    const what = tried.length > 0 ? `tried ${tried.join(', ')}; the last failed with ${describeError(cause)}` : 'no usable address hint';
    throw new HandoffUnreachableError(`no session with host ${short(peer)}: ${what}`, cause ? { cause } : undefined);
  };

  /** Both ends of `from`↔`endpoint` on `session`: the peer's through its gateway, then ours. */
  const wire = async (session: HostSession, endpoint: string, from: string) => {
    const key = channelKey(from, endpoint);
    if (!(session.mux.has(from, endpoint) && session.confirmed.has(key))) {
      roundTrips += 1;
      await E(session.mux.gateway()).open(endpoint, from);
    }
    if (from === HOST_ENDPOINT) {
      gateway.hostConn(session, endpoint);
    } else {
      // It may have ended during the round trip; handing a port to a vat that is gone would throw half-way.
      if (!supervisor.isRunning(from)) throw new HandoffUnreachableError(`vat "${from}" is not running`);
      gateway.wireVatChannel(session, from, endpoint);
    }
    session.confirmed.add(key);
  };

  const reachOnce = async (peer: VatId, hints: readonly string[], endpoint: string, from: string) => {
    try {
      await wire(await sessionWith(peer, hints), endpoint, from);
    } catch (err) {
      const e = reviveError(err);
      if (e instanceof HandoffUnreachableError || e.name === 'HostStoppingError') throw e;
      // From the peer over CapTP: the name is back (reviveError), the class is ours again here.
      if (e.name === 'HandoffUnreachableError') throw new HandoffUnreachableError(e.message, { cause: e });
      throw new HandoffUnreachableError(`cannot reach ${short(peer)}/${endpoint} for "${from}": ${describeError(e)}`, { cause: e });
    }
  };

  return {
    reach(peer, hints, endpoint, from) {
      // The caller handles references of its own host without a session.
      if (peer === self) return Promise.reject(new RangeError(`reach: ${short(peer)} is this host itself`));
      if (!isEndpointName(endpoint) || !isEndpointName(from)) {
        return Promise.reject(new HandoffUnreachableError(`malformed endpoint: ${JSON.stringify(String(endpoint).slice(0, 40))} for ${JSON.stringify(String(from).slice(0, 40))}`));
      }
      // Before asking the peer to wire its end for nobody (checked again once it answered).
      if (from !== HOST_ENDPOINT && !supervisor.isRunning(from)) return Promise.reject(new HandoffUnreachableError(`vat "${from}" is not running`));
      const key = `${peer}\u0000${endpoint}\u0000${from}`;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const attempt = reachOnce(peer, hints, endpoint, from).finally(() => inFlight.delete(key));
      inFlight.set(key, attempt);
      return attempt;
    },
    hintsFor(peer) {
      if (peer === self) return [advertised];
      const hints: string[] = [];
      const live = sessions.get(peer);
      // An inbound session's address is the peer's outgoing port: no one listens there.
      if (live && live.path.role === 'initiator') hints.push(live.address);
      const known = addresses.get(peer);
      if (known !== undefined && !hints.includes(known)) hints.push(known);
      return hints;
    },
    get roundTrips() {
      return roundTrips;
    },
  };
};
