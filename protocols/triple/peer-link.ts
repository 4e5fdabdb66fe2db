/**
 * A host's session with one peer host, as the CapTP mux sees it: one FramePath
 * (a PeerLink) that outlives the direct paths under it. The session table
 * (protocols/session/session-table.ts) hands every established SecurePath to
 * `arrive`; the link it belongs to is decided by a Join exchange, the first
 * inner frame of every path (codec.ts, docs/protocol.md 14.6):
 *
 * - the dialling side sends its Join at once; the accepting side answers a Join
 *   with its own. Each names the sender's live session with the other (its
 *   epoch and the peer's, 0 without one) and the epoch a new session would get;
 * - both ends then apply the same rule: the path **resumes** the live session
 *   when each side's session names the other's (`resumes`), else it starts a
 *   **new** session and the old one ends at once with TripleEpochChangedError
 *   (the peer restarted, or lost the session to its grace period), so the CapTP
 *   tables of a host that is gone are not waited for.
 *
 * A path that arrives while a live link exists is joined before it is given to
 * the table (the table's `connect` resolves once that is decided). A path with
 * no live link gives a new link at once, whose sends are held until the Join
 * decides its mode: `triple` (a TripleSession, resumable) or `single` (the
 * legacy fallback: an accepted peer whose first frame is CapTP, not a Join,
 * speaks no triple sessions, and the mux rides on its one SecurePath as before).
 * A dialled peer whose first frame is not a Join fails with TripleUnsupportedError.
 *
 * Failure semantics. A path that ends is one path lost: the triple session goes
 * on over the others, and with none it waits `graceMs` (the side that dialled a
 * path re-dials meanwhile, with bounded backoff). Except: a path that ends with
 * a reason the peer sent (a Shutdown, other than a path-level one) ends the
 * whole link with it (the peer stopped, or aborted the session); a link that
 * never connected (no path validated yet), or one with `graceMs` 0, ends with
 * its last path's reason, as a single-path session did. Ending a link closes
 * its paths with a Shutdown carrying the reason's code, so the peer ends too.
 */
import { Tag } from '../framing/frames.js';
import { type Lifetime, makeLifetime } from '../lifetime.js';
import { PathClosedError, SessionError } from '../session/errors.js';
import type { PathStats, SecurePath } from '../session/path.js';
import type { VatId } from '../session/vat-id.js';
import { isRelayedAddress } from '../bridge/codec.js';
import { decodeJoin, encodeJoin, isJoin, type Join } from './codec.js';
import { TripleBackpressureError, TripleEpochChangedError, TripleJoinTimeoutError, TripleSessionClosedError, TripleUnsupportedError } from './errors.js';
import { type TripleLimits, tripleLimits } from './limits.js';
import { type PathReport, type TripleClock, type TripleMode, type TripleSession, makeTripleSession } from './triple-session.js';
import type { TripleState } from './triple.machine.js';

/** A new path's Join must come within this: a handshake's bound (the Join is half a round trip after it). */
export const JOIN_TIMEOUT_MS = 10_000;
/** First re-dial delay after the last path of a session dropped: a restarted listener is usually back within it. */
export const REDIAL_MIN_MS = 100;
/** Re-dial delays double up to this: about fifteen tries in a 30 s grace period, a dial every 2 s at worst. */
export const REDIAL_MAX_MS = 2_000;
/** Remote reasons that end one path only: the peer's table replaced it, or its triple session dropped it. */
const PATH_LEVEL_CODES: ReadonlySet<string> = new Set(['replaced', 'triple-path-dead']);

/** One established path to the peer, as the table got it. */
export interface Arrival {
  readonly peer: VatId;
  readonly path: SecurePath;
  /** Dialled, or where an inbound stream came from. */
  readonly address: string;
}

export type LinkMode = 'pending' | 'triple' | 'single';

export interface RedialStatus {
  readonly address: string;
  readonly attempts: number;
  readonly lastError?: string;
  /** When the next attempt starts (the link's clock), if it waits. */
  readonly nextAt?: number;
}

export interface LinkReport {
  readonly mode: LinkMode;
  /** The triple session's state; 'single' for the legacy fallback, 'pending' before the Join. */
  readonly state: TripleState | LinkMode;
  readonly paths: readonly (PathReport & { readonly address: string; readonly role: string })[];
  readonly redial?: RedialStatus;
}

/** The FramePath the mux rides on (capabilities/session-mux.ts), plus what `tribe ps` shows. */
export interface PeerLink {
  readonly peer: VatId;
  send(tag: number, payload: Uint8Array): void;
  onFrame(handler: (tag: number, payload: Uint8Array) => void): void;
  /** Ends the session; its paths close with a Shutdown carrying the reason's code. Idempotent. */
  abort(reason: Error): void;
  /** Ends it gracefully with this code (host stopping, replaced). */
  close(reason?: { code: string; message: string }): void;
  readonly lifetime: Lifetime;
  readonly mode: LinkMode;
  /** Of the newest direct path (else the newest, through a bridge): its role, cipher, session id, address and counters. */
  readonly role: SecurePath['role'];
  readonly cipher: string;
  readonly sessionId: string;
  readonly address: string;
  /** The newest path's counters, but `framesIn`/`framesOut`: the session's own frames (the mux's), heartbeats not counted. */
  stats(): PathStats;
  report(): LinkReport;
  /** Bytes sent and not yet taken by the peer (acked, or written for a single path). */
  backlog(): number;
  /** Resolves once the first Join decided the link's mode (or the link ended first). */
  decided(): Promise<void>;
  /** Closes the paths whose address `which` picks (path-level: the session goes on over the others). */
  closePaths(which: (address: string) => boolean, reason: { code: string; message: string }): void;
}

export interface PeerLinksOptions {
  readonly clock: TripleClock;
  /** A fresh epoch: a random positive safe integer. */
  readonly newEpoch: () => number;
  /** This host run's epoch (made at host start). */
  readonly hostEpoch: number;
  /** Every path down: how long a session waits for one; 0 ends it with its last path's reason. */
  readonly graceMs: number;
  readonly mode?: TripleMode;
  readonly limits?: Partial<TripleLimits>;
  readonly joinTimeoutMs?: number;
  /** A new path to `peer` at `address` (the table's re-dial); resolves once it joined. */
  readonly redial?: (peer: VatId, address: string) => Promise<unknown>;
  /** No more re-dials (the host stops). */
  readonly stopping?: () => boolean;
  /** A link lost its last path (it is resuming, or about to end): what rides on it cannot flow now. */
  readonly pathless?: (peer: VatId) => void;
  /** Inspection events of a new triple session's machine. */
  readonly inspect?: (peer: VatId) => ((ev: unknown) => void) | undefined;
  readonly name: (peer: VatId) => string;
  /**
   * false: speak no triple sessions (no Join; every path is a session of its
   * own, as before them). For comparison benches and compatibility tests.
   */
  readonly triple?: boolean;
}

export interface PeerLinks {
  /**
   * The link `arrival` belongs to: a new one at once when `existing` is not live;
   * else, once the Join exchange decided, `existing` (resumed with the path) or a
   * new one (`existing` ended with TripleEpochChangedError). Rejects with the
   * path's reason when it ends before its Join (TripleJoinTimeoutError after
   * `joinTimeoutMs`); the existing link then goes on.
   */
  arrive(arrival: Arrival, existing: PeerLink | undefined): PeerLink | Promise<PeerLink>;
}

/** The rule both ends apply to the two Joins of a path: each side's session names the other's. */
export const resumes = (ours: Join, theirs: Join): boolean =>
  ours.mine !== 0 && theirs.mine !== 0 && ours.mine === theirs.known && theirs.mine === ours.known;

/** A reason that came from the peer and ends the session, not just the path. */
const endsSession = (reason: Error): boolean =>
  reason instanceof SessionError && reason.remote && !PATH_LEVEL_CODES.has(reason.code);

const codeOf = (reason: Error) => (reason instanceof SessionError ? reason.code : 'closed');

/** Internal face of a link, for `arrive`. */
interface LinkControl extends PeerLink {
  /** Our Join on a new path of this link. */
  join(next: number): Join;
  /** The pending link's first path: Join, then its mode. */
  take(a: Arrival): void;
  /** A path whose Join resumed this link. */
  attachPath(a: Arrival): void;
  /** A new link's first path after a Join exchange that decided for a new session. */
  startTriple(a: Arrival, theirs: Join): void;
  /** A new link's first path from a peer without triple sessions (its first frame). */
  startSingle(a: Arrival, first?: { tag: number; payload: Uint8Array }): void;
  readonly peerHost: number | undefined;
}

/**
 * Runs the Join exchange on `a`: sends ours (at once when dialling, in answer
 * when accepting), and hands the peer's Join — or, from a peer without triple
 * sessions, its first frame — to `then`, synchronously inside the frame handler
 * (so the next frame of the same batch already goes to the new consumer).
 */
const exchangeJoins = (
  a: Arrival,
  ours: () => Join,
  timeoutMs: number,
  clock: TripleClock,
  then: (theirs: Join | { tag: number; payload: Uint8Array }) => void,
  failed: (reason: Error) => void,
) => {
  let done = false;
  const finish = () => {
    done = true;
    clock.clearTimeout(timer);
    stopWatching();
  };
  const timer = clock.setTimeout(() => {
    if (done) return;
    a.path.abort(new TripleJoinTimeoutError(`no Join from ${a.peer.slice(0, 8)} within ${timeoutMs} ms`));
  }, timeoutMs);
  const stopWatching = a.path.lifetime.onClose((reason) => {
    if (done) return;
    finish();
    failed(reason);
  });
  if (a.path.role === 'initiator') a.path.send(Tag.TripleControl, encodeJoin(ours()));
  a.path.onFrame((tag, payload) => {
    if (done) return;
    let theirs: Join;
    try {
      if (!isJoin(tag, payload)) {
        finish();
        return then({ tag, payload: new Uint8Array(payload) });
      }
      theirs = decodeJoin(payload);
    } catch (err) {
      finish();
      failed(err as Error);
      // The path ends with it (a handler that throws aborts its path).
      throw err;
    }
    finish();
    if (a.path.role === 'responder') a.path.send(Tag.TripleControl, encodeJoin(ours()));
    then(theirs);
  });
};

export const makePeerLinks = (opts: PeerLinksOptions): PeerLinks => {
  const { clock } = opts;
  // With graceMs 0 the link ends with its last path itself (noPath); the triple session's own
  // timer then only bounds `starting`, which path death bounds sooner anyway.
  const limits = tripleLimits({ ...opts.limits, ...(opts.graceMs > 0 ? { graceMs: opts.graceMs } : {}) });
  const joinTimeoutMs = opts.joinTimeoutMs ?? JOIN_TIMEOUT_MS;

  const makeLink = (peer: VatId, epoch: number): LinkControl => {
    const name = opts.name(peer);
    const life = makeLifetime();
    let mode: LinkMode = 'pending';
    let triple: TripleSession | undefined;
    let single: SecurePath | undefined;
    let peerEpoch = 0;
    let peerHost: number | undefined;
    let handler: ((tag: number, payload: Uint8Array) => void) | undefined;
    let stash: { tag: number; payload: Uint8Array } | undefined;
    let held: Array<readonly [number, Uint8Array]> = [];
    let heldBytes = 0;
    /** Paths attached (joined), newest last; each with its address. */
    const paths = new Map<SecurePath, Arrival>();
    let newest: Arrival | undefined;
    /** Where this side dialled the session's newest dialled path: where it re-dials. */
    let dialAddress: string | undefined;
    /** The session's own frames (the mux's), not the paths' heartbeats and acks. */
    let framesIn = 0;
    let framesOut = 0;
    let redial: { address: string; attempts: number; lastError?: string; nextAt?: number } | undefined;

    let ended = false;
    let markDecided!: () => void;
    const decidedP = new Promise<void>((resolve) => {
      markDecided = resolve;
    });
    /**
     * Ends the link. A triple session tells the peer why on every path (a
     * Shutdown with the reason's code), so it ends too instead of waiting out its
     * grace period; a single path (or one still pending) is aborted as a
     * SecurePath is, unless `graceful`.
     */
    const end = (reason: Error, graceful = false) => {
      if (ended) return;
      ended = true;
      const told = { code: codeOf(reason), message: reason instanceof PathClosedError ? reason.detail : reason.message };
      for (const p of paths.keys()) p.close(told);
      const lone = single ?? (mode === 'pending' ? newest?.path : undefined);
      if (lone) {
        if (graceful) lone.close(told);
        else lone.abort(reason);
      }
      held = [];
      triple?.abort(reason);
      life.close(reason);
      markDecided();
    };

    const noPath = (reason: Error) => {
      if (ended || !triple) return;
      // Never validated a path: nothing to resume; as a single path did, the session ends with it.
      if (triple.state === 'starting' || opts.graceMs === 0) return end(reason);
      void redialLoop();
    };

    const redialLoop = async () => {
      if (redial || dialAddress === undefined || !opts.redial) return;
      const address = dialAddress;
      const status: { address: string; attempts: number; lastError?: string; nextAt?: number } = { address, attempts: 0 };
      redial = status;
      let delay = REDIAL_MIN_MS;
      try {
        while (!life.lifetime.isClosed && paths.size === 0 && !opts.stopping?.()) {
          status.attempts += 1;
          delete status.nextAt;
          try {
            await opts.redial(peer, address);
          } catch (err) {
            status.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
            if ((err as Error).name === 'HostStoppingError') return;
          }
          if (life.lifetime.isClosed || paths.size > 0) return;
          status.nextAt = clock.now() + delay;
          await new Promise<void>((resolve) => {
            const t = clock.setTimeout(() => {
              stop();
              resolve();
            }, delay);
            const stop = life.lifetime.onClose(() => {
              clock.clearTimeout(t);
              resolve();
            });
          });
          delay = Math.min(2 * delay, REDIAL_MAX_MS);
        }
      } finally {
        redial = undefined;
      }
    };

    /** What the triple session gets: the path, whose end for a session-level reason tells the peer why. */
    const tripleSide = (p: SecurePath) => ({
      send: (tag: number, payload: Uint8Array) => p.send(tag, payload),
      onFrame: (h: (tag: number, payload: Uint8Array) => void) => p.onFrame(h),
      abort: (reason: Error) => (reason.name === 'TriplePathDeadError' ? p.abort(reason) : p.close({ code: codeOf(reason), message: reason.message })),
      lifetime: p.lifetime,
    });

    const attachPath = (a: Arrival) => {
      if (!triple || life.lifetime.isClosed) {
        a.path.close({ code: 'closed', message: 'the session ended' });
        return;
      }
      paths.set(a.path, a);
      // A path through a bridge is never dialled again as such, nor named as the session's address:
      // re-dials and hints go to the direct one.
      if (!isRelayedAddress(a.address) || !newest || isRelayedAddress(newest.address) || newest.path.lifetime.isClosed) newest = a;
      if (a.path.role === 'initiator' && !isRelayedAddress(a.address)) dialAddress = a.address;
      // Before the triple session's own hook: this one decides whether the session ends with the path.
      a.path.lifetime.onClose((reason) => {
        paths.delete(a.path);
        if (ended) return;
        if (endsSession(reason)) return end(reason);
        if (paths.size === 0) {
          opts.pathless?.(peer);
          noPath(reason);
        }
      });
      triple.attach(tripleSide(a.path), `${a.path.role === 'initiator' ? '→' : '←'} ${a.address}`, isRelayedAddress(a.address));
    };

    const startTriple = (a: Arrival, theirs: Join) => {
      peerEpoch = theirs.next;
      peerHost = theirs.host;
      mode = 'triple';
      const inspect = opts.inspect?.(peer);
      triple = makeTripleSession({ name, clock, epoch, peerEpoch, limits, ...(opts.mode ? { mode: opts.mode } : {}), ...(inspect ? { inspect } : {}) });
      triple.lifetime.onClose((reason) => end(reason));
      if (handler) triple.onFrame(handler);
      const queued = held;
      held = [];
      heldBytes = 0;
      for (const [t, p] of queued) triple.send(t, p);
      attachPath(a);
      markDecided();
    };

    const startSingle = (a: Arrival, first?: { tag: number; payload: Uint8Array }) => {
      mode = 'single';
      single = a.path;
      newest = a;
      a.path.lifetime.onClose((reason) => end(reason));
      const queued = held;
      held = [];
      heldBytes = 0;
      for (const [t, p] of queued) a.path.send(t, p);
      if (handler) {
        if (first) handler(first.tag, first.payload);
        a.path.onFrame(handler);
      } else stash = first;
      markDecided();
    };

    const take = (a: Arrival) => {
      newest = a;
      // Until the Join: the path alone carries the session, and its end is the session's.
      const stopWatching = a.path.lifetime.onClose((reason) => end(reason));
      exchangeJoins(
        a,
        () => ({ host: opts.hostEpoch, mine: 0, known: 0, next: epoch }),
        joinTimeoutMs,
        clock,
        (theirs) => {
          stopWatching();
          if ('tag' in theirs) {
            if (a.path.role === 'initiator') {
              const err = new TripleUnsupportedError(`${name}: the peer's first frame was tag ${theirs.tag}, not a Join: it speaks no triple sessions`);
              a.path.close({ code: err.code, message: err.message });
              return end(err);
            }
            return startSingle(a, theirs);
          }
          startTriple(a, theirs);
        },
        (reason) => end(reason),
      );
    };

    const current = () => newest?.path;
    const link: LinkControl = {
      peer,
      send(tag, payload) {
        framesOut += 1;
        if (life.lifetime.isClosed) throw new TripleSessionClosedError(`${name}: send after the session ended`, { cause: life.lifetime.reason });
        if (triple) return triple.send(tag, payload);
        if (single) return single.send(tag, payload);
        heldBytes += payload.length;
        if (heldBytes > limits.maxUnackedBytes) return end(new TripleBackpressureError(`${name}: ${heldBytes} bytes held before the Join`));
        held.push([tag, payload]);
      },
      onFrame(given) {
        const h = (tag: number, payload: Uint8Array) => {
          framesIn += 1;
          given(tag, payload);
        };
        handler = h;
        if (triple) triple.onFrame(h);
        else if (single) {
          const first = stash;
          stash = undefined;
          if (first) h(first.tag, first.payload);
          single.onFrame(h);
        }
      },
      abort: (reason) => end(reason),
      close(r) {
        const code = r?.code ?? 'closed';
        const message = r?.message ?? 'closed by the local side';
        end(new PathClosedError(code, `${name}: closed (${code}): ${message}`, { detail: message }), true);
      },
      lifetime: life.lifetime,
      get mode() {
        return mode;
      },
      get role() {
        return current()?.role ?? 'initiator';
      },
      get cipher() {
        return current()?.cipher ?? '';
      },
      get sessionId() {
        return current()?.sessionId ?? '';
      },
      get address() {
        return newest?.address ?? '';
      },
      stats: () => {
        const p = current();
        const st = p ? p.stats() : { sealsIn: 0, sealsOut: 0, bytesIn: 0, bytesOut: 0, rekeysIn: 0, rekeysOut: 0, unsentBytes: 0 };
        return { ...st, framesIn, framesOut };
      },
      report: () => {
        const d = triple?.diagnostics();
        const byLabel = new Map([...paths.values()].map((a) => [`${a.path.role === 'initiator' ? '→' : '←'} ${a.address}`, a]));
        return {
          mode,
          state: d ? d.state : mode,
          paths: d
            ? d.paths.map((p) => ({ ...p, address: byLabel.get(p.label)?.address ?? p.label, role: byLabel.get(p.label)?.path.role ?? '' }))
            : [],
          ...(redial ? { redial: { ...redial } } : {}),
        };
      },
      decided: () => decidedP,
      backlog: () => (triple ? triple.backlog() : single ? single.stats().unsentBytes : heldBytes),
      closePaths(which, reason) {
        for (const [p, a] of [...paths]) if (which(a.address)) p.close(reason);
      },
      join: (next) => ({ host: opts.hostEpoch, mine: triple && !life.lifetime.isClosed ? epoch : 0, known: triple ? peerEpoch : 0, next }),
      take,
      attachPath,
      startTriple,
      startSingle,
      get peerHost() {
        return peerHost;
      },
    };
    return link;
  };

  const arrive = (a: Arrival, existing: PeerLink | undefined): PeerLink | Promise<PeerLink> => {
    const live = existing && !existing.lifetime.isClosed ? (existing as LinkControl) : undefined;
    if (opts.triple === false) {
      // Every path its own session; the table replaces the old one.
      const link = makeLink(a.peer, opts.newEpoch());
      link.startSingle(a);
      return link;
    }
    if (!live) {
      const link = makeLink(a.peer, opts.newEpoch());
      link.take(a);
      return link;
    }
    const next = opts.newEpoch();
    const ours = live.join(next);
    return new Promise<PeerLink>((resolve, reject) => {
      exchangeJoins(
        a,
        () => ours,
        joinTimeoutMs,
        clock,
        (theirs) => {
          if ('tag' in theirs) {
            // A peer that spoke triple sessions before and now does not: a new (single) session replaces ours.
            const link = makeLink(a.peer, next);
            live.abort(new TripleEpochChangedError(`${opts.name(a.peer)}: the peer no longer speaks triple sessions`));
            if (a.path.role === 'initiator') {
              a.path.close({ code: 'triple-unsupported', message: 'no Join' });
              return reject(new TripleUnsupportedError(`${opts.name(a.peer)}: the peer's first frame was tag ${theirs.tag}, not a Join`));
            }
            link.startSingle(a, theirs);
            return resolve(link);
          }
          if (resumes(ours, theirs)) {
            live.attachPath(a);
            return resolve(live);
          }
          const why = theirs.host !== live.peerHost ? 'the peer restarted (a new host epoch)' : 'the peer no longer has this session';
          live.abort(new TripleEpochChangedError(`${opts.name(a.peer)}: ${why}: the session ends`));
          const link = makeLink(a.peer, next);
          link.startTriple(a, theirs);
          resolve(link);
        },
        reject,
      );
    });
  };

  return { arrive };
};

