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
 * its own VatId is the smaller, it refuses with DuplicateConnection. The loser's
 * dial then waits for the winner's session (at most `crossedWaitMs`); if the
 * winner's handshake fails, or its session ends while being adopted, the wait
 * ends at once and the loser dials again, once. A peer that proves its key and
 * dials again replaces its old session (it restarted, or its side timed out).
 */
import type { ByteStream } from '../framing/byte-stream.js';
import type { CryptoSuite } from './crypto.js';
import { DuplicateConnectionError, HostStoppingError } from './errors.js';
import { acceptPath, initiatePath, type PathClock, type PathIdentity, type PathLimits, type SecurePath } from './path.js';
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
  /** Calls `handler` once with the reason the session ended (any number of handlers). */
  onEnd(handler: (reason: Error) => void): void;
}

/** One handshake's view for the visualizer: its path machine's inspection events, and its peer once proven. */
export interface HandshakeWatch {
  readonly inspect: (event: unknown) => void;
  proven(peer: VatId): void;
}

export interface SessionTableLimits {
  /** Inbound handshakes in flight above which a Hello must come back with a cookie before any DH or signing. */
  readonly cookieDemandThreshold: number;
  /** How long a dial that lost a crossed-connection tie waits for the winner's session. */
  readonly crossedWaitMs: number;
}

export interface SessionTableOptions<S extends PeerSession> {
  readonly identity: PathIdentity;
  readonly crypto: CryptoSuite;
  readonly clock: PathClock;
  readonly transport: SessionTransport;
  readonly limits: SessionTableLimits;
  readonly pathLimits?: Partial<PathLimits>;
  /**
   * Builds what rides on a new session (the CapTP mux, …), synchronously,
   * before the table publishes it. The path may end inside it (a hostile first
   * frame): the session is then not published, and dials waiting for it decide again.
   */
  attach(session: PeerSession): S;
  /** The session is published: `get` and `list` show it, and `connect` callers get it next. */
  adopted?(session: S): void;
  watchHandshake?(label: string): HandshakeWatch;
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
  /** Dials, handshakes and waits that `close` would cancel. */
  readonly inFlight: number;
}

export interface SessionTable<S extends PeerSession> {
  /** The session with `peer`, dialing `address` if there is none; concurrent calls for one peer share one dial. */
  connect(peer: VatId, address: string): Promise<S>;
  /** The live session with `peer`, if any. */
  get(peer: VatId): S | undefined;
  list(): S[];
  stats(): SessionTableStats;
  /** True from `close()` on. */
  readonly closing: boolean;
  close(): Promise<void>;
}

const HOST_STOPPING = { code: 'host-stopping', message: 'the host is stopping' };
const short = (id: string) => id.slice(0, 8);

type Waited<S> = { kind: 'session'; session: S } | { kind: 'failed' } | { kind: 'timeout' };

export const startSessionTable = async <S extends PeerSession>(opts: SessionTableOptions<S>): Promise<SessionTable<S>> => {
  const { identity, crypto, clock, limits } = opts;
  const self = identity.vatId;
  const sessions = new Map<VatId, S>();
  const dialing = new Map<VatId, Promise<S>>();
  /** Peers whose Hello we answered and whose handshake still runs (claimed ids, not yet proven). */
  const inboundPending = new Map<VatId, number>();
  const waiters = new Map<VatId, Set<(w: Waited<S>) => void>>();
  /** Our dials in flight that give way when the peer's crossing connection arrives first (see `decide`). */
  const outbound = new Map<VatId, Set<(reason: Error) => void>>();
  let handshakesInFlight = 0;
  let failedHandshakes = 0;
  const failures = new Map<string, number>();
  let closing = false;
  /** Dials, handshakes and waits in flight: each is cancelled when the table closes. */
  const inFlight = new Set<(reason: Error) => void>();
  const stoppingError = () => new HostStoppingError(`host ${short(self)} is stopping`);
  const cookieSecret = crypto.randomBytes(32);

  /**
   * `work`'s outcome, unless the table closes first: then it rejects with
   * HostStoppingError at once, `undo` stops the work, and `late` disposes of a
   * result that still arrives (a stream, a path), so nothing outlives the close.
   */
  const unlessClosing = <T>(
    work: Promise<T>,
    how: { undo?: () => void; late?: (value: T) => void } = {},
    /** Where else the work may be cancelled from (a crossing connection). */
    also?: Set<(reason: Error) => void>,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let cancelled = false;
      const forget = () => {
        inFlight.delete(cancel);
        also?.delete(cancel);
      };
      const cancel = (reason: Error) => {
        if (cancelled) return;
        cancelled = true;
        forget();
        how.undo?.();
        reject(reason);
      };
      work.then(
        (value) => {
          forget();
          if (cancelled) how.late?.(value);
          else resolve(value);
        },
        (err) => {
          forget();
          if (!cancelled) reject(err);
        },
      );
      if (closing) return cancel(stoppingError());
      inFlight.add(cancel);
      also?.add(cancel);
    });

  const pathOptions = (stream: ByteStream, watch: HandshakeWatch | undefined) => ({
    stream,
    identity,
    crypto,
    clock,
    ...(opts.pathLimits ? { limits: opts.pathLimits } : {}),
    ...(watch ? { inspect: watch.inspect } : {}),
  });

  const live = (peer: VatId): S | undefined => {
    const s = sessions.get(peer);
    return s && !s.path.closed ? s : undefined;
  };

  const release = (peer: VatId, w: Waited<S>) => {
    for (const waiter of [...(waiters.get(peer) ?? [])]) waiter(w);
  };

  const adopt = (path: SecurePath, address: string, watch: HandshakeWatch | undefined): S => {
    // A handshake that completed as the table closed: nothing is adopted after close.
    if (closing) {
      path.close(HOST_STOPPING);
      throw stoppingError();
    }
    const peer = path.remoteId;
    watch?.proven(peer);
    const ends: Array<(reason: Error) => void> = [];
    let adopted: S | undefined;
    // Registered before `attach`: the path hands over early frames as the mux sets
    // its handler, and a hostile first frame can end the session right there.
    path.onClose((reason) => {
      if (adopted && sessions.get(peer) === adopted) sessions.delete(peer);
      for (const h of ends) h(reason);
    });
    const session: PeerSession = { peer, path, address, since: clock.now(), onEnd: (h) => void ends.push(h) };
    const attached = opts.attach(session);
    if (path.closed) {
      // It ended while being adopted: a dial waiting for it decides again now, not after crossedWaitMs.
      release(peer, { kind: 'failed' });
      return attached;
    }
    adopted = attached;
    const old = sessions.get(peer);
    sessions.set(peer, attached);
    if (old && !old.path.closed) old.path.close({ code: 'replaced', message: 'replaced by a newer session' });
    opts.adopted?.(attached);
    release(peer, { kind: 'session', session: attached });
    return attached;
  };

  /** Crossed connections: the connection initiated by the smaller VatId survives, on both sides. */
  const decide = (peer: VatId): 'accept' | 'duplicate' => {
    if (dialing.has(peer) && self < peer) return 'duplicate';
    // Our own dial to this smaller VatId would lose the crossing: it gives way now,
    // before either side can adopt it (else each side could adopt the two sessions
    // in opposite orders and replace the one the other kept). It then waits for this one.
    if (self > peer) {
      const giveWay = new DuplicateConnectionError(`a connection from ${short(peer)} crossed ours, and wins`);
      for (const cancel of [...(outbound.get(peer) ?? [])]) cancel(giveWay);
    }
    inboundPending.set(peer, (inboundPending.get(peer) ?? 0) + 1);
    return 'accept';
  };
  const inboundDone = (peer: VatId | undefined) => {
    if (!peer) return;
    const n = (inboundPending.get(peer) ?? 1) - 1;
    if (n <= 0) inboundPending.delete(peer);
    else inboundPending.set(peer, n);
  };

  const accept = (stream: ByteStream) => {
    if (closing) return stream.close();
    handshakesInFlight += 1;
    let claimed: VatId | undefined;
    const watch = opts.watchHandshake?.(`inbound ${stream.remoteAddress}`);
    const accepting = acceptPath({
      ...pathOptions(stream, watch),
      cookies: { secret: cookieSecret, demand: () => handshakesInFlight > limits.cookieDemandThreshold },
      decide: (peer: VatId) => {
        const verdict = decide(peer);
        if (verdict === 'accept') claimed = peer;
        return verdict;
      },
    });
    unlessClosing(accepting, { undo: () => stream.close(), late: (path) => path.close(HOST_STOPPING) }).then(
      (path) => {
        handshakesInFlight -= 1;
        inboundDone(claimed);
        try {
          adopt(path, stream.remoteAddress, watch);
        } catch {
          // Closed meanwhile: adopt closed the path.
        }
      },
      (err: Error) => {
        handshakesInFlight -= 1;
        inboundDone(claimed);
        if (closing) return;
        failedHandshakes += 1;
        failures.set(err.name, (failures.get(err.name) ?? 0) + 1);
        // A dial that waited for this inbound handshake must now dial itself.
        if (claimed && !live(claimed)) release(claimed, { kind: 'failed' });
      },
    );
  };

  /** The session an inbound handshake with `peer` brings, within crossedWaitMs. */
  const waitForSession = (peer: VatId): Promise<Waited<S>> => {
    let done!: (w: Waited<S>) => void;
    const waiting = new Promise<Waited<S>>((resolve) => {
      const timer = clock.setTimeout(() => done({ kind: 'timeout' }), limits.crossedWaitMs);
      const set = waiters.get(peer) ?? new Set();
      waiters.set(peer, set);
      done = (w) => {
        clock.clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && waiters.get(peer) === set) waiters.delete(peer);
        resolve(w);
      };
      set.add(done);
    });
    return unlessClosing(waiting, { undo: () => done({ kind: 'failed' }) });
  };

  /** One dial and handshake; `mayGiveWay`: a crossing connection from the peer cancels it (first attempts only). */
  const dialOnce = async (peer: VatId, address: string, mayGiveWay: boolean): Promise<S> => {
    const giveWay = new Set<(reason: Error) => void>();
    if (mayGiveWay) outbound.set(peer, giveWay);
    try {
      const stream = await unlessClosing(opts.transport.dial(address), { late: (s) => s.close() }, giveWay);
      const watch = opts.watchHandshake?.(`dialing ${short(peer)}`);
      const initiating = initiatePath({ ...pathOptions(stream, watch), wanted: peer });
      const path = await unlessClosing(initiating, { undo: () => stream.close(), late: (p) => p.close(HOST_STOPPING) }, giveWay);
      return adopt(path, address, watch);
    } finally {
      if (outbound.get(peer) === giveWay) outbound.delete(peer);
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

  const connect = async (peer: VatId, address: string): Promise<S> => {
    if (closing) throw stoppingError();
    const existing = live(peer);
    if (existing) return existing;
    const pending = dialing.get(peer);
    if (pending) return pending;
    const attempt = (async () => {
      if (inboundPending.has(peer)) {
        const w = await waitForSession(peer);
        if (w.kind === 'session' && !w.session.path.closed) return w.session;
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

  const listener = await opts.transport.listen(accept);
  let closed: Promise<void> | undefined;
  const close = async () => {
    closing = true;
    const reason = stoppingError();
    for (const cancel of [...inFlight]) cancel(reason);
    const all = [...sessions.values()];
    sessions.clear();
    for (const s of all) s.path.close({ code: 'host-stopping', message: `host ${short(self)} is stopping` });
    await listener.close();
  };

  return {
    connect,
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
    get closing() {
      return closing;
    },
    close: () => {
      closed ??= close();
      return closed;
    },
  };
};
