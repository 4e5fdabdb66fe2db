/**
 * This host's sessions with other hosts: the TCP listener, dialing, one secure
 * session per peer host (crossed connections settled), sturdy refs, and the
 * wiring that gives a vat a direct CapTP channel to a vat on another host.
 *
 * Routing (docs/architecture.md): a channel joins two endpoints — a vat, or a
 * host itself — and rides the peers' one session (capabilities/session-mux.ts).
 * The host only moves bytes for it: vat X's CapTP messages go over a
 * MessagePort to this thread, into an Encrypted frame, and out of the other
 * host's thread into vat Y. Enlivening goes through the hosts' own channel: the
 * requester's host asks the owner's gateway `enliven(swiss, from)`; the owner
 * checks the swiss number, wires the channel, admits a one-time ticket in the
 * exporting vat and returns it; the requesting vat redeems it over the channel.
 */
import { createHash } from 'node:crypto';
import { E, Far } from '@endo/far';
import type { CapTPMessage } from '../capabilities/captp-schema.js';
import { makeConnection, type Connection } from '../capabilities/connection.js';
import { describeError, ProtocolViolationError, SessionLostError, SturdyRefError } from '../capabilities/errors.js';
import { NAME_PATTERN, type NameRegistry } from '../capabilities/names.js';
import { HOST_ENDPOINT, MAX_CHANNELS_PER_SESSION, makeSessionMux, type FramePath, type SessionMux } from '../capabilities/session-mux.js';
import { formatSturdyRef, parseSturdyRef, SWISS_BYTES, SWISS_PATTERN } from '../capabilities/sturdy-ref.js';
import type { ByteStream } from '../protocols/framing/byte-stream.js';
import { acceptPath, initiatePath, type PathClock, type PathLimits, type SecurePath } from '../protocols/session/path.js';
import { HostStoppingError } from '../protocols/session/errors.js';
import { base32, type VatId } from '../protocols/session/vat-id.js';
import type { CryptoSuite, SigningKey } from '../protocols/session/crypto.js';
import type { Supervisor } from '../vats/supervisor.js';
import { MAX_VAT_TICKETS } from '../vats/link.js';
import { makeChannel, wrapMessagePort } from './ports.js';
import type { HostStore } from './store.js';
import { dialTcp, formatAddress, listenTcp, type Listener } from './tcp.js';
import type { MessagePort } from 'node:worker_threads';
import { tagName } from '../protocols/framing/frames.js';
import { VizRelayError } from './errors.js';
import type { Inspector, Tap } from './viz/inspector.js';

/** Handshakes in flight above which the listener demands a cookie round trip before any DH work. */
export const COOKIE_DEMAND_THRESHOLD = 32;
/** Tickets the host itself admitted but nobody redeemed; the oldest go first. */
export const MAX_HOST_TICKETS = 10_000;

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
/** How long a dial that lost a crossed-connection tie waits for the winning inbound session. */
const CROSSED_WAIT_MS = 15_000;
/** Names that refer to other names' sturdy refs are followed this deep, no deeper (no loops). */
const MAX_REF_HOPS = 4;

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
  listen(onStream: (stream: ByteStream) => void): Promise<Listener>;
  dial(host: string, port: number): Promise<ByteStream>;
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

interface Session {
  readonly peer: VatId;
  readonly path: SecurePath;
  readonly mux: SessionMux;
  readonly address: string;
  readonly since: number;
  readonly hostConns: Map<string, Connection>;
  /** This host's machine records flowing to the peer's visualizer, while it watches. */
  relay?: { stop(): void };
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

const hashSwiss = (swiss: string) => createHash('sha256').update(swiss).digest('hex');
const short = (id: string) => id.slice(0, 8);

/** One session's close fans out to the mux and to us (a path takes one close handler). */
const fanOut = (path: SecurePath): FramePath => {
  const handlers: Array<(reason: Error) => void> = [];
  path.onClose((reason) => {
    for (const h of handlers) h(reason);
  });
  return {
    send: (tag, payload) => path.send(tag, payload),
    onFrame: (h) => path.onFrame(h),
    onClose: (h) => void handlers.push(h),
    abort: (reason) => path.abort(reason),
    get closed() {
      return path.closed;
    },
  };
};

export const startRemoteHosts = async (opts: RemoteHostsOptions) => {
  const { identity, crypto, supervisor, names, refs, print } = opts;
  const limits: RemoteLimits = { ...DEFAULT_REMOTE_LIMITS, ...opts.remoteLimits };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`remoteLimits.${k} must be a positive integer, got ${v}`);
  }
  const self = identity.vatId;
  const clock = opts.clock ?? realClock;
  const transport: RemoteTransport = opts.transport ?? {
    listen: (onStream) => listenTcp(opts.listen.host, opts.listen.port, onStream),
    dial: dialTcp,
  };
  const sessions = new Map<VatId, Session>();
  const dialing = new Map<VatId, Promise<Session>>();
  /** Peers whose Hello we answered and whose handshake is still running (claimed ids, not yet proven). */
  const inboundPending = new Map<VatId, number>();
  const waiters = new Map<VatId, Array<(s: Session | undefined) => void>>();
  let handshakesInFlight = 0;
  let failedHandshakes = 0;
  /** Failed inbound handshakes by error name: what `tribe ps --json` and the tests read. */
  const failures = new Map<string, number>();
  let closing = false;
  /** Dials, handshakes and waits in flight: each is cancelled when the host stops. */
  const inFlight = new Set<(reason: Error) => void>();
  const stoppingError = () => new HostStoppingError(`host ${short(self)} is stopping`);
  const HOST_STOPPING = { code: 'host-stopping', message: 'the host is stopping' };
  /**
   * `work`'s outcome, unless the host stops first: then it rejects with
   * HostStoppingError at once, `undo` stops the work, and `late` disposes of a
   * result that still arrives (a stream, a path), so nothing outlives the stop.
   */
  const unlessStopping = <T>(work: Promise<T>, how: { undo?: () => void; late?: (value: T) => void } = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let cancelled = false;
      const cancel = (reason: Error) => {
        cancelled = true;
        inFlight.delete(cancel);
        how.undo?.();
        reject(reason);
      };
      work.then(
        (value) => {
          inFlight.delete(cancel);
          if (cancelled) how.late?.(value);
          else resolve(value);
        },
        (err) => {
          inFlight.delete(cancel);
          if (!cancelled) reject(err);
        },
      );
      if (closing) cancel(stoppingError());
      else inFlight.add(cancel);
    });
  const cookieSecret = crypto.randomBytes(32);
  /** A path machine's place in the visualizer: under 'handshakes' until it proves its peer, then under 'sessions'. */
  const pathTap = (name: string): Tap => opts.inspector.tap({ group: 'handshakes', name }, PATH_TAP);
  const pathOptions = (stream: ByteStream, tap: Tap) => ({
    stream,
    identity: { vatId: self, key: identity.key },
    crypto,
    clock,
    ...(opts.limits ? { limits: opts.limits } : {}),
    inspect: tap.inspect as (ev: unknown) => void,
  });

  // --- the host's own gate: tickets for references the host itself holds ---
  const hostTickets = new Map<string, unknown>();
  const hostGate = Far('RemoteGate', {
    redeem(ticket: string) {
      if (typeof ticket !== 'string' || !hostTickets.has(ticket)) {
        throw new SturdyRefError('no such ticket (unknown or already redeemed)');
      }
      const ref = hostTickets.get(ticket);
      hostTickets.delete(ticket);
      return ref;
    },
  });
  const admitHostTicket = (ticket: string, ref: unknown) => {
    if (hostTickets.size >= limits.maxHostTickets) hostTickets.delete(hostTickets.keys().next().value as string);
    hostTickets.set(ticket, ref);
  };
  const newTicket = () => base32(crypto.randomBytes(16));

  // --- channels ---
  const hostConn = (session: Session, remote: string): Connection => {
    const existing = session.hostConns.get(remote);
    if (existing && !existing.aborted) return existing;
    let conn!: Connection;
    const send = session.mux.open(HOST_ENDPOINT, remote, {
      deliver: (m) => conn.dispatch(m),
      close: (reason) => {
        session.hostConns.delete(remote);
        conn.abort(reason);
      },
    });
    conn = makeConnection({
      name: `host->${short(session.peer)}/${remote}`,
      send,
      bootstrap: hostGate,
      traceLimit: opts.traceLimit ?? 0,
      onAbort: (reason) => {
        if (reason.name === 'ProtocolViolationError') session.path.abort(reason);
      },
    });
    session.hostConns.set(remote, conn);
    return conn;
  };

  const wireVatChannel = (session: Session, vat: string, remote: string) => {
    if (session.mux.has(vat, remote)) return;
    const peerName = `${session.peer}/${remote}`;
    const [mine, theirs] = makeChannel();
    const port = wrapMessagePort(mine as MessagePort);
    const send = session.mux.open(vat, remote, {
      deliver: (m) => port.postMessage(m),
      close: (reason) => {
        supervisor.remotePeerGone(vat, peerName, describeError(reason));
        port.close();
      },
    });
    // Messages from our own vat: trusted, forwarded as they are, in the same turn:
    // each is written to the session or, once the path aborted at its
    // maxUnsentBytes, dropped by the mux, so none waits here for a peer that does
    // not read. (The other way, what the peer sends waits in the port while the
    // vat is busy, and nothing bounds that yet: inbound flow control is not built.)
    port.onMessage((m) => send(m as CapTPMessage));
    supervisor.attachRemotePeer(vat, peerName, theirs);
  };

  // --- gateway: what a peer host may ask of us ---
  const makeGateway = (getSession: () => Session) =>
    Far('TribeGateway', {
      async enliven(swiss: unknown, from: unknown) {
        if (typeof swiss !== 'string' || !SWISS_PATTERN.test(swiss)) throw new SturdyRefError('malformed swiss number');
        if (typeof from !== 'string' || (from !== HOST_ENDPOINT && !NAME_PATTERN.test(from))) {
          throw new SturdyRefError('malformed endpoint');
        }
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
      /** The peer's visualizer asks for this host's machine records: relayed to `sink.push(batch)` while the session lasts. */
      watch(sink: unknown) {
        const inspector = opts.inspector;
        if (opts.shareMachines === false) throw new VizRelayError('this host does not share its machines');
        const session = getSession();
        if (session.path.closed) throw new SessionLostError('the session ended');
        session.relay?.stop();
        session.relay = inspector.relay((batch) => E(sink as any).push(harden(batch)));
      },
    });

  // --- sessions ---
  const adopt = (path: SecurePath, address: string, tap: Tap): Session => {
    const peer = path.remoteId as VatId;
    // A handshake that completed as the host stopped: nothing is adopted after close.
    if (closing) {
      path.close(HOST_STOPPING);
      throw stoppingError();
    }
    tap.retag({ group: 'sessions', name: `↔ ${short(peer)}`, peer });
    const old = sessions.get(peer);
    const fan = fanOut(path);
    let session: Session | undefined;
    // Registered before the mux: the path hands over early frames as the mux sets
    // its handler, and a hostile first frame can end the session right there.
    fan.onClose((reason) => {
      session?.relay?.stop();
      if (session && sessions.get(peer) === session) {
        sessions.delete(peer);
        if (opts.watchPeers) opts.inspector.peerGone(peer);
      }
      if (!closing) print(`session with ${short(peer)} ended: ${describeError(reason)}`);
    });
    const mux = makeSessionMux({
      path: fan,
      name: `${short(self)}↔${short(peer)}`,
      gateway: makeGateway(() => session!),
      traceLimit: opts.traceLimit ?? 0,
      maxChannels: limits.maxChannelsPerSession,
    });
    const live: Session = { peer, path, mux, address, since: Date.now(), hostConns: new Map() };
    session = live;
    if (path.closed) {
      // It ended during adoption: a dial waiting for it decides again now, not after crossedWaitMs.
      releaseWaiters(peer, undefined);
      return live;
    }
    sessions.set(peer, live);
    // A peer that proved its key and dials us again has lost the old session (it
    // restarted, or its side timed out): the new one replaces it. Crossed dials
    // are settled earlier, at Hello (see `decide`).
    if (old && !old.path.closed) old.path.close({ code: 'replaced', message: 'replaced by a newer session' });
    print(`session with ${short(peer)} up (${path.role}, ${address}, ${path.cipher})`);
    if (opts.watchPeers) watchPeer(live);
    releaseWaiters(peer, live);
    return live;
  };

  /** Asks the peer for its machine records; they stop when the session ends or a batch is malformed. */
  const watchPeer = (session: Session) => {
    const { inspector } = opts;
    let refused = false;
    const sink = Far('MachineSink', {
      push(batch: unknown) {
        if (refused || session.path.closed) return;
        try {
          inspector.ingest(session.peer, batch);
        } catch (err) {
          refused = true;
          inspector.peerGone(session.peer);
          print(`machines of ${short(session.peer)} no longer shown: ${describeError(err)}`);
          throw err;
        }
      },
    });
    E(session.mux.gateway())
      .watch(sink)
      .catch((err: unknown) => {
        if (!closing && !session.path.closed) print(`machines of ${short(session.peer)} not shown: ${describeError(err)}`);
      });
  };

  /** Crossed connections: the connection initiated by the smaller VatId survives, on both sides. */
  const decide = (peer: VatId): 'accept' | 'duplicate' => {
    if (dialing.has(peer) && self < peer) return 'duplicate';
    inboundPending.set(peer, (inboundPending.get(peer) ?? 0) + 1);
    return 'accept';
  };
  const inboundDone = (peer: VatId | undefined) => {
    if (!peer) return;
    const n = (inboundPending.get(peer) ?? 1) - 1;
    if (n <= 0) inboundPending.delete(peer);
    else inboundPending.set(peer, n);
  };

  const onInbound = (stream: ByteStream) => {
    if (closing) return stream.close();
    handshakesInFlight += 1;
    let claimed: VatId | undefined;
    const tap = pathTap(`inbound ${stream.remoteAddress}`);
    const accepting = acceptPath({
      ...pathOptions(stream, tap),
      cookies: { secret: cookieSecret, demand: () => handshakesInFlight > limits.cookieDemandThreshold },
      decide: (peer: VatId) => {
        const verdict = decide(peer);
        if (verdict === 'accept') claimed = peer;
        return verdict;
      },
    });
    unlessStopping(accepting, { undo: () => stream.close(), late: (path) => path.close(HOST_STOPPING) }).then(
      (path) => {
        handshakesInFlight -= 1;
        inboundDone(claimed);
        if (closing) return path.close(HOST_STOPPING);
        adopt(path, stream.remoteAddress, tap);
      },
      (err: Error) => {
        handshakesInFlight -= 1;
        inboundDone(claimed);
        if (closing) return;
        failedHandshakes += 1;
        failures.set(err.name, (failures.get(err.name) ?? 0) + 1);
        // A dial that waited for this inbound handshake must now dial itself.
        if (claimed && !sessions.has(claimed)) releaseWaiters(claimed, undefined);
      },
    );
  };

  const releaseWaiters = (peer: VatId, s: Session | undefined) => {
    for (const w of waiters.get(peer) ?? []) w(s);
  };

  /** The session an inbound handshake with `peer` brings; undefined if it fails or none comes within crossedWaitMs. */
  const waitForSession = (peer: VatId, ms: number): Promise<Session | undefined> => {
    let done!: (s: Session | undefined) => void;
    const waiting = new Promise<Session | undefined>((resolve) => {
      const timer = clock.setTimeout(() => done(undefined), ms);
      done = (s) => {
        clock.clearTimeout(timer);
        const rest = (waiters.get(peer) ?? []).filter((w) => w !== done);
        if (rest.length > 0) waiters.set(peer, rest);
        else waiters.delete(peer);
        resolve(s);
      };
      waiters.set(peer, [...(waiters.get(peer) ?? []), done]);
    });
    return unlessStopping(waiting, { undo: () => done(undefined) });
  };

  const dialOnce = async (peer: VatId, host: string, port: number): Promise<Session> => {
    const stream = await unlessStopping(transport.dial(host, port), { late: (s) => s.close() });
    const tap = pathTap(`dialing ${short(peer)}`);
    const initiating = initiatePath({ ...pathOptions(stream, tap), wanted: peer });
    const path = await unlessStopping(initiating, { undo: () => stream.close(), late: (p) => p.close(HOST_STOPPING) });
    return adopt(path, formatAddress(host, port), tap);
  };

  const dial = async (peer: VatId, host: string, port: number, again = true): Promise<Session> => {
    try {
      return await dialOnce(peer, host, port);
    } catch (err) {
      if ((err as Error).name !== 'DuplicateConnectionError') throw err;
      // We lost a crossed-connection tie: the peer's own connection to us wins.
      const live = sessions.get(peer);
      const s = live && !live.path.closed ? live : await waitForSession(peer, CROSSED_WAIT_MS);
      if (s) return s;
      // The winning connection failed (or never came): decide again, once.
      if (again) return dial(peer, host, port, false);
      throw err;
    }
  };

  /** The session with `peer`, dialing `host:port` if there is none. */
  const connect = async (peer: VatId, host: string, port: number): Promise<Session> => {
    if (closing) throw stoppingError();
    const live = sessions.get(peer);
    if (live && !live.path.closed) return live;
    const pending = dialing.get(peer);
    if (pending) return pending;
    const attempt = (async () => {
      if (inboundPending.has(peer)) {
        const s = await waitForSession(peer, CROSSED_WAIT_MS);
        if (s && !s.path.closed) return s;
      }
      return dial(peer, host, port);
    })();
    dialing.set(peer, attempt);
    try {
      return await attempt;
    } finally {
      dialing.delete(peer);
    }
  };

  /** Follows a sturdy ref for a local endpoint: a vat name, or '@host' for the host itself. */
  const enlivenFor = async (from: string, refText: string, hops = 0): Promise<unknown> => {
    const ref = parseSturdyRef(refText);
    if (ref.vatId === self) {
      const name = refs.lookup(hashSwiss(ref.swiss));
      if (name === undefined) throw new SturdyRefError('unknown or revoked sturdy ref');
      const entry = names.lookup(name);
      if (entry.home.sturdy !== undefined) {
        if (hops >= MAX_REF_HOPS) throw new SturdyRefError(`sturdy ref chain longer than ${MAX_REF_HOPS}`);
        return enlivenFor(from, entry.home.sturdy, hops + 1);
      }
      if (from === HOST_ENDPOINT) return entry.ref;
      return entry.home.vat !== undefined ? harden({ vat: entry.home.vat, key: entry.home.key }) : harden({ ref: entry.ref });
    }
    const session = await connect(ref.vatId as VatId, ref.host, ref.port);
    const answer = (await E(session.mux.gateway()).enliven(ref.swiss, from)) as { endpoint?: unknown; ticket?: unknown };
    const endpoint = answer?.endpoint;
    const ticket = answer?.ticket;
    if (typeof endpoint !== 'string' || typeof ticket !== 'string' || (endpoint !== HOST_ENDPOINT && !NAME_PATTERN.test(endpoint))) {
      session.path.abort(new ProtocolViolationError(`host ${short(session.peer)} answered enliven with garbage`));
      throw new SessionLostError('the remote host answered enliven with garbage');
    }
    if (from === HOST_ENDPOINT) return E(hostConn(session, endpoint).getBootstrap()).redeem(ticket);
    wireVatChannel(session, from, endpoint);
    return harden({ vat: `${session.peer}/${endpoint}`, ticket });
  };

  const listener: Listener = await transport.listen(onInbound);
  const advertised = { host: opts.advertise?.host ?? listener.host, port: opts.advertise?.port ?? listener.port };

  return {
    /** Where this host listens. */
    address: { host: listener.host, port: listener.port },
    connect,
    /** A live reference for the host itself (host.enliven, `tribe connect`). */
    enliven: (refText: string) => enlivenFor(HOST_ENDPOINT, refText),
    /** For a vat's `names.lookup(ref)` and sturdy names: where the vat redeems it. */
    enlivenFor: (vat: string, refText: string) => enlivenFor(vat, refText),
    makeSturdyRef(name: string): string {
      names.lookup(name); // NameNotFoundError when nothing is published under it
      const swiss = base32(crypto.randomBytes(SWISS_BYTES));
      refs.add(hashSwiss(swiss), name);
      return formatSturdyRef({ vatId: self, host: advertised.host, port: advertised.port, swiss });
    },
    revoke(refText: string): void {
      const ref = parseSturdyRef(refText);
      if (ref.vatId !== self) throw new SturdyRefError(`this ref belongs to host ${ref.vatId}, not to this host (${self})`);
      if (!refs.remove(hashSwiss(ref.swiss))) throw new SturdyRefError('unknown or already revoked sturdy ref');
    },
    sessions: (): SessionStatus[] =>
      [...sessions.values()].map((s) => {
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
      }),
    /** Resolves once the listener holds no socket (tests await it after closing connections). */
    idle: () => listener.idle(),
    stats: () => ({
      handshakesInFlight,
      failedHandshakes,
      failures: Object.fromEntries(failures),
      connections: listener.connections,
      sessions: sessions.size,
      /** Leak checks: connects, waits for a crossed session, and dials/handshakes/waits the host would cancel on stop. */
      dialing: dialing.size,
      waiting: [...waiters.values()].reduce((n, list) => n + list.length, 0),
      inFlight: inFlight.size,
    }),
    /** A local vat ended: its channels to other hosts end too, with the same reason. */
    vatEnded(vat: string, reason: Error) {
      for (const s of sessions.values()) s.mux.closeEndpoint(vat, reason);
    },
    /** A vat saw malformed CapTP from `peer` (`<VatId>/<endpoint>`): end that session. */
    peerFault(vat: string, peer: string, reason: string) {
      const id = peer.split('/')[0] as VatId;
      sessions.get(id)?.path.abort(new ProtocolViolationError(`vat "${vat}" got malformed CapTP: ${reason}`));
    },
    /** Drops one session (tests, `tribe` diagnostics). */
    dropSession(peer: string, reason: Error) {
      sessions.get(peer as VatId)?.path.abort(reason);
    },
    /** Cancels every dial, handshake and wait in flight (HostStoppingError), closes every session, stops listening. */
    async close(): Promise<void> {
      closing = true;
      const reason = stoppingError();
      for (const cancel of [...inFlight]) cancel(reason);
      for (const s of sessions.values()) s.path.close({ code: 'host-stopping', message: `host ${short(self)} is stopping` });
      sessions.clear();
      await listener.close();
    },
  };
};

export type RemoteHosts = Awaited<ReturnType<typeof startRemoteHosts>>;
