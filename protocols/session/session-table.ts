/**
 * The session table: at most one session per peer host. It takes inbound
 * streams and dials outbound ones through the transport it is given, runs the
 * handshake on each (path.ts), settles crossed connections, shares one dial
 * among everyone who asks for the same peer at once, and adopts each new
 * session. It is platform-free: streams come from `transport`, time from
 * `clock`, so tests drive it over memory streams and a simulated clock.
 *
 * Failure semantics. `connect` resolves with the live session, or rejects with
 * what failed (the transport's dial error, NotMeError, HandshakeTimeoutError, …).
 * `close()` cancels everything in flight at once: dials, handshakes and waits
 * reject with HostStoppingError, a stream or path that still arrives is closed,
 * nothing is adopted afterwards, every session closes (Shutdown 'host-stopping'),
 * and the transport stops listening. A session whose path ends leaves the table
 * in the same turn.
 *
 * Crossed connections (both hosts dial each other at once): the connection
 * initiated by the smaller VatId survives, on both sides. The responder decides
 * at Hello (`decide`, on the claimed VatId): if it is dialing that peer too and
 * its own VatId is the smaller, it refuses with DuplicateConnection; if its own
 * is the larger, its own dial to that peer gives way at once. The loser's dial
 * then waits for the winner's session (at most `crossedWaitMs`); if the winner's
 * handshake fails, or its session ends while being adopted, the wait ends at
 * once and the loser dials again, once. A peer that proves its key and dials
 * again replaces its old session (it restarted, or its side timed out).
 *
 * Lifetimes (../lifetime.ts): the table has one; each dial and each wait has
 * one under it, and a handshake is aborted when its dial's (or, inbound, the
 * table's) lifetime ends. A session's lifetime hangs from its path's.
 */
import type { ByteStream } from '../framing/byte-stream.js';
import { type Lifetime, type LifetimeKit, makeLifetime } from '../lifetime.js';
import type { CipherName, CryptoSuite } from './crypto.js';
import { DuplicateConnectionError, HostStoppingError, SessionError } from './errors.js';
import { acceptPath, initiatePath, type PathClock, type PathIdentity, type PathLimits, type SecurePath } from './path.js';
import { type SessionLimits, sessionLimits } from './session-limits.js';
import type { VatId } from './vat-id.js';

/** Where the table's byte streams come from: TCP in runtime/, an in-memory network in tests, bridges later. */
export interface SessionTransport {
  /** Starts taking inbound streams, each handed to `accept`; resolves once listening. `close` stops listening. */
  listen(accept: (stream: ByteStream) => void): Promise<{ close(): Promise<void> }>;
  /** One outbound stream to `address`, in the transport's own form (TCP: 'host:port', '[v6]:port'). */
  dial(address: string): Promise<ByteStream>;
}

/** One session with a peer host, as the table adopted it. */
export interface PeerSession {
  /** Proven by the handshake. */
  readonly peer: VatId;
  readonly path: SecurePath;
  /** The address dialed, or where an inbound stream came from. */
  readonly address: string;
  /** When it was adopted (the table's clock). */
  readonly since: number;
  /**
   * Ends with the reason the session ended; what hangs from the session (its
   * mux, a visualizer relay) waits on it. Today a session is one path and ends
   * with it; a triple session will outlive a path.
   */
  readonly lifetime: Lifetime;
}

/** One handshake's view for the visualizer: its path machine's inspection events, and its peer once proven. */
export interface HandshakeWatch {
  readonly inspect: (event: unknown) => void;
  proven(peer: VatId): void;
}

export interface SessionTableOptions<S extends TableSession> {
  readonly identity: PathIdentity;
  readonly crypto: CryptoSuite;
  readonly clock: PathClock;
  readonly transport: SessionTransport;
  /** The table uses `cookieDemandThreshold` and `crossedWaitMs`; default DEFAULT_SESSION_LIMITS. */
  readonly limits?: Partial<SessionLimits>;
  readonly pathLimits?: Partial<PathLimits>;
  /** Ciphers in this host's preference order (it picks by it when it accepts); default CIPHERS. */
  readonly ciphers?: readonly CipherName[];
  /**
   * Builds what rides on a new path (the CapTP mux, …) before the table
   * publishes it, or takes the path into `existing`, the live session with the
   * same peer (returning it). It may wait (a triple session's Join); a rejection
   * fails the dial that brought the path. The session may end inside it (a
   * hostile first frame): it is then not published, and dials waiting for it
   * decide again.
   */
  attach(session: PeerSession, existing: S | undefined): S | Promise<S>;
  /** Ends a session the table drops (replaced by a newer one, host stopping); default: closes its path with `reason`. */
  end?(session: S, reason: { code: string; message: string }): void;
  /** The session is published: `get` and `list` show it, and `connect` callers get it next. */
  adopted?(session: S): void;
  watchHandshake?(label: string): HandshakeWatch;
  /**
   * Bridges for new sessions (docs/protocol.md 15): what this host suggests
   * when it dials `peer`, and what it selects when `peer` dials it. Paths that
   * come through a bridge (`dialStream`, `acceptStream`) suggest none.
   */
  readonly bridges?: {
    suggest(peer: VatId): readonly string[];
    select(peer: VatId, suggested: readonly string[]): readonly string[];
  };
}

export interface SessionTableStats {
  readonly sessions: number;
  readonly handshakesInFlight: number;
  readonly failedHandshakes: number;
  /** Failed inbound handshakes by error name. */
  readonly failures: Readonly<Record<string, number>>;
  /** Peers being connected to. */
  readonly dialing: number;
  /** Dials waiting for a crossed connection's winning session. */
  readonly waiting: number;
  /** Dials and waits that `close` would cancel (inbound handshakes are counted above). */
  readonly inFlight: number;
}

export interface SessionTable<S extends TableSession> {
  /** The session with `peer`, dialing `address` if there is none; concurrent calls for one peer share one dial. */
  connect(peer: VatId, address: string): Promise<S>;
  /**
   * A new path to `peer` at `address` even when a session is live (a session
   * that lost its paths dials again); shares a dial in flight. Resolves with the
   * session the path joined.
   */
  redial(peer: VatId, address: string): Promise<S>;
  /**
   * A path to `peer` over a stream this host opened itself (through a bridge):
   * the handshake as a dial's, then `attach`. Resolves with the session it joined.
   */
  dialStream(peer: VatId, stream: ByteStream, address: string): Promise<S>;
  /** An inbound stream that did not come from the listener (through a bridge): handled as the listener's. */
  acceptStream(stream: ByteStream): void;
  /** The live session with `peer`, if any. */
  get(peer: VatId): S | undefined;
  list(): S[];
  stats(): SessionTableStats;
  /** Ends on `close()`, with HostStoppingError; every dial, handshake and wait hangs from it. */
  readonly lifetime: Lifetime;
  close(): Promise<void>;
}

const HOST_STOPPING = { code: 'host-stopping', message: 'the host is stopping' };

/** What the table keeps per peer: a session with a lifetime of its own that can be closed. */
export interface TableSession {
  readonly peer: VatId;
  readonly lifetime: Lifetime;
  readonly path: { close(reason?: { code: string; message: string }): void };
}
const short = (id: string) => id.slice(0, 8);

type Waited<S> = { kind: 'session'; session: S } | { kind: 'failed' } | { kind: 'timeout' };

export const startSessionTable = async <S extends TableSession>(opts: SessionTableOptions<S>): Promise<SessionTable<S>> => {
  const { identity, crypto, clock } = opts;
  const limits = sessionLimits(opts.limits);
  const self = identity.vatId;
  const table = makeLifetime();
  const sessions = new Map<VatId, S>();
  const dialing = new Map<VatId, Promise<S>>();
  /** Peers whose Hello we answered and whose handshake still runs (claimed ids, not yet proven). */
  const inboundPending = new Map<VatId, number>();
  const waiters = new Map<VatId, Set<(w: Waited<S>) => void>>();
  /** Our dials in flight that give way when the peer's crossing connection arrives first (see `decide`). */
  const outbound = new Map<VatId, LifetimeKit>();
  /** Dials and waits: each a lifetime under the table's, gone from here once it ends. */
  const inFlight = new Set<LifetimeKit>();
  let handshakesInFlight = 0;
  let failedHandshakes = 0;
  const failures = new Map<string, number>();
  const cookieSecret = crypto.randomBytes(32);
  const end = (s: S, reason: { code: string; message: string }) => (opts.end ? opts.end(s, reason) : s.path.close(reason));

  /** A dial's or a wait's lifetime: it ends when the table closes, or when the work is done. */
  const startWork = (): LifetimeKit => {
    const work = makeLifetime(table.lifetime);
    inFlight.add(work);
    work.lifetime.onClose(() => inFlight.delete(work));
    return work;
  };

  const pathOptions = (stream: ByteStream, watch: HandshakeWatch | undefined, cancel: Lifetime) => ({
    stream,
    identity,
    crypto,
    clock,
    cancel,
    ...(opts.pathLimits ? { limits: opts.pathLimits } : {}),
    ...(opts.ciphers ? { ciphers: opts.ciphers } : {}),
    ...(watch ? { inspect: watch.inspect } : {}),
  });

  const live = (peer: VatId): S | undefined => {
    const s = sessions.get(peer);
    return s && !s.lifetime.isClosed ? s : undefined;
  };

  const release = (peer: VatId, w: Waited<S>) => {
    for (const waiter of [...(waiters.get(peer) ?? [])]) waiter(w);
  };

  const adopt = async (path: SecurePath, address: string, watch: HandshakeWatch | undefined): Promise<S> => {
    // A handshake that completed as the table closed: nothing is adopted after close.
    const stopped = table.lifetime.reason;
    if (stopped) {
      path.close(HOST_STOPPING);
      throw stopped;
    }
    const peer = path.remoteId;
    watch?.proven(peer);
    const arrival = makeLifetime(path.lifetime);
    const existing = live(peer);
    // `attach` may take the path into the live session (a resumed triple session) or make a new one;
    // it may first wait for the peer's word on which (the Join, protocols/triple/peer-link.ts).
    const attached = await opts.attach({ peer, path, address, since: clock.now(), lifetime: arrival.lifetime }, existing);
    // The table closed inside `attach`: its sessions are closed already, and this one is not published.
    const stoppedMeanwhile = table.lifetime.reason;
    if (stoppedMeanwhile) {
      path.close(HOST_STOPPING);
      if (attached !== existing) end(attached, HOST_STOPPING);
      throw stoppedMeanwhile;
    }
    if (attached.lifetime.isClosed) {
      // It ended while being adopted: a dial waiting for it decides again now, not after crossedWaitMs.
      release(peer, { kind: 'failed' });
      return attached;
    }
    const old = sessions.get(peer);
    if (old !== attached) {
      sessions.set(peer, attached);
      attached.lifetime.onClose(() => {
        if (sessions.get(peer) === attached) sessions.delete(peer);
      });
      if (old && !old.lifetime.isClosed) end(old, { code: 'replaced', message: 'replaced by a newer session' });
      opts.adopted?.(attached);
    }
    release(peer, { kind: 'session', session: attached });
    return attached;
  };

  /** Crossed connections: the connection initiated by the smaller VatId survives, on both sides. */
  const decide = (peer: VatId): 'accept' | 'duplicate' => {
    if (dialing.has(peer) && self < peer) return 'duplicate';
    // Our own dial to this smaller VatId would lose the crossing: it gives way now,
    // before either side can adopt it (else each side could adopt the two sessions
    // in opposite orders and replace the one the other kept). It then waits for this one.
    if (self > peer) outbound.get(peer)?.close(new DuplicateConnectionError(`a connection from ${short(peer)} crossed ours, and wins`));
    inboundPending.set(peer, (inboundPending.get(peer) ?? 0) + 1);
    return 'accept';
  };
  const inboundDone = (peer: VatId | undefined) => {
    if (!peer) return;
    const n = (inboundPending.get(peer) ?? 1) - 1;
    if (n <= 0) inboundPending.delete(peer);
    else inboundPending.set(peer, n);
  };

  const accept = (stream: ByteStream, relayed = false) => {
    if (table.lifetime.isClosed) return stream.close();
    handshakesInFlight += 1;
    let claimed: VatId | undefined;
    const watch = opts.watchHandshake?.(`inbound ${stream.remoteAddress}`);
    const bridges = opts.bridges;
    acceptPath({
      ...pathOptions(stream, watch, table.lifetime),
      ...(bridges && !relayed ? { selectBridges: (peer: VatId, suggested: readonly string[]) => bridges.select(peer, suggested) } : {}),
      cookies: { secret: cookieSecret, demand: () => handshakesInFlight > limits.cookieDemandThreshold },
      decide: (peer: VatId) => {
        const verdict = decide(peer);
        if (verdict === 'accept') claimed = peer;
        return verdict;
      },
    }).then(
      (path) => {
        handshakesInFlight -= 1;
        inboundDone(claimed);
        adopt(path, stream.remoteAddress, watch).catch(() => {
          // The table closed meanwhile (adopt closed the path), or the path ended before it joined.
          if (!live(path.remoteId)) release(path.remoteId, { kind: 'failed' });
        });
      },
      (err: Error) => {
        handshakesInFlight -= 1;
        inboundDone(claimed);
        if (table.lifetime.isClosed) return;
        failedHandshakes += 1;
        failures.set(err.name, (failures.get(err.name) ?? 0) + 1);
        // A dial that waited for this inbound handshake must now dial itself.
        if (claimed && !live(claimed)) release(claimed, { kind: 'failed' });
      },
    );
  };

  /** The session an inbound handshake with `peer` brings, within crossedWaitMs; HostStoppingError if the table closes first. */
  const waitForSession = (peer: VatId): Promise<Waited<S>> =>
    new Promise<Waited<S>>((resolve, reject) => {
      const wait = startWork();
      const set = waiters.get(peer) ?? new Set();
      waiters.set(peer, set);
      let finished = false;
      const finish = (w: Waited<S> | Error) => {
        if (finished) return;
        finished = true;
        clock.clearTimeout(timer);
        set.delete(finish);
        if (set.size === 0 && waiters.get(peer) === set) waiters.delete(peer);
        if (w instanceof Error) reject(w);
        else resolve(w);
        wait.close();
      };
      const timer = clock.setTimeout(() => finish({ kind: 'timeout' }), limits.crossedWaitMs);
      set.add(finish);
      wait.lifetime.onClose((reason) => finish(reason));
    });

  /** One dial and handshake; `mayGiveWay`: a crossing connection from the peer cancels it (first attempts only). */
  const dialOnce = async (peer: VatId, address: string, mayGiveWay: boolean): Promise<S> => {
    const attempt = startWork();
    if (mayGiveWay) outbound.set(peer, attempt);
    try {
      const stream = await attempt.lifetime.whileOpen(opts.transport.dial(address), (late) => late.close());
      const watch = opts.watchHandshake?.(`dialing ${short(peer)}`);
      // The attempt's end aborts the handshake itself (its reason goes to the peer in an Abort).
      const suggest = opts.bridges?.suggest(peer) ?? [];
      const path = await initiatePath({ ...pathOptions(stream, watch, attempt.lifetime), wanted: peer, ...(suggest.length ? { bridges: suggest } : {}) });
      // Established, but given way or stopped in the meantime: not adopted.
      const cancelled = attempt.lifetime.reason;
      if (cancelled) {
        path.close({ code: cancelled instanceof SessionError ? cancelled.code : 'closed', message: cancelled.message });
        throw cancelled;
      }
      return adopt(path, address, watch);
    } finally {
      if (outbound.get(peer) === attempt) outbound.delete(peer);
      attempt.close();
    }
  };

  const dial = async (peer: VatId, address: string, again = true): Promise<S> => {
    try {
      // Only a first attempt gives way: a peer's forged Hello cannot cancel a dial twice.
      return await dialOnce(peer, address, again);
    } catch (err) {
      if ((err as Error).name !== 'DuplicateConnectionError') throw err;
      // We lost a crossed-connection tie: the peer's own connection to us wins.
      const existing = live(peer);
      if (existing) return existing;
      const w = await waitForSession(peer);
      if (w.kind === 'session') return w.session;
      // The winner's handshake or adoption failed: decide again, once.
      if (w.kind === 'failed' && again) return dial(peer, address, false);
      throw err;
    }
  };

  const connect = async (peer: VatId, address: string, fresh = false): Promise<S> => {
    const stopped = table.lifetime.reason;
    if (stopped) throw stopped;
    const existing = live(peer);
    if (existing && !fresh) return existing;
    const pending = dialing.get(peer);
    if (pending) return pending;
    const attempt = (async () => {
      if (inboundPending.has(peer)) {
        const w = await waitForSession(peer);
        if (w.kind === 'session' && !w.session.lifetime.isClosed) return w.session;
      }
      return dial(peer, address);
    })();
    dialing.set(peer, attempt);
    try {
      return await attempt;
    } finally {
      dialing.delete(peer);
    }
  };

  /** A path over a stream opened through a bridge: no crossed-connection rules (the session exists), no bridges of its own. */
  const dialStream = async (peer: VatId, stream: ByteStream, address: string): Promise<S> => {
    const attempt = startWork();
    try {
      const watch = opts.watchHandshake?.(`dialing ${short(peer)} ${address}`);
      const path = await initiatePath({ ...pathOptions(stream, watch, attempt.lifetime), wanted: peer });
      const cancelled = attempt.lifetime.reason;
      if (cancelled) {
        path.close({ code: cancelled instanceof SessionError ? cancelled.code : 'closed', message: cancelled.message });
        throw cancelled;
      }
      return await adopt(path, address, watch);
    } catch (err) {
      stream.close();
      throw err;
    } finally {
      attempt.close();
    }
  };

  const listener = await opts.transport.listen((stream) => accept(stream));
  let closed: Promise<void> | undefined;
  const close = async () => {
    // Every dial, handshake and wait hangs from this: each rejects now, with this reason.
    table.close(new HostStoppingError(`host ${short(self)} is stopping`));
    const all = [...sessions.values()];
    sessions.clear();
    for (const s of all) end(s, { code: 'host-stopping', message: `host ${short(self)} is stopping` });
    await listener.close();
  };

  return {
    connect: (peer, address) => connect(peer, address),
    redial: (peer, address) => connect(peer, address, true),
    dialStream,
    acceptStream: (stream) => accept(stream, true),
    get: live,
    list: () => [...sessions.values()],
    stats: () => ({
      sessions: sessions.size,
      handshakesInFlight,
      failedHandshakes,
      failures: Object.fromEntries(failures),
      dialing: dialing.size,
      waiting: [...waiters.values()].reduce((n, set) => n + set.size, 0),
      inFlight: inFlight.size,
    }),
    lifetime: table.lifetime,
    close: () => {
      closed ??= close();
      return closed;
    },
  };
};
