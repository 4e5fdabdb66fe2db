/**
 * The bridge: pairs two hosts that ask for the same rendezvous and relays the
 * bytes of one stream between them (docs/protocol.md section 15).
 *
 * Host A sends Provide(C, nonce) on its hop session with the bridge, host C
 * sends Accept(A, nonce) on its own; whichever comes first waits (at most
 * `rendezvousMs`). When both are there, the bridge gives each a route id
 * (Ready) and from then on forwards every Relay frame of one route to the
 * other, as it came: the bytes are the two ends' own secure path (handshake,
 * then AEAD ciphertext), so the bridge sees routing ids and ciphertext only,
 * and a bridge that alters, drops, replays or reorders bytes breaks that path's
 * AEAD or framing, which its ends detect.
 *
 * Bounds, per hop link (one per peer host): `maxPending` rendezvous waiting,
 * `maxRoutes` live routes, and `maxBacklogBytes` of relayed bytes the other end's
 * hop session has not taken yet (past it the route ends with
 * RelayBackpressureError, not the hop session). A refusal names its reason
 * (Refused with the error's code); a route that ends tells both ends (End).
 *
 * Failure semantics: when a hop session ends, its waiting rendezvous are
 * dropped and each of its routes ends, the other end told with RelayEndedError.
 * A malformed bridge frame throws BridgeMalformedError (the caller aborts that
 * hop session); a Relay frame for a route that is not (or no longer) live is
 * dropped and counted.
 */
import { Tag } from '../framing/frames.js';
import type { VatId } from '../session/vat-id.js';
import { type Control, decodeRelay, encodeControl, encodeRelay, Op } from './codec.js';
import { type BridgeError, BridgeLimitError, BridgeRendezvousTimeoutError, RelayBackpressureError, RelayEndedError } from './errors.js';
import { type HopLink, routeParity } from './hop.js';

/** Waiting rendezvous per peer host: a host meets a peer on up to three bridges, and repairs a few at once. */
export const MAX_PENDING_PER_PEER = 16;
/** Live routes per peer host: three paths to each of its peers through this bridge, for about ten peers. */
export const MAX_ROUTES_PER_PEER = 32;
/** How long one side waits for the other: both heard the nonces in one handshake, so seconds are plenty. */
export const RENDEZVOUS_MS = 10_000;
/** Relayed bytes an end's hop session may hold unacked before the route ends: four big frames. */
export const MAX_RELAY_BACKLOG_BYTES = 8 * 1024 * 1024;

export interface BridgeLimits {
  readonly maxPending: number;
  readonly maxRoutes: number;
  readonly rendezvousMs: number;
  readonly maxBacklogBytes: number;
}

export interface BridgeClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export interface BridgeStats {
  readonly pending: number;
  readonly routes: number;
  readonly relayedFrames: number;
  readonly relayedBytes: number;
  /** Relay frames for routes not live (late after an End). */
  readonly dropped: number;
  readonly refused: Readonly<Record<string, number>>;
}

export interface BridgeService {
  /** A Provide or Accept from `link` (the caller decoded the tag); throws BridgeMalformedError. */
  control(link: HopLink, c: Control): void;
  /** A Relay frame from `link`; throws BridgeMalformedError. */
  relay(link: HopLink, payload: Uint8Array): void;
  /** Whether `route` on a link to `peer` is one this bridge made (by parity). */
  owns(peer: VatId, route: number): boolean;
  stats(): BridgeStats;
}

interface Route {
  readonly link: HopLink;
  readonly id: number;
  other?: Route;
}

interface Pending {
  readonly link: HopLink;
  readonly req: number;
  readonly op: typeof Op.Provide | typeof Op.Accept;
  readonly key: string;
  readonly timer: unknown;
}

interface LinkState {
  readonly routes: Map<number, Route>;
  readonly pending: Set<Pending>;
  next: number;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * What a faulty bridge does to the bytes of one Relay frame before forwarding
 * them: the chunks to send instead ([] drops it, two copies replay it, altered
 * bytes tamper with it). For tests of the ends' defences only.
 */
export type RelayFault = (bytes: Uint8Array, route: number) => readonly Uint8Array[];

export const makeBridgeService = (opts: { self: VatId; clock: BridgeClock; limits?: Partial<BridgeLimits>; fault?: RelayFault }): BridgeService => {
  const { self, clock } = opts;
  const limits: BridgeLimits = {
    maxPending: MAX_PENDING_PER_PEER,
    maxRoutes: MAX_ROUTES_PER_PEER,
    rendezvousMs: RENDEZVOUS_MS,
    maxBacklogBytes: MAX_RELAY_BACKLOG_BYTES,
    ...opts.limits,
  };
  const links = new Map<HopLink, LinkState>();
  /** Waiting rendezvous by `provider>acceptor#nonce`. */
  const waiting = new Map<string, Pending>();
  let relayedFrames = 0;
  let relayedBytes = 0;
  let dropped = 0;
  const refused = new Map<string, number>();

  const send = (link: HopLink, c: Control) => {
    if (!link.lifetime.isClosed) link.send(Tag.BridgeControl, encodeControl(c));
  };

  const refuse = (link: HopLink, req: number, err: BridgeError) => {
    refused.set(err.code, (refused.get(err.code) ?? 0) + 1);
    send(link, { op: Op.Refused, req, code: err.code, message: err.message });
  };

  const stateOf = (link: HopLink): LinkState => {
    let st = links.get(link);
    if (st) return st;
    const parity = routeParity(self, link.peer);
    st = { routes: new Map(), pending: new Set(), next: parity === 1 ? 1 : 2 };
    links.set(link, st);
    const state = st;
    link.lifetime.onClose(() => {
      // The state goes last: ending a route looks it up there.
      for (const p of [...state.pending]) unwait(p);
      for (const r of [...state.routes.values()]) end(r, new RelayEndedError(`the other end's session with the bridge ended`), false);
      links.delete(link);
    });
    return st;
  };

  const unwait = (p: Pending) => {
    clock.clearTimeout(p.timer);
    links.get(p.link)?.pending.delete(p);
    if (waiting.get(p.key) === p) waiting.delete(p.key);
  };

  const newRoute = (link: HopLink, st: LinkState): Route => {
    const id = st.next;
    st.next += 2;
    const r: Route = { link, id };
    st.routes.set(id, r);
    return r;
  };

  /** Ends a route and its other end; `tellOwn`: tell this end too (it did not ask for it). */
  const end = (r: Route, why: BridgeError, tellOwn: boolean) => {
    const st = links.get(r.link);
    if (st?.routes.get(r.id) !== r) return;
    st.routes.delete(r.id);
    if (tellOwn) send(r.link, { op: Op.End, route: r.id, code: why.code, message: why.message });
    const o = r.other;
    if (o && links.get(o.link)?.routes.get(o.id) === o) {
      links.get(o.link)!.routes.delete(o.id);
      send(o.link, { op: Op.End, route: o.id, code: why.code, message: why.message });
    }
  };

  const control = (link: HopLink, c: Control) => {
    const st = stateOf(link);
    if (c.op === Op.End) {
      const r = st.routes.get(c.route);
      if (r) end(r, new RelayEndedError(`the other end closed it (${c.code})`), false);
      return;
    }
    if (c.op !== Op.Provide && c.op !== Op.Accept) return; // Ready/Refused are a client's (the caller routes them)
    const [provider, acceptor] = c.op === Op.Provide ? [link.peer, c.peer] : [c.peer, link.peer];
    const key = `${provider}>${acceptor}#${hex(c.nonce)}`;
    const other = waiting.get(key);
    if (other && other.op !== c.op && other.link !== link) {
      unwait(other);
      const ost = links.get(other.link);
      if (!ost || other.link.lifetime.isClosed) return refuse(link, c.req, new RelayEndedError('the other end left'));
      if (st.routes.size >= limits.maxRoutes) {
        refuse(other.link, other.req, new BridgeLimitError(`the other end has ${limits.maxRoutes} routes through this bridge`));
        return refuse(link, c.req, new BridgeLimitError(`${limits.maxRoutes} routes through this bridge already`));
      }
      if (ost.routes.size >= limits.maxRoutes) {
        refuse(link, c.req, new BridgeLimitError(`the other end has ${limits.maxRoutes} routes through this bridge`));
        return refuse(other.link, other.req, new BridgeLimitError(`${limits.maxRoutes} routes through this bridge already`));
      }
      const mine = newRoute(link, st);
      const theirs = newRoute(other.link, ost);
      mine.other = theirs;
      theirs.other = mine;
      send(other.link, { op: Op.Ready, req: other.req, route: theirs.id });
      send(link, { op: Op.Ready, req: c.req, route: mine.id });
      return;
    }
    if (other) return refuse(link, c.req, new BridgeLimitError('a rendezvous with this nonce is waiting already'));
    if (st.pending.size >= limits.maxPending) return refuse(link, c.req, new BridgeLimitError(`${limits.maxPending} rendezvous waiting already`));
    const p: Pending = {
      link,
      req: c.req,
      op: c.op,
      key,
      timer: clock.setTimeout(() => {
        unwait(p);
        refuse(link, c.req, new BridgeRendezvousTimeoutError(`no one came within ${limits.rendezvousMs} ms`));
      }, limits.rendezvousMs),
    };
    st.pending.add(p);
    waiting.set(key, p);
  };

  const relay = (link: HopLink, payload: Uint8Array) => {
    const { route, bytes } = decodeRelay(payload);
    const r = links.get(link)?.routes.get(route);
    const o = r?.other;
    if (!r || !o || o.link.lifetime.isClosed) {
      dropped += 1;
      return;
    }
    if (o.link.backlog() > limits.maxBacklogBytes) {
      return end(r, new RelayBackpressureError(`over ${limits.maxBacklogBytes} bytes wait for the other end`), true);
    }
    relayedFrames += 1;
    relayedBytes += bytes.length;
    if (opts.fault) {
      for (const b of opts.fault(bytes, route)) o.link.send(Tag.Relay, encodeRelay(o.id, b));
      return;
    }
    o.link.send(Tag.Relay, encodeRelay(o.id, bytes));
  };

  return {
    control,
    relay,
    owns: (peer, route) => route % 2 === routeParity(self, peer),
    stats: () => ({
      pending: waiting.size,
      routes: [...links.values()].reduce((n, s) => n + s.routes.size, 0),
      relayedFrames,
      relayedBytes,
      dropped,
      refused: Object.fromEntries(refused),
    }),
  };
};

