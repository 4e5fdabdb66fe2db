/**
 * This host's sessions with other hosts, wired: the session table
 * (protocols/session/session-table.ts: one session per peer, crossed
 * connections, dialing) over a transport (TCP by default), and on each session
 * the CapTP channels (capabilities/session-mux.ts), the gateway a peer may ask
 * (gateway.ts), sturdy refs (sturdy-refs.ts), reaching other hosts' endpoints
 * for three-party handoffs (reach.ts, hints.ts) and the visualizer relay
 * (machine-watch.ts).
 *
 * Routing (docs/architecture.md): a channel joins two endpoints — a vat, or a
 * host itself — and rides the peers' one session. The host only moves bytes for
 * it: vat X's CapTP messages go over a MessagePort to this thread, into an
 * Encrypted frame, and out of the other host's thread into vat Y.
 */
import { E } from '@endo/far';
import type { ByteStream } from '../../protocols/framing/byte-stream.js';
import { describeError, ProtocolViolationError } from '../../capabilities/errors.js';
import type { NameRegistry } from '../../capabilities/names.js';
import { HOST_ENDPOINT, makeSessionMux } from '../../capabilities/session-mux.js';
import { Tag, tagName } from '../../protocols/framing/frames.js';
import { isRelayedAddress } from '../../protocols/bridge/codec.js';
import { type BridgedPathStatus, type BridgesStatus, makeBridges } from './bridges.js';
import type { RelayFault } from '../../protocols/bridge/bridge-service.js';
import type { CipherName, CryptoSuite, SigningKey } from '../../protocols/session/crypto.js';
import { preferredCiphers } from '../crypto-node.js';
import type { PathClock, PathLimits } from '../../protocols/session/path.js';
import { type SessionLimits, sessionLimits } from '../../protocols/session/session-limits.js';
import { type PeerSession, type SessionTable, type SessionTableStats, startSessionTable } from '../../protocols/session/session-table.js';
import { shortVatId, type VatId } from '../../protocols/session/vat-id.js';
import type { Supervisor } from '../../vats/supervisor.js';
import type { HostStore } from '../store.js';
import { formatAddress, type Listener, makeTcpTransport } from '../tcp.js';
import type { Inspector } from '../viz/inspector.js';
import { type HostSession, makeGateway } from './gateway.js';
import { isHint, makeAddressBook } from './hints.js';
import { makeMachineWatch } from './machine-watch.js';
import { makeReach, type Reach } from './reach.js';
import type { Handoffs, Link } from '../../capabilities/handoff.js';
import { makeSturdyRefs } from './sturdy-refs.js';
import { makePeerLinks, type PeerLink } from '../../protocols/triple/peer-link.js';
import { GRACE_MS, type TripleLimits } from '../../protocols/triple/limits.js';
import type { TripleMode } from '../../protocols/triple/triple-session.js';

export interface SessionStatus {
  readonly peer: string;
  readonly address: string;
  readonly role: 'initiator' | 'responder';
  readonly cipher: string;
  readonly since: number;
  readonly channels: number;
  readonly framesIn: number;
  readonly framesOut: number;
  /** Encrypted frames (each holds the inner frames, one per message, sent in one turn). */
  readonly sealsIn: number;
  readonly sealsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Written to the peer and not yet taken by it; the session aborts past `PathLimits.maxUnsentBytes`. */
  readonly unsentBytes: number;
  /** Round-trip time of the last keepalive Ping, once one was answered. */
  readonly rttMs?: number;
  /**
   * The state of the triple session under the channels (docs/protocol.md
   * section 14): 'healthy', 'degraded', 'critical', 'resuming', …; 'single' for
   * a peer without triple sessions, 'pending' before its first Join.
   */
  readonly state: string;
  /** The session's paths: address, grade, RTT, counters. */
  readonly paths: readonly SessionPathStatus[];
  /** While every path is down and this side re-dials: attempts so far, and the last one's error. */
  readonly redialAttempts?: number;
  readonly redialError?: string;
  /** The session's paths through bridges, on the side that keeps them (it dialled the session). */
  readonly bridges?: readonly BridgedPathStatus[];
}

export interface SessionPathStatus {
  readonly address: string;
  readonly role: string;
  /** 'attaching' (not validated yet), 'good', 'degraded'. */
  readonly grade: string;
  /** Smoothed heartbeat round trip, once one was answered. */
  readonly rttMs?: number;
  readonly framesIn: number;
  readonly framesOut: number;
}


/**
 * This host's side of its sessions with other hosts. Sessions come and go by
 * themselves (a ref is enlivened, a peer dials in, a path ends); what the rest
 * of the host does with them is here.
 *
 * Failure semantics: enlivening fails with SturdyRefError (unknown, revoked or
 * malformed ref), NotMeError (another key at the ref's address), DialError (no
 * one there), SessionLostError (the session ended under the call) or
 * HostStoppingError (this host is stopping). Reaching fails with
 * HandoffUnreachableError (its `cause` says why) or HostStoppingError; see
 * `reach`. `close()` cancels every dial,
 * handshake and wait in flight, closes every session (Shutdown 'host-stopping')
 * and stops listening; nothing is adopted afterwards.
 */
export interface RemoteHosts {
  /** Where this host listens. */
  readonly address: { readonly host: string; readonly port: number };
  /** A live reference for the host itself (host.enliven, `tribe connect`). */
  enliven(refText: string): Promise<unknown>;
  /** For vat `vat`'s `names.lookup(ref)` and sturdy names: where the vat redeems it. */
  enlivenFor(vat: string, refText: string): Promise<unknown>;
  /** A new sturdy ref to what is published as `name`. */
  makeSturdyRef(name: string): string;
  /** Bridges to know from now on (`tribe://<VatId>@host:port`; malformed ones skipped). */
  learnBridges(refs: readonly string[]): void;
  /** Paths through `refs` for the live session with `peer` (see Bridges.widen); how many it began. */
  widenSession(peer: string, refs: readonly string[], direct: string): number;
  sessionWith(peer: string): SessionStatus | undefined;
  exportAt(swiss: string, name: string): string;
  /** Later enlivens of `refText` fail with SturdyRefError. */
  revoke(refText: string): void;
  /**
   * A channel from local endpoint `from` (a vat name or '@host') to endpoint
   * `endpoint` (a vat name or '@host') of host `peer`, for a three-party
   * handoff: `from` then claims a gift from `endpoint` over it.
   *
   * Uses the session with `peer` if there is one, else dials `hints` in order
   * (the first MAX_REACH_HINTS of them, malformed ones skipped; each dial
   * checks `peer`'s key, so a wrong hint fails with NotMe and the next is
   * tried). Then asks `peer`'s gateway `open(endpoint, from)` and wires this
   * end: a vat is handed the channel's port (supervisor.attachRemotePeer)
   * before this resolves. A channel both ends already confirmed costs no round
   * trip; concurrent reaches for one (peer, endpoint, from) share one (and the
   * first caller's hints).
   *
   * Failure semantics: rejects with HostStoppingError when this host is
   * stopping, else with HandoffUnreachableError naming the peer, whose `cause`
   * is why (the last dial's error — NotMeError, DialError, … — when no session
   * could be had; the peer's HandoffUnreachableError for an endpoint it does not
   * run; RemoteLimitError past a channel bound; SessionLostError). RangeError
   * when `peer` is this host itself: a local reference needs no reach.
   */
  reach(peer: VatId, hints: readonly string[], endpoint: string, from: string): Promise<void>;
  /**
   * Addresses this host knows for `peer`, for hints on references it hands on:
   * its own advertised address when `peer` is this host; else the address of a
   * session this host dialed, and the last address that worked for it (a dial,
   * or a sturdy ref of it enlivened). [] when none is known.
   */
  hintsFor(peer: VatId): string[];
  /** The host's own link to `endpoint` on `peer`, over the live session (undefined without one): where the host claims gifts. */
  hostLink(peer: string, endpoint: string): Link | undefined;
  /** The live sessions, for `tribe ps` and the visualizer's health rows. */
  sessions(): SessionStatus[];
  /** Bridges: whether this host is one, those it knows, what it relayed. */
  bridges(): BridgesStatus;
  /** A local vat ended: its channels to other hosts end too, with the same reason. */
  vatEnded(vat: string, reason: Error): void;
  /** A vat saw malformed CapTP from `peer` (`<VatId>/<endpoint>`): that session ends. */
  peerFault(vat: string, peer: string, reason: string): void;
  close(): Promise<void>;
  /** Counters and controls for tests and diagnostics; nothing the host itself relies on. */
  readonly diagnostics: RemoteHostsDiagnostics;
}

export interface RemoteStats extends SessionTableStats {
  /** Sockets the listener holds. */
  readonly connections: number;
  /** Round trips to peers' gateways (`open`) that reaches made. */
  readonly reachRoundTrips: number;
  /** Peers in the address book (hintsFor), at most MAX_KNOWN_ADDRESSES. */
  readonly knownAddresses: number;
}

export interface RemoteHostsDiagnostics {
  /** The session with `peer`, dialing `address` ('host:port') if there is none. */
  connect(peer: VatId, address: string): Promise<HostSession>;
  /** Aborts the session with `peer`, if there is one, with `reason`. */
  dropSession(peer: string, reason: Error): void;
  /** Resolves once the listener holds no socket. */
  idle(): Promise<void>;
  stats(): RemoteStats;
}

/** Where this host's byte streams come from: TCP by default, an in-memory network in tests. */
export interface RemoteTransport {
  listen(accept: (stream: ByteStream) => void): Promise<Listener>;
  /** `address` as formatAddress writes it ('host:port', '[v6]:port'). */
  dial(address: string): Promise<ByteStream>;
}

export interface RemoteHostsOptions {
  readonly identity: { readonly vatId: VatId; readonly key: SigningKey };
  readonly crypto: CryptoSuite;
  readonly listen: { readonly host: string; readonly port: number };
  /** The address written into sturdy refs; default: the bound listen address. */
  readonly advertise?: { readonly host: string; readonly port?: number };
  readonly supervisor: Supervisor;
  readonly names: NameRegistry;
  readonly refs: HostStore['sturdyRefs'];
  readonly print: (line: string) => void;
  /** The host's inspector: path machines are registered with it. */
  readonly inspector: Inspector;
  /** Peers with a session may watch this host's machines (default true). */
  readonly shareMachines?: boolean;
  /** Watch the machines of every peer this host has a session with (the host serves the visualizer). */
  readonly watchPeers?: boolean;
  /** Ciphers in preference order; default preferredCiphers() (AES-256-GCM first where the CPU has AES instructions). */
  readonly ciphers?: readonly CipherName[];
  /** Each path's bounds (frame sizes, timeouts, keepalive, rekey). */
  readonly pathLimits?: Partial<PathLimits>;
  /** The sessions' bounds (maxVatTickets is applied by the host when it spawns vats). */
  readonly sessionLimits?: Partial<SessionLimits>;
  readonly traceLimit?: number;
  /** The host's gift table: its own connections to other hosts' endpoints deposit and claim gifts with it. */
  readonly handoffs?: Handoffs;
  /** Default: TCP, listening on `listen`. */
  readonly transport?: RemoteTransport;
  /** Default: the real clock (timers unref'd). */
  readonly clock?: PathClock;
  /**
   * How long a session whose paths all dropped keeps its CapTP channels, calls
   * in flight buffered, while the side that dialled re-dials (default GRACE_MS,
   * 30 s). 0: a session ends with its last path, as before triple sessions.
   */
  readonly sessionGraceMs?: number;
  /** Triple sessions' mode and bounds (tests shrink heartbeats and timeouts). */
  readonly tripleMode?: TripleMode;
  readonly tripleLimits?: Partial<Omit<TripleLimits, 'graceMs'>>;
  /** false: no triple sessions (one path per session, as before them): for benches and compatibility tests. */
  readonly tripleSessions?: boolean;
  /** This host relays paths between other hosts (`tribe host --bridge`). */
  readonly bridge?: boolean;
  /** Bridges this host's sessions use, `tribe://<VatId>@<host>:<port>` (`--bridges`); more are learned from peers. */
  readonly bridges?: readonly string[];
  /** Test only: a bridge that drops, replays or alters relayed bytes. */
  readonly bridgeFault?: RelayFault;
}

/** How the visualizer captions a triple session machine's events. */
const TRIPLE_TAP = {
  describe: (ev: { type: string; live?: unknown; good?: unknown }) =>
    ev.type === 'paths.changed' ? `paths: ${String(ev.live)} live, ${String(ev.good)} good` : undefined,
};

/** A random positive safe integer: a session's (or this host run's) epoch. */
const randomEpoch = (crypto: CryptoSuite): number => {
  const b = crypto.randomBytes(8);
  const n = ((b[0]! & 0x1f) * 2 ** 48) + (b[1]! * 2 ** 40) + (b[2]! * 2 ** 32) + (((b[3]! << 24) | (b[4]! << 16) | (b[5]! << 8) | b[6]!) >>> 0);
  return n === 0 ? 1 : n;
};

/** How the visualizer captions a path machine's events, and which came from the peer. */
const PATH_TAP = {
  describe: (ev: { type: string; tag?: unknown }) =>
    ev.type === 'frame.received' && typeof ev.tag === 'number' ? (tagName(ev.tag) ?? `tag ${ev.tag}`) : undefined,
  remote: (ev: { type: string }) => ev.type === 'frame.received' || ev.type === 'peer.shutdown',
  /** Keepalive ticks that change nothing. */
  quiet: (ev: { type: string }) => ev.type.startsWith('xstate.after.keepalive'),
};

const realClock: PathClock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
  // A turn's frames leave as one Encrypted frame: CapTP's sends of one turn come from separate
  // promise reactions and worker messages, which only setImmediate waits for (path.ts, PathClock.defer).
  defer: (fn: () => void) => void setImmediate(fn),
};

const short = shortVatId;

const statusOf = (s: HostSession, bridged?: readonly BridgedPathStatus[]): SessionStatus => {
  const st = s.path.stats();
  const triple = s.path.report();
  return {
    peer: s.peer,
    address: s.address,
    role: s.path.role,
    cipher: s.path.cipher,
    since: s.since,
    channels: s.mux.channels,
    framesIn: st.framesIn,
    framesOut: st.framesOut,
    sealsIn: st.sealsIn,
    sealsOut: st.sealsOut,
    bytesIn: st.bytesIn,
    bytesOut: st.bytesOut,
    unsentBytes: st.unsentBytes,
    ...(st.rttMs !== undefined ? { rttMs: st.rttMs } : {}),
    state: triple.state,
    paths: triple.paths.map((p) => ({
      address: p.address,
      role: p.role,
      grade: p.grade,
      ...(p.rttMs !== undefined ? { rttMs: Math.round(p.rttMs * 10) / 10 } : {}),
      framesIn: p.framesIn,
      framesOut: p.framesOut,
    })),
    ...(triple.redial ? { redialAttempts: triple.redial.attempts } : {}),
    ...(triple.redial?.lastError ? { redialError: triple.redial.lastError } : {}),
    ...(bridged ? { bridges: bridged } : {}),
  };
};

export const startRemoteHosts = async (opts: RemoteHostsOptions): Promise<RemoteHosts> => {
  const { identity, crypto, supervisor, names, refs, print, inspector } = opts;
  const limits = sessionLimits(opts.sessionLimits);
  const self = identity.vatId;
  const clock = opts.clock ?? realClock;
  const transport: RemoteTransport = opts.transport ?? makeTcpTransport(opts.listen);
  const traceLimit = opts.traceLimit ?? 0;
  // Set once the table is up; its closures run only after that.
  let table!: SessionTable<HostSession>;
  let listener!: Listener;
  let reach!: Reach;
  /** The last address that worked for each peer: dials, and refs enlivened (hintsFor). */
  const addresses = makeAddressBook();

  const machines = makeMachineWatch({ inspector, shareMachines: opts.shareMachines ?? true, print, stopping: () => table.lifetime.isClosed });
  const gateway = makeGateway({
    crypto,
    supervisor,
    names,
    refs,
    maxHostTickets: limits.maxHostTickets,
    traceLimit,
    watch: (session, sink) => machines.serve(session, sink),
    hintsFor: (host) => reach.hintsFor(host),
    advertised: () => formatAddress(advertised.host, advertised.port),
    ...(opts.handoffs ? { handoffs: opts.handoffs } : {}),
    meet: (session, bridge, nonce) => bridges.meetAsked(session, bridge, nonce),
  });

  const graceMs = opts.sessionGraceMs ?? GRACE_MS;
  if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new RangeError(`sessionGraceMs must be a non-negative integer, got ${graceMs}`);
  /** This host run's epoch: a peer that sees another one knows this host restarted. */
  const hostEpoch = randomEpoch(crypto);
  const bridges = makeBridges({
    self,
    crypto,
    clock,
    bridge: opts.bridge ?? false,
    configured: opts.bridges ?? [],
    advertised: () => formatAddress(advertised.host, advertised.port),
    table: () => table,
    stopping: () => table.lifetime.isClosed,
    ...(opts.bridgeFault ? { fault: opts.bridgeFault } : {}),
  });
  const links = makePeerLinks({
    clock,
    pathless: (peer) => bridges.pathless(peer),
    newEpoch: () => randomEpoch(crypto),
    hostEpoch,
    graceMs,
    ...(opts.tripleMode ? { mode: opts.tripleMode } : {}),
    ...(opts.tripleLimits ? { limits: opts.tripleLimits } : {}),
    ...(opts.tripleSessions === false ? { triple: false } : {}),
    redial: (peer, address) => table.redial(peer, address),
    stopping: () => table.lifetime.isClosed,
    // The triple session machine: under 'sessions', beside its peer's path machines.
    inspect: (peer) => inspector.tap({ group: 'sessions', name: `triple ↔ ${short(peer)}`, peer }, TRIPLE_TAP).inspect as (ev: unknown) => void,
    name: (peer) => `${short(self)}↔${short(peer)}`,
  });

  /** What rides on a new session: the CapTP channels, with the gateway on '@gw'. */
  const newSession = (s: PeerSession, link: PeerLink): HostSession => {
    const { peer } = s;
    let session: HostSession | undefined;
    // Before the mux: the path hands over early frames as the mux sets its
    // handler, and a hostile first frame can end the session right there.
    link.lifetime.onClose((reason) => {
      session?.relay?.stop();
      // Replaced by a newer session with the same peer: that one is still watched.
      if (opts.watchPeers && !table.get(peer)) inspector.peerGone(peer);
      if (!table.lifetime.isClosed) print(`session with ${short(peer)} ended: ${describeError(reason)}`);
    });
    // The mux is the one consumer of the link's frames, and one more party on the session's lifetime.
    // Bridge frames (Relay, BridgeControl) go to the bridges; every other frame to the CapTP mux.
    const muxPath = {
      send: (tag: number, payload: Uint8Array) => link.send(tag, payload),
      abort: (reason: Error) => link.abort(reason),
      lifetime: link.lifetime,
      onFrame: (h: (tag: number, payload: Uint8Array) => void) =>
        link.onFrame((tag, payload) => (tag === Tag.Relay || tag === Tag.BridgeControl ? bridges.frame(session!, tag, payload) : h(tag, payload))),
    };
    const mux = makeSessionMux({
      path: muxPath,
      name: `${short(self)}↔${short(peer)}`,
      gateway: gateway.forSession(() => session!),
      traceLimit,
      maxChannels: limits.maxChannelsPerSession,
    });
    session = {
      peer,
      path: link,
      get address() {
        return link.address;
      },
      since: s.since,
      lifetime: link.lifetime,
      mux,
      hostConns: new Map(),
      confirmed: new Set(),
    };
    return session;
  };

  /** A new path: a new session, or the live one resumed (the Join decides, protocols/triple/peer-link.ts). */
  const attach = (s: PeerSession, existing: HostSession | undefined): HostSession | Promise<HostSession> => {
    if (isRelayedAddress(s.address)) s.path.lifetime.onClose((reason) => bridges.relayedPathEnded(reason));
    const linked = links.arrive({ peer: s.peer, path: s.path, address: s.address }, existing?.path);
    /** Once the Join decided: meet the peer at the bridges this path's handshake selected. */
    const meet = (session: HostSession) => {
      void session.path.decided().then(() => {
        if (!session.lifetime.isClosed && !s.path.lifetime.isClosed) bridges.arrived(session, s.path, s.address);
      });
      return session;
    };
    if (!(linked instanceof Promise)) return meet(newSession(s, linked));
    return linked.then((link) => {
      if (existing && link === existing.path) {
        if (!isRelayedAddress(s.address)) print(`session with ${short(s.peer)} resumed (${s.path.role}, ${s.address})`);
        return meet(existing);
      }
      return meet(newSession(s, link));
    });
  };

  table = await startSessionTable<HostSession>({
    identity,
    crypto,
    clock,
    transport: { listen: async (accept) => (listener = await transport.listen(accept)), dial: (address) => transport.dial(address) },
    limits,
    ciphers: opts.ciphers ?? preferredCiphers(),
    ...(opts.pathLimits ? { pathLimits: opts.pathLimits } : {}),
    bridges: { suggest: (peer) => bridges.suggest(peer), select: (peer, suggested) => bridges.select(peer, suggested) },
    attach,
    end: (session, reason) => session.path.close(reason),
    adopted: (session) => {
      // A path through a bridge is never an address to dial.
      if (isRelayedAddress(session.address)) {
        // nothing to remember
      } else if (session.path.role === 'initiator') addresses.remember(session.peer, session.address, 'dialed');
      // A peer that dialled in: its address here is its outgoing port. Ask where it listens, for
      // the hints of gifts of its objects that this host hands to third hosts. An older peer
      // without `advertised` (or a lying one) only costs those third hosts a failed dial.
      else if (addresses.get(session.peer) === undefined) {
        E(session.mux.gateway())
          .advertised()
          .then(
            (address: unknown) => {
              if (isHint(address)) addresses.remember(session.peer, address, 'told');
            },
            () => {},
          );
      }
      print(`session with ${short(session.peer)} up (${session.path.role}, ${session.address}, ${session.path.cipher})`);
      if (opts.watchPeers) machines.watchPeer(session);
    },
    // A path machine's place in the visualizer: under 'handshakes' until it proves its peer, then under 'sessions'.
    watchHandshake: (name) => {
      const tap = inspector.tap({ group: 'handshakes', name }, PATH_TAP);
      return {
        inspect: tap.inspect as (ev: unknown) => void,
        proven: (peer) => tap.retag({ group: 'sessions', name: `↔ ${short(peer)}`, peer }),
      };
    },
  });
  const advertised = { host: opts.advertise?.host ?? listener.host, port: opts.advertise?.port ?? listener.port };
  const sturdy = makeSturdyRefs({
    self,
    crypto,
    names,
    refs,
    advertised,
    maxRefHops: limits.maxRefHops,
    connect: async (peer, address) => {
      const session = await table.connect(peer, address);
      // Dialed just now: adopted remembered it. Over a session the peer dialed, the ref's address is all we know.
      addresses.remember(peer, address, 'ref');
      return session;
    },
    gateway,
  });
  reach = makeReach({ self, advertised, sessions: table, gateway, supervisor, addresses });

  return {
    address: { host: listener.host, port: listener.port },
    enliven: (refText) => sturdy.enlivenFor(HOST_ENDPOINT, refText),
    enlivenFor: (vat, refText) => sturdy.enlivenFor(vat, refText),
    makeSturdyRef: (name) => sturdy.make(name),
    revoke: (refText) => sturdy.revoke(refText),
    reach: (peer, hints, endpoint, from) => reach.reach(peer, hints, endpoint, from),
    hintsFor: (peer) => reach.hintsFor(peer),
    hostLink: (peer, endpoint) => {
      const session = table.get(peer as VatId);
      return session ? gateway.hostLink(session, endpoint) : undefined;
    },
    sessions: () => table.list().map((s) => statusOf(s, bridges.pathsOf(s.peer))),
    bridges: () => bridges.status(),
    learnBridges: (refs) => bridges.learn(refs),
    widenSession: (peer, refs, direct) => bridges.widen(peer as VatId, refs, direct),
    /** The state of the session with `peer`, if there is one. */
    sessionWith: (peer) => {
      const s = table.get(peer as VatId);
      return s ? statusOf(s, bridges.pathsOf(s.peer)) : undefined;
    },
    /** A sturdy ref whose swiss number the caller chose (a sister's, derived from the tribe's secret), for what is published as `name`. */
    exportAt: (swiss, name) => sturdy.exportAt(swiss, name),
    vatEnded(vat, reason) {
      for (const s of table.list()) s.mux.closeEndpoint(vat, reason);
    },
    peerFault(vat, peer, reason) {
      const id = peer.split('/')[0] as VatId;
      table.get(id)?.path.abort(new ProtocolViolationError(`vat "${vat}" got malformed CapTP: ${reason}`));
    },
    close: () => table.close(),
    diagnostics: {
      connect: (peer, address) => table.connect(peer, address),
      dropSession(peer, reason) {
        table.get(peer as VatId)?.path.abort(reason);
      },
      idle: () => listener.idle(),
      stats: () => ({ ...table.stats(), connections: listener.connections, reachRoundTrips: reach.roundTrips, knownAddresses: addresses.size }),
    },
  };
};
