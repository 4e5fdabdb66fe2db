/**
 * This host's sessions with other hosts, wired: the session table
 * (protocols/session/session-table.ts: one session per peer, crossed
 * connections, dialing) over a transport (TCP by default), and on each session
 * the CapTP channels (capabilities/session-mux.ts), the gateway a peer may ask
 * (gateway.ts), sturdy refs (sturdy-refs.ts) and the visualizer relay
 * (machine-watch.ts).
 *
 * Routing (docs/architecture.md): a channel joins two endpoints — a vat, or a
 * host itself — and rides the peers' one session. The host only moves bytes for
 * it: vat X's CapTP messages go over a MessagePort to this thread, into an
 * Encrypted frame, and out of the other host's thread into vat Y.
 */
import type { ByteStream } from '../../protocols/framing/byte-stream.js';
import { describeError, ProtocolViolationError } from '../../capabilities/errors.js';
import type { NameRegistry } from '../../capabilities/names.js';
import { MAX_CHANNELS_PER_SESSION, makeSessionMux } from '../../capabilities/session-mux.js';
import { tagName } from '../../protocols/framing/frames.js';
import type { CryptoSuite, SigningKey } from '../../protocols/session/crypto.js';
import type { PathClock, PathLimits } from '../../protocols/session/path.js';
import { type PeerSession, type SessionTable, startSessionTable } from '../../protocols/session/session-table.js';
import type { VatId } from '../../protocols/session/vat-id.js';
import { MAX_VAT_TICKETS } from '../../vats/link.js';
import type { Supervisor } from '../../vats/supervisor.js';
import type { HostStore } from '../store.js';
import { type Listener, makeTcpTransport } from '../tcp.js';
import type { Inspector } from '../viz/inspector.js';
import { type HostSession, makeGateway } from './gateway.js';
import { makeMachineWatch } from './machine-watch.js';
import { makeSturdyRefs } from './sturdy-refs.js';

/** Handshakes in flight above which the listener demands a cookie round trip before any DH work. */
export const COOKIE_DEMAND_THRESHOLD = 32;
/** Tickets the host itself admitted but nobody redeemed; the oldest go first. */
export const MAX_HOST_TICKETS = 10_000;
/** How long a dial that lost a crossed-connection tie waits for the winning inbound session. */
const CROSSED_WAIT_MS = 15_000;
/** Names that refer to other names' sturdy refs are followed this deep, no deeper (no loops). */
const MAX_REF_HOPS = 4;

/** What a peer host may make this host hold; each field is a bound a test may shrink. */
export interface RemoteLimits {
  /** Inbound handshakes in flight above which a Hello must come back with a cookie before any DH or signing. */
  readonly cookieDemandThreshold: number;
  /** Unredeemed tickets for references the host itself holds; past it the oldest go first. */
  readonly maxHostTickets: number;
  /** Unredeemed tickets each vat keeps (enforced in the vat, vats/vat-main.ts); past it the oldest go first. */
  readonly maxVatTickets: number;
  /** Channels one session may hold, the gateway's included; one more is RemoteLimitError. */
  readonly maxChannelsPerSession: number;
}

export const DEFAULT_REMOTE_LIMITS: RemoteLimits = Object.freeze({
  cookieDemandThreshold: COOKIE_DEMAND_THRESHOLD,
  maxHostTickets: MAX_HOST_TICKETS,
  maxVatTickets: MAX_VAT_TICKETS,
  maxChannelsPerSession: MAX_CHANNELS_PER_SESSION,
});

export interface SessionStatus {
  readonly peer: string;
  readonly address: string;
  readonly role: 'initiator' | 'responder';
  readonly cipher: string;
  readonly since: number;
  readonly channels: number;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Written to the peer and not yet taken by it; the session aborts past `PathLimits.maxUnsentBytes`. */
  readonly unsentBytes: number;
  /** Round-trip time of the last keepalive Ping, once one was answered. */
  readonly rttMs?: number;
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
  readonly limits?: Partial<PathLimits>;
  /** Bounds on what peers may make this host hold (maxVatTickets is applied by the host when it spawns vats). */
  readonly remoteLimits?: Partial<RemoteLimits>;
  readonly traceLimit?: number;
  /** Default: TCP, listening on `listen`. */
  readonly transport?: RemoteTransport;
  /** Default: the real clock (timers unref'd). */
  readonly clock?: PathClock;
}

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
};

const short = (id: string) => id.slice(0, 8);

const statusOf = (s: HostSession): SessionStatus => {
  const st = s.path.stats();
  return {
    peer: s.peer,
    address: s.address,
    role: s.path.role,
    cipher: s.path.cipher,
    since: s.since,
    channels: s.mux.channels,
    framesIn: st.framesIn,
    framesOut: st.framesOut,
    bytesIn: st.bytesIn,
    bytesOut: st.bytesOut,
    unsentBytes: st.unsentBytes,
    ...(st.rttMs !== undefined ? { rttMs: st.rttMs } : {}),
  };
};

export const startRemoteHosts = async (opts: RemoteHostsOptions) => {
  const { identity, crypto, supervisor, names, refs, print, inspector } = opts;
  const limits: RemoteLimits = { ...DEFAULT_REMOTE_LIMITS, ...opts.remoteLimits };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`remoteLimits.${k} must be a positive integer, got ${v}`);
  }
  const self = identity.vatId;
  const clock = opts.clock ?? realClock;
  const transport: RemoteTransport = opts.transport ?? makeTcpTransport(opts.listen);
  const traceLimit = opts.traceLimit ?? 0;
  // Set once the table is up; its closures run only after that.
  let table!: SessionTable<HostSession>;
  let listener!: Listener;

  const machines = makeMachineWatch({ inspector, shareMachines: opts.shareMachines ?? true, print, stopping: () => table.lifetime.isClosed });
  const gateway = makeGateway({
    crypto,
    supervisor,
    names,
    refs,
    maxHostTickets: limits.maxHostTickets,
    traceLimit,
    watch: (session, sink) => machines.serve(session, sink),
  });

  /** What rides on a new session: the CapTP channels, with the gateway on '@gw'. */
  const attach = (s: PeerSession): HostSession => {
    const { peer, path } = s;
    let session: HostSession | undefined;
    // Before the mux: the path hands over early frames as the mux sets its
    // handler, and a hostile first frame can end the session right there.
    s.lifetime.onClose((reason) => {
      session?.relay?.stop();
      // Replaced by a newer session with the same peer: that one is still watched.
      if (opts.watchPeers && !table.get(peer)) inspector.peerGone(peer);
      if (!table.lifetime.isClosed) print(`session with ${short(peer)} ended: ${describeError(reason)}`);
    });
    // The mux is the one consumer of the path's frames, and one more party on the session's lifetime.
    const mux = makeSessionMux({
      path,
      name: `${short(self)}↔${short(peer)}`,
      gateway: gateway.forSession(() => session!),
      traceLimit,
      maxChannels: limits.maxChannelsPerSession,
    });
    session = { ...s, mux, hostConns: new Map() };
    return session;
  };

  table = await startSessionTable<HostSession>({
    identity,
    crypto,
    clock,
    transport: { listen: async (accept) => (listener = await transport.listen(accept)), dial: (address) => transport.dial(address) },
    limits: { cookieDemandThreshold: limits.cookieDemandThreshold, crossedWaitMs: CROSSED_WAIT_MS },
    ...(opts.limits ? { pathLimits: opts.limits } : {}),
    attach,
    adopted: (session) => {
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
    maxRefHops: MAX_REF_HOPS,
    connect: (peer, address) => table.connect(peer, address),
    gateway,
  });

  return {
    /** Where this host listens. */
    address: { host: listener.host, port: listener.port },
    connect: (peer: VatId, address: string) => table.connect(peer, address),
    /** A live reference for the host itself (host.enliven, `tribe connect`). */
    enliven: (refText: string) => sturdy.enlivenFor('@host', refText),
    /** For a vat's `names.lookup(ref)` and sturdy names: where the vat redeems it. */
    enlivenFor: (vat: string, refText: string) => sturdy.enlivenFor(vat, refText),
    makeSturdyRef: (name: string): string => sturdy.make(name),
    revoke: (refText: string): void => sturdy.revoke(refText),
    sessions: (): SessionStatus[] => table.list().map(statusOf),
    /** Resolves once the listener holds no socket (tests await it after closing connections). */
    idle: () => listener.idle(),
    stats: () => ({ ...table.stats(), connections: listener.connections }),
    /** A local vat ended: its channels to other hosts end too, with the same reason. */
    vatEnded(vat: string, reason: Error) {
      for (const s of table.list()) s.mux.closeEndpoint(vat, reason);
    },
    /** A vat saw malformed CapTP from `peer` (`<VatId>/<endpoint>`): end that session. */
    peerFault(vat: string, peer: string, reason: string) {
      const id = peer.split('/')[0] as VatId;
      table.get(id)?.path.abort(new ProtocolViolationError(`vat "${vat}" got malformed CapTP: ${reason}`));
    },
    /** Drops one session (tests, `tribe` diagnostics). */
    dropSession(peer: string, reason: Error) {
      table.get(peer as VatId)?.path.abort(reason);
    },
    /** Cancels every dial, handshake and wait in flight (HostStoppingError), closes every session, stops listening. */
    close: (): Promise<void> => table.close(),
  };
};

export type RemoteHosts = Awaited<ReturnType<typeof startRemoteHosts>>;
