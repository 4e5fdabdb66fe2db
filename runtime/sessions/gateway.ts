/**
 * What a peer host may ask of this one over the session's '@gw'↔'@gw' channel
 * (the hosts' own CapTP connection), and the CapTP channels it wires on a
 * session for that: a vat's channel to a remote endpoint, and the host's own.
 *
 * Enlivening (docs/architecture.md): the requester's host asks this gateway
 * `enliven(swiss, from)`; we look the swiss number up, wire the channel
 * `from`↔(the exporting vat, or '@host'), admit a one-time ticket there and
 * answer `{endpoint, ticket}`; the requester redeems the ticket over that channel.
 *
 * Reaching (reach.ts): for a three-party handoff the recipient's host asks
 * `open(endpoint, from)`: wire the channel `from`↔`endpoint` with no ticket.
 * The recipient then claims its gift over it.
 *
 * Failure semantics: a malformed `enliven` fails with SturdyRefError, a
 * malformed `open` or one for an endpoint that does not run here with
 * HandoffUnreachableError; neither changes anything. A channel over the
 * session's bound fails with RemoteLimitError before any ticket is admitted.
 * A channel ends when its session does (SessionLostError).
 *
 * Hints on the way out: every CapTP message a local vat or the host sends to
 * the peer passes `fillGiftHints` (hints.ts), which tells the receiver where
 * the owners of handed-on references can be dialed.
 */
import { Far } from '@endo/far';
import type { MessagePort } from 'node:worker_threads';
import type { CapTPMessage } from '../../capabilities/captp-schema.js';
import { makeConnection, type Connection } from '../../capabilities/connection.js';
import type { Handoffs, Link } from '../../capabilities/handoff.js';
import { describeError, HandoffUnreachableError, SturdyRefError } from '../../capabilities/errors.js';
import type { NameRegistry } from '../../capabilities/names.js';
import { HOST_ENDPOINT, isEndpointName, type SessionMux } from '../../capabilities/session-mux.js';
import { SWISS_PATTERN } from '../../capabilities/sturdy-ref.js';
import type { CryptoSuite } from '../../protocols/session/crypto.js';
import type { Lifetime } from '../../protocols/lifetime.js';
import type { PeerLink } from '../../protocols/triple/peer-link.js';
import { base32, shortVatId, type VatId } from '../../protocols/session/vat-id.js';
import type { Supervisor } from '../../vats/supervisor.js';
import { makePortPair, wrapMessagePort } from '../ports.js';
import type { HostStore } from '../store.js';
import { fillGiftHints } from './hints.js';
import { makeOutbox, type OutboxTimer } from '../../capabilities/outbox.js';
import { TAG_OF_TYPE } from '../../capabilities/channel-codec.js';
import { hashSwiss } from './sturdy-refs.js';
import { NotABridgeError } from '../../protocols/bridge/errors.js';

/** A session as this host keeps it: the table's record, the CapTP channels on it, and the visualizer relay. */
export interface HostSession {
  /** Proven by the handshake of its first path. */
  readonly peer: VatId;
  /**
   * What the mux rides on: the triple session over this peer's paths (or the
   * single path of a peer without triple sessions). `abort` ends the session.
   */
  readonly path: PeerLink;
  /** Of its newest path: dialled, or where an inbound stream came from. */
  readonly address: string;
  readonly since: number;
  /** Ends when the session does (not when one path does). */
  readonly lifetime: Lifetime;
  readonly mux: SessionMux;
  /** The host's own channels, by remote endpoint. */
  readonly hostConns: Map<string, Connection>;
  /**
   * Channels (`channelKey(local, remote)`) whose other end the peer is known to
   * have: it answered our `open` for them. Only these let a reach skip the
   * round trip; an end the peer wired here through its own `open` may not be
   * wired on its side yet. A key leaves when its channel closes.
   */
  readonly confirmed: Set<string>;
  /** This host's machine records flowing to the peer's visualizer, while it watches. */
  relay?: { stop(): void };
}

export interface GatewayOptions {
  readonly crypto: CryptoSuite;
  readonly supervisor: Supervisor;
  readonly names: NameRegistry;
  readonly refs: HostStore['sturdyRefs'];
  /** Unredeemed tickets for references the host itself holds; past it the oldest go first. */
  readonly maxHostTickets: number;
  readonly traceLimit: number;
  /** The peer's visualizer asks for this host's machine records (machine-watch.ts). */
  readonly watch: (session: HostSession, sink: unknown) => void;
  /** Where a host can be dialed (RemoteHosts.hintsFor), for gifts leaving this host. */
  readonly hintsFor: (host: VatId) => readonly string[];
  /** Where this host may be dialled ('host:port'), as it tells a peer that dialled in (`advertised()`). */
  readonly advertised: () => string;
  /** The host's gift table (capabilities/handoff.ts); absent: the host's own connections hand nothing on directly. */
  readonly handoffs?: Handoffs;
  /** The peer asks us to meet it at a bridge (bridges.ts `meetAsked`); absent: refused. */
  readonly meet?: (session: HostSession, bridge: unknown, nonce: unknown) => Promise<void>;
}

export interface Gateway {
  /** The gateway object a peer gets on the session `getSession()` returns (set once the session exists). */
  forSession(getSession: () => HostSession): unknown;
  /** The host's own CapTP connection to endpoint `remote` of the session's peer. */
  hostConn(session: HostSession, remote: string): Connection;
  /** A channel from local vat `vat` to endpoint `remote` of the session's peer, handed to the vat. */
  wireVatChannel(session: HostSession, vat: string, remote: string): void;
  /** The host's link (connection and bootstrap) to endpoint `remote` of the session's peer, made if needed. */
  hostLink(session: HostSession, remote: string): Link;
}

const short = shortVatId;

/** Outboxes of the host's thread: a turn ends at setImmediate; hold timers do not keep the process up. */
const HOST_OUTBOX_TIMER: OutboxTimer = {
  turnEnd: (fn) => setImmediate(fn),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** How HostSession.confirmed names the channel `local`↔`remote`. */
export const channelKey = (local: string, remote: string) => `${local}\u0000${remote}`;


export const makeGateway = (opts: GatewayOptions): Gateway => {
  const { supervisor, names, refs } = opts;

  // --- the host's own gate: tickets for references the host itself holds, and gifts ---
  const hostTickets = new Map<string, unknown>();
  const redeem = (ticket: string) => {
    if (typeof ticket !== 'string' || !hostTickets.has(ticket)) {
      throw new SturdyRefError('no such ticket (unknown or already redeemed)');
    }
    const ref = hostTickets.get(ticket);
    hostTickets.delete(ticket);
    return ref;
  };
  /** What a remote endpoint gets as the host's bootstrap: bound to its full id, for the gifts it deposits or claims. */
  const hostGateFor = (peerFullId: string) => {
    const gate = opts.handoffs?.gate(peerFullId);
    return gate ? Far('RemoteGate', { redeem, provideFor: gate.provideFor, acceptFrom: gate.acceptFrom }) : Far('RemoteGate', { redeem });
  };
  /** The host's links to remote endpoints, by connection (handoff's view of them). */
  const links = new WeakMap<Connection, Link>();
  const admitHostTicket = (ticket: string, ref: unknown) => {
    if (hostTickets.size >= opts.maxHostTickets) hostTickets.delete(hostTickets.keys().next().value as string);
    hostTickets.set(ticket, ref);
  };
  const newTicket = () => base32(opts.crypto.randomBytes(16));

  const hostConn = (session: HostSession, remote: string): Connection => {
    const existing = session.hostConns.get(remote);
    if (existing && !existing.aborted) return existing;
    let conn!: Connection;
    const send = session.mux.open(HOST_ENDPOINT, remote, {
      deliver: (m) => conn.dispatch(m),
      close: (reason) => {
        session.hostConns.delete(remote);
        session.confirmed.delete(channelKey(HOST_ENDPOINT, remote));
        conn.abort(reason);
      },
    });
    let boot: Promise<unknown> | undefined;
    const link: Link = {
      id: `${session.peer}/${remote}`,
      get conn() {
        return conn;
      },
      boot: () => (boot ??= conn.getBootstrap()),
    };
    const table = opts.handoffs;
    // Drops wait a little for company (outbox.ts); the path seals a turn's messages together.
    const out = makeOutbox<CapTPMessage>({
      post: (items) => {
        for (const m of items) send(m);
      },
      isDrop: (m) => m.type === 'CTP_DROP',
      timer: HOST_OUTBOX_TIMER,
      batchTurns: false,
    });
    conn = makeConnection({
      name: `host->${short(session.peer)}/${remote}`,
      send: (m) => out.push(fillGiftHints(m, session.peer, opts.hintsFor)),
      bootstrap: hostGateFor(link.id),
      traceLimit: opts.traceLimit,
      onAbort: (reason) => {
        if (reason.name === 'ProtocolViolationError') session.path.abort(reason);
      },
      ...(table ? { onImport: (val: unknown) => table.imported(val, link), handoff: table.port(() => link) } : {}),
    });
    links.set(conn, link);
    session.hostConns.set(remote, conn);
    return conn;
  };

  const wireVatChannel = (session: HostSession, vat: string, remote: string) => {
    if (session.mux.has(vat, remote)) return;
    const peerName = `${session.peer}/${remote}`;
    const [mine, theirs] = makePortPair();
    const port = wrapMessagePort(mine as MessagePort);
    const toVat = makeOutbox<string>({
      post: (items) => port.postMessage(items.length === 1 ? items[0] : items),
      isDrop: (item) => item.charCodeAt(0) === TAG_OF_TYPE['CTP_DROP'],
      size: (item) => item.length,
      timer: HOST_OUTBOX_TIMER,
    });
    let send: (m: CapTPMessage) => void;
    try {
      send = session.mux.open(vat, remote, {
        deliver: (m) => port.postMessage(m),
        // The message's text, unparsed: the vat parses and checks it. A turn's messages go in one post.
        deliverText: (tag, text) => toVat.push(String.fromCharCode(tag) + text),
        close: (reason) => {
          session.confirmed.delete(channelKey(vat, remote));
          supervisor.remotePeerGone(vat, peerName, describeError(reason));
          port.close();
        },
      });
    } catch (err) {
      // Over the session's channel bound (or the session is gone): the pair goes unused.
      port.close();
      throw err;
    }
    // Messages from our own vat: trusted, forwarded as they are, in the same turn:
    // each is written to the session or, once the path aborted at its
    // maxUnsentBytes, dropped by the mux, so none waits here for a peer that does
    // not read. (The other way, what the peer sends waits in the port while the
    // vat is busy, and nothing bounds that yet: inbound flow control is not built.)
    // A vat sends text (its tag, then the message's JSON) and, for messages that hand on
    // references, the message itself, whose gift notes get this host's hints first.
    const fromVat = (m: unknown) => {
      if (typeof m === 'string') session.mux.sendText(vat, remote, m.charCodeAt(0), m.slice(1));
      else send(fillGiftHints(m as CapTPMessage, session.peer, opts.hintsFor));
    };
    port.onMessage((m) => {
      if (!Array.isArray(m)) return fromVat(m);
      for (const item of m) fromVat(item);
    });
    supervisor.attachRemotePeer(vat, peerName, theirs);
  };

  const forSession = (getSession: () => HostSession) =>
    Far('TribeGateway', {
      async enliven(swiss: unknown, from: unknown) {
        if (typeof swiss !== 'string' || !SWISS_PATTERN.test(swiss)) throw new SturdyRefError('malformed swiss number');
        if (!isEndpointName(from)) throw new SturdyRefError('malformed endpoint');
        const name = refs.lookup(hashSwiss(swiss));
        if (name === undefined) throw new SturdyRefError('unknown or revoked sturdy ref');
        if (!names.has(name)) throw new SturdyRefError(`the actor behind this ref ("${name}") is not running`);
        const entry = names.lookup(name);
        const session = getSession();
        const ticket = newTicket();
        if (entry.home.vat !== undefined && supervisor.isRunning(entry.home.vat)) {
          wireVatChannel(session, entry.home.vat, from);
          await supervisor.admit(entry.home.vat, ticket, entry.home.key);
          return harden({ endpoint: entry.home.vat, ticket });
        }
        // Held by the host (published by it, or a remote ref it enlivened): served from here.
        // The channel first: one over the session's bound is refused before a ticket is admitted.
        hostConn(session, from);
        admitHostTicket(ticket, entry.ref);
        return harden({ endpoint: HOST_ENDPOINT, ticket });
      },
      /**
       * The peer's endpoint `from` gets a channel to our `endpoint` (a running
       * vat, or '@host'), for a three-party handoff: the peer's `from` was
       * handed a reference to an object of `endpoint` and claims it over this
       * channel (reach.ts). Answers once our end is wired, so the peer may send
       * on it as soon as it wires its own.
       *
       * A channel grants nothing by itself: its bootstrap is the endpoint's
       * RemoteGate, which hands out a reference only for a ticket (a one-time
       * secret given to whoever enlivened a sturdy ref) or a gift claim (a nonce
       * deposited by the donor for this very recipient). What a peer can do by
       * opening channels is hold them, and it holds at most the session's
       * maxChannelsPerSession (one more: RemoteLimitError).
       *
       * Errors are HandoffUnreachableError, not SturdyRefError (no ref is
       * involved) and not a session abort (a peer may ask for a vat that just
       * ended): a malformed endpoint, or one that does not run here, means the
       * reference cannot be reached directly, and the recipient keeps using it
       * through the donor. Nothing is wired then.
       */
      async open(endpoint: unknown, from: unknown) {
        if (!isEndpointName(endpoint) || !isEndpointName(from)) throw new HandoffUnreachableError('malformed endpoint');
        const session = getSession();
        if (endpoint === HOST_ENDPOINT) hostConn(session, from);
        else if (supervisor.isRunning(endpoint)) wireVatChannel(session, endpoint, from);
        else throw new HandoffUnreachableError(`no endpoint "${endpoint}" runs on this host`);
      },
      /**
       * Where this host may be dialled: a peer that this host dialled learns it so,
       * for the hints it writes into gifts of ours it hands to third hosts. Only
       * ever dialled with our VatId checked, so it is no more than our word.
       */
      advertised: () => opts.advertised(),
      /**
       * The peer replaces a path of this session through a bridge: we go to
       * `bridge` (a bridge ref) and accept the peer's rendezvous with `nonce`
       * (64 hex digits). Answers once our side is at the bridge: the relayed
       * stream is ours (the peer then runs its path over it), or why not.
       * Throws BridgeRefError for a malformed ref or nonce, RemoteLimitError
       * past the meets one session may ask at once.
       */
      async meet(bridge: unknown, nonce: unknown) {
        if (!opts.meet) throw new NotABridgeError('this host joins no paths through bridges');
        await opts.meet(getSession(), bridge, nonce);
      },
      /** The peer's visualizer asks for this host's machine records: relayed to `sink.push(batch)` while the session lasts. */
      watch(sink: unknown) {
        opts.watch(getSession(), sink);
      },
    });

  const hostLink = (session: HostSession, remote: string): Link => links.get(hostConn(session, remote))!;

  return { forSession, hostConn, wireVatChannel, hostLink };
};
