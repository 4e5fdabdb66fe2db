/**
 * A triple session: one reliable, ordered, exactly-once stream of inner frames
 * over one to three unreliable paths, offered as the same FramePath the CapTP
 * mux rides on (capabilities/session-mux.ts), so putting it under the mux is a
 * constructor swap. The pure parts are send-buffer.ts (seq, kept frames,
 * acks), reorder-window.ts (in-order exactly-once delivery), path-health.ts
 * (heartbeats, grades) and triple.machine.ts (session state, grace period);
 * this file wires them to paths and a clock. docs/protocol.md "Triple
 * sessions" has the wire format, README.md the message table and machine.
 *
 * Sending: each frame gets the next seq and is kept until the peer's
 * cumulative ack covers it. Mode 'all' writes it on every live path; mode
 * 'standby' on the best one (good before degraded, then lowest RTT), the others
 * carrying only heartbeats. At most `reorderWindow` frames go out past the
 * peer's ack; the rest wait their turn. A frame unacknowledged for the
 * retransmit timeout goes out again (mode 'all': on every live path; 'standby':
 * on the best path it did not last go on), with exponential backoff; a frame
 * whose paths all died goes out at once on what is left, or on the first path
 * validated after that.
 *
 * Failure semantics. A path that goes silent for `pathDeadMs`, whose own
 * lifetime ends, or whose `send` throws is detached (aborted with
 * TriplePathDeadError) and the session goes on. With no path left the session
 * buffers sends (within `maxUnackedBytes`) for `graceMs`; a path validated in
 * that time resumes it where it was; past it the session ends with
 * TripleSessionLostError and every pending frame is dropped. It ends at once
 * with TripleEpochChangedError when the peer shows a new epoch (it restarted),
 * with TripleMalformedError / TripleProtocolError on a frame that breaks the
 * protocol (the peer is broken or hostile: a session is the unit of trust),
 * with TripleBackpressureError when a send would pass `maxUnackedBytes` (send
 * does not throw for it; the lifetime tells, as a SecurePath does), and with the
 * error a frame handler throws. Ending is idempotent: the lifetime closes once,
 * every path is aborted with the reason, every timer is cleared.
 */
import { createActor } from 'xstate';
import { FrameTooLargeError, Tag } from '../framing/frames.js';
import { type Lifetime, makeLifetime } from '../lifetime.js';
import { ControlKind, decodeControl, decodeSequenced, encodeControl, encodeSequenced, isCarriedTag } from './codec.js';
import {
  TripleBackpressureError,
  TripleEpochChangedError,
  TripleMalformedError,
  TriplePathDeadError,
  TripleProtocolError,
  TripleSessionClosedError,
} from './errors.js';
import { SEQUENCED_HEADER_BYTES, type TripleLimits, tripleLimits } from './limits.js';
import { type PathGrade, PathHealth } from './path-health.js';
import { ReorderWindow } from './reorder-window.js';
import { type Outgoing, SendBuffer } from './send-buffer.js';
import { type TripleState, tripleMachine, tripleStateOf } from './triple.machine.js';

/**
 * One path of the session: the FramePath shape (a SecurePath, or later a path
 * relayed by a bridge). The session is its one frame consumer and owns it: it
 * aborts the path when it detaches it or ends.
 */
export interface TriplePath {
  send(tag: number, payload: Uint8Array): void;
  onFrame(handler: (tag: number, payload: Uint8Array) => void): void;
  abort(reason: Error): void;
  readonly lifetime: Lifetime;
}

export interface TripleClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

export type TripleMode = 'all' | 'standby';
/**
 * Chosen by the numbers in docs/performance.md (section 8, "Sessions with
 * bridged paths"): with a suspect primary passed over at once, `standby` meets
 * the throughput and tail goals; `all` pays a seal per path on every frame.
 */
export const DEFAULT_TRIPLE_MODE: TripleMode = 'standby';

export interface TripleSessionOptions {
  /** For error messages and diagnostics. */
  readonly name: string;
  readonly clock: TripleClock;
  /** This end's epoch: a random non-zero safe integer, new for every session (a restarted host makes a new one). */
  readonly epoch: number;
  /** The peer's epoch when the handshake told it; otherwise the first control frame fixes it. */
  readonly peerEpoch?: number;
  readonly mode?: TripleMode;
  readonly limits?: Partial<TripleLimits>;
  /** XState inspection events of the session machine. */
  readonly inspect?: (ev: unknown) => void;
}

export interface PathReport {
  readonly id: number;
  readonly label: string;
  readonly grade: PathGrade;
  readonly rttMs: number | undefined;
  readonly loss: number;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly beats: number;
  readonly echoes: number;
}

export interface TripleDiagnostics {
  readonly state: TripleState;
  readonly mode: TripleMode;
  readonly paths: readonly PathReport[];
  /** Frames sent and not yet acknowledged, and their bytes. */
  readonly unackedFrames: number;
  readonly unackedBytes: number;
  readonly nextSeq: number;
  readonly peerAck: number;
  readonly delivered: number;
  readonly heldFrames: number;
  readonly duplicates: number;
  readonly retransmits: number;
  /** Sequenced frames dropped because they came on a path before the peer's epoch did. */
  readonly early: number;
  readonly timers: number;
}

export interface TripleSession extends TriplePath {
  /**
   * Adds a path (the first, or a replacement): heartbeats start at once and data
   * follows once the peer has answered one (validation). A fourth path replaces
   * the worst of three. Returns the path's id. Throws TripleSessionClosedError once ended.
   */
  attach(path: TriplePath, label?: string, relayed?: boolean): number;
  readonly state: TripleState;
  readonly mode: TripleMode;
  diagnostics(): TripleDiagnostics;
  /** Bytes sent and not yet acknowledged (cheap: what a relay checks per frame). */
  backlog(): number;
}

/**
 * Paths one session holds at once: three through bridges, and the direct one
 * that fills in while fewer than three of those are up (runtime/sessions/bridges.ts
 * closes it once three are), so a third bridged path never pushes out a second.
 */
export const MAX_PATHS = 4;

interface Leg {
  readonly id: number;
  readonly label: string;
  /** Through a bridge: its frames ride another session (see ranks()). */
  readonly relayed: boolean;
  readonly path: TriplePath;
  readonly health: PathHealth;
  grade: PathGrade;
  stopWatching: () => void;
}

const RANK: Record<PathGrade, number> = { good: 0, degraded: 1, attaching: 2, dead: 3 };

export const makeTripleSession = (opts: TripleSessionOptions): TripleSession => {
  const limits = tripleLimits(opts.limits);
  const { clock, name } = opts;
  const mode = opts.mode ?? DEFAULT_TRIPLE_MODE;
  if (!Number.isSafeInteger(opts.epoch) || opts.epoch <= 0) throw new RangeError('epoch must be a positive safe integer');
  const life = makeLifetime();
  const buffer = new SendBuffer();
  const inbound = new ReorderWindow(limits.reorderWindow, limits.maxUnackedBytes);
  const legs = new Map<number, Leg>();
  let nextLegId = 1;
  let peerEpoch = opts.peerEpoch;
  let peerWindow = limits.reorderWindow;
  let controlCounter = 0;
  let ended = false;
  let handler: ((tag: number, payload: Uint8Array) => void) | undefined;
  let unclaimed: Array<readonly [number, Uint8Array]> = [];
  let unclaimedBytes = 0;
  let retransmits = 0;
  let early = 0;
  let backoff = 1;
  /** Frames delivered since our last ack went out. */
  let ackOwed = 0;
  let lastSummary = '';

  // --- timers (every one cleared at the end) ---
  let tickTimer: unknown;
  let rtoTimer: unknown;
  let ackTimer: unknown;
  const timerCount = () => [tickTimer, rtoTimer, ackTimer].filter((t) => t !== undefined).length;
  const clearTimer = (t: unknown) => {
    if (t !== undefined) clock.clearTimeout(t);
  };

  const fail = (err: unknown) => abort(err instanceof Error ? err : new TripleProtocolError(String(err)));

  // --- paths ---
  /** Live paths, best first; kept until a grade, an RTT or the set of paths changes (`rerank`). */
  let rankCache: { live: Leg[]; targets: Leg[] } | undefined;
  const rerank = () => {
    rankCache = undefined;
  };
  const ranks = () => {
    if (rankCache) return rankCache;
    const live = [...legs.values()]
      .filter((l) => l.grade === 'good' || l.grade === 'degraded')
      .sort(
        (a, b) =>
          // A suspect path goes last whatever its grade: its grade lags (heartbeats), the timeout does not.
          Number(a.health.suspectSince !== undefined) - Number(b.health.suspectSince !== undefined) ||
          RANK[a.grade] - RANK[b.grade] ||
          (a.health.srtt ?? Infinity) - (b.health.srtt ?? Infinity) ||
          a.id - b.id,
      );
    // A relayed path never leads over a direct one of its grade that is not suspect: its frames
    // ride another session, and two sessions leading through each other pass frames round between
    // them. A direct path much slower than the best (degraded: PathHealth's slow yardstick) or
    // suspect gives the lead up as before.
    const top = live[0];
    if (top?.relayed) {
      const direct = live.find((l) => !l.relayed && l.grade === top.grade && l.health.suspectSince === undefined);
      if (direct) {
        live.splice(live.indexOf(direct), 1);
        live.unshift(direct);
      }
    }
    rankCache = { live, targets: mode === 'all' ? live : live.slice(0, 1) };
    return rankCache;
  };
  const ranked = (): Leg[] => ranks().live;
  /** Where new frames and acks go. */
  const targets = (): Leg[] => ranks().targets;
  /**
   * Some kept frame may have no live path under it (a path died, or it was sent
   * while there was none): the next pump scans them all, not only the unsent tail.
   */
  let orphans = false;
  /** Writes on one path; a path whose send throws is detached. */
  const write = (leg: Leg, tag: number, bytes: Uint8Array): boolean => {
    if (!legs.has(leg.id)) return false;
    try {
      leg.path.send(tag, bytes);
    } catch (err) {
      detach(leg, new TriplePathDeadError(`${name}: path ${leg.label} refused a frame`, { cause: err }));
      return false;
    }
    leg.health.framesOut++;
    return true;
  };
  const control = (leg: Leg, kind: ControlKind, id: number) =>
    write(leg, Tag.TripleControl, encodeControl({ kind, epoch: opts.epoch, counter: ++controlCounter, ack: inbound.delivered, id, window: limits.reorderWindow }));

  const summarize = () => {
    if (ended) return;
    let live = 0;
    let good = 0;
    for (const l of legs.values()) {
      if (l.grade === 'good' || l.grade === 'degraded') live++;
      if (l.grade === 'good') good++;
    }
    const s = `${live}/${good}`;
    if (s === lastSummary) return;
    lastSummary = s;
    actor.send({ type: 'paths.changed', live, good });
  };

  const regrade = () => {
    const now = clock.now();
    // The yardstick for 'slow': the best RTT of paths that answer now (a stalled path's last RTT is stale).
    let best: number | undefined;
    for (const l of legs.values()) {
      if (l.health.validated && l.health.srtt !== undefined && l.health.suspectSince === undefined && now - l.health.lastHeardAt < 2 * limits.heartbeatMs) {
        best = Math.min(best ?? Infinity, l.health.srtt);
      }
    }
    rerank();
    for (const l of [...legs.values()]) {
      l.grade = l.health.grade(now, limits, best);
      if (l.grade === 'dead') detach(l, new TriplePathDeadError(`${name}: nothing on path ${l.label} for ${limits.pathDeadMs} ms`));
    }
    summarize();
  };

  const detach = (leg: Leg, reason: Error) => {
    if (!legs.delete(leg.id)) return;
    leg.grade = 'dead';
    rerank();
    orphans = true;
    leg.stopWatching();
    if (!leg.path.lifetime.isClosed) leg.path.abort(reason);
    buffer.forgetPath(leg.id);
    if (ended) return;
    summarize();
    pump();
  };

  const attach = (path: TriplePath, label?: string, relayed = false): number => {
    if (ended) throw new TripleSessionClosedError(`${name}: attach after the session ended`, { cause: life.lifetime.reason });
    if (legs.size >= MAX_PATHS) {
      const worst = [...legs.values()].sort((a, b) => RANK[b.grade] - RANK[a.grade] || (b.health.srtt ?? Infinity) - (a.health.srtt ?? Infinity))[0];
      if (worst) detach(worst, new TriplePathDeadError(`${name}: path ${worst.label} replaced by a newer one`));
    }
    const id = nextLegId++;
    const leg: Leg = { id, label: label ?? `path-${id}`, relayed, path, health: new PathHealth(clock.now()), grade: 'attaching', stopWatching: () => {} };
    legs.set(id, leg);
    rerank();
    leg.stopWatching = path.lifetime.onClose((why) => detach(leg, new TriplePathDeadError(`${name}: path ${leg.label} ended: ${why.message}`, { cause: why })));
    path.onFrame((tag, payload) => onLegFrame(leg, tag, payload));
    if (legs.has(id)) control(leg, ControlKind.Beat, leg.health.beat(clock.now(), limits.lossWindowBeats));
    return id;
  };

  // --- sending ---
  const rto = (): number => {
    let worst: number | undefined;
    for (const l of ranked()) if (l.health.srtt !== undefined) worst = Math.max(worst ?? 0, l.health.srtt);
    const base = worst === undefined ? limits.initialRtoMs : Math.max(limits.minRtoMs, 3 * worst + limits.ackDelayMs);
    return Math.min(limits.maxRtoMs, base * backoff);
  };
  const armRto = () => {
    if (rtoTimer !== undefined || ended) return;
    const oldest = buffer.oldest();
    if (!oldest || oldest.tries === 0) return;
    rtoTimer = clock.setTimeout(onRto, Math.max(1, oldest.sentAt + rto() - clock.now()));
  };
  const transmit = (entry: Outgoing, on: Leg[]) => {
    const via: number[] = [];
    for (const l of on) if (write(l, Tag.Sequenced, entry.wire)) via.push(l.id);
    if (via.length === 0) {
      orphans = true;
      return;
    }
    if (entry.tries > 0) retransmits++;
    buffer.sent(entry, via, clock.now());
    armRto();
  };
  /** Sends what has no live path under it and fits the peer's window: new frames, and those whose paths died. */
  const pump = () => {
    if (ended) return;
    const on = targets();
    if (on.length === 0) {
      orphans = true;
      return;
    }
    const upTo = buffer.acked + peerWindow;
    // Usually only the tail never sent: O(new frames) per ack, not O(frames in flight).
    const from = orphans ? 0 : buffer.sentUpTo + 1;
    orphans = false;
    for (const e of buffer.range(from, upTo)) if (e.via.length === 0) transmit(e, on);
  };
  const onRto = () => {
    rtoTimer = undefined;
    if (ended) return;
    const now = clock.now();
    const timeout = rto();
    const live = ranked();
    let any = false;
    if (live.length > 0) {
      for (const e of buffer.upTo(buffer.sentUpTo)) {
        if (e.tries === 0 || now - e.sentAt < timeout) continue;
        if (mode === 'standby' && live.length > 1) {
          // The paths it went on are passed over until they echo again: later frames take another.
          for (const id of e.via) {
            const l = legs.get(id);
            if (l && l.health.suspectSince === undefined) {
              l.health.suspect(now, limits.heartbeatMs);
              rerank();
            }
          }
        }
        const on = mode === 'all' ? live : [ranked().find((l) => !e.via.includes(l.id)) ?? (live[0] as Leg)];
        transmit(e, on);
        any = true;
      }
    }
    if (any) backoff = Math.min(backoff * 2, 64);
    armRto();
  };

  const send = (tag: number, payload: Uint8Array) => {
    if (ended) throw new TripleSessionClosedError(`${name}: send after the session ended`, { cause: life.lifetime.reason });
    if (!isCarriedTag(tag)) throw new RangeError(`tag ${tag} is not an application tag`);
    if (payload.length > limits.maxPayloadBytes) throw new FrameTooLargeError(`payload of ${payload.length} bytes exceeds ${limits.maxPayloadBytes}`);
    const seq = buffer.reserve(SEQUENCED_HEADER_BYTES + payload.length, limits.maxUnackedBytes);
    if (seq === false) {
      abort(new TripleBackpressureError(`${name}: ${buffer.bytes} bytes unacknowledged and ${payload.length} more would pass ${limits.maxUnackedBytes}`));
      return;
    }
    const entry = buffer.keep(seq, encodeSequenced(seq, inbound.delivered, tag, payload));
    if (seq > buffer.acked + peerWindow) return;
    const on = targets();
    if (on.length > 0) transmit(entry, on);
    else orphans = true;
    // It carried our current ack where acks go: no standalone one is owed.
    if (entry.tries > 0 && ackOwed > 0) {
      ackOwed = 0;
      clearTimer(ackTimer);
      ackTimer = undefined;
    }
  };

  // --- receiving ---
  const sendAck = () => {
    clearTimer(ackTimer);
    ackTimer = undefined;
    if (ended) return;
    const on = targets();
    if (on.length === 0) return;
    ackOwed = 0;
    for (const l of on) control(l, ControlKind.Ack, 0);
  };
  const owe = (frames: number) => {
    ackOwed += frames;
    if (ackOwed >= limits.ackEveryFrames) sendAck();
    else if (ackTimer === undefined) ackTimer = clock.setTimeout(sendAck, limits.ackDelayMs);
  };
  const onAck = (n: number) => {
    const out = buffer.ack(n);
    if ('violation' in out) throw new TripleProtocolError(`${name}: ${out.violation}`);
    if (out.freed === 0) return;
    backoff = 1;
    // The retransmit timer stays as it is: when it fires it looks at what is left (re-arming on every ack cost more than the rest of the ack).
    pump();
  };
  const deliver = (tag: number, payload: Uint8Array) => {
    if (handler) return handler(tag, payload);
    unclaimedBytes += payload.length;
    if (unclaimedBytes > limits.maxUnackedBytes) throw new TripleProtocolError(`${name}: more than ${limits.maxUnackedBytes} bytes arrived before onFrame was set`);
    unclaimed.push([tag, new Uint8Array(payload)]);
  };
  const onSequenced = (leg: Leg, payload: Uint8Array) => {
    const d = decodeSequenced(payload);
    // Not before the peer's epoch on this path: a restarted peer's first frames must not pass for the old session's.
    if (!leg.health.heardEpoch) {
      early++;
      return;
    }
    onAck(d.ack);
    const a = inbound.arrive(d.seq, d.tag, d.payload);
    switch (a.kind) {
      case 'violation':
        throw new TripleProtocolError(`${name}: ${a.why}`);
      case 'deliver':
        for (const [t, p] of a.frames) {
          if (ended) return;
          deliver(t, p);
        }
        owe(a.frames.length);
        return;
      default:
        // A duplicate may be a retransmission for a lost ack; a gap waits for its frame.
        owe(0);
    }
  };
  const onControl = (leg: Leg, payload: Uint8Array) => {
    const c = decodeControl(payload);
    if (peerEpoch === undefined) peerEpoch = c.epoch;
    else if (c.epoch !== peerEpoch) {
      throw new TripleEpochChangedError(`${name}: the peer's epoch changed on path ${leg.label} (it restarted): the session ends`);
    }
    leg.health.heardEpoch = true;
    peerWindow = Math.min(limits.reorderWindow, c.window);
    onAck(c.ack);
    if (c.kind === ControlKind.Beat) control(leg, ControlKind.Echo, c.id);
    else if (c.kind === ControlKind.Echo) {
      const wasValid = leg.health.validated;
      if (!leg.health.echo(c.id, clock.now())) return;
      rerank();
      if (!wasValid) {
        orphans = true;
        regrade();
        pump();
      }
    }
  };
  const onLegFrame = (leg: Leg, tag: number, payload: Uint8Array) => {
    if (ended || !legs.has(leg.id)) return;
    leg.health.heard(clock.now());
    try {
      if (tag === Tag.Sequenced) onSequenced(leg, payload);
      else if (tag === Tag.TripleControl) onControl(leg, payload);
      else throw new TripleMalformedError(`${name}: inner tag ${tag} on a triple path`);
    } catch (err) {
      fail(err);
    }
  };

  // --- heartbeats ---
  const tick = () => {
    tickTimer = undefined;
    if (ended) return;
    const now = clock.now();
    for (const l of [...legs.values()]) control(l, ControlKind.Beat, l.health.beat(now, limits.lossWindowBeats));
    regrade();
    if (!ended) tickTimer = clock.setTimeout(tick, limits.heartbeatMs);
  };

  // --- the end ---
  const finish = (error: Error) => {
    if (ended) return;
    ended = true;
    for (const t of [tickTimer, rtoTimer, ackTimer]) clearTimer(t);
    tickTimer = rtoTimer = ackTimer = undefined;
    buffer.clear();
    inbound.clear();
    unclaimed = [];
    for (const l of [...legs.values()]) {
      legs.delete(l.id);
      l.stopWatching();
      if (!l.path.lifetime.isClosed) l.path.abort(error);
    }
    life.close(error);
  };
  const abort = (reason: Error) => {
    if (ended) return;
    actor.send({ type: 'session.abort', error: reason });
    // The machine announces the end; if it had already stopped, end here.
    finish(reason);
  };

  const actor = createActor(tripleMachine, {
    input: { graceMs: limits.graceMs, effects: { lost: finish, closed: finish } },
    clock: { setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (h) => clock.clearTimeout(h) },
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
  });
  actor.subscribe({ error: (err) => finish(err instanceof Error ? err : new TripleProtocolError(String(err))) });
  actor.start();
  tickTimer = clock.setTimeout(tick, limits.heartbeatMs);

  return {
    send,
    onFrame(h) {
      handler = h;
      const queued = unclaimed;
      unclaimed = [];
      unclaimedBytes = 0;
      for (const [t, p] of queued) {
        if (ended) break;
        try {
          h(t, p);
        } catch (err) {
          fail(err);
        }
      }
    },
    abort,
    lifetime: life.lifetime,
    attach,
    get state() {
      return tripleStateOf(actor.getSnapshot().value);
    },
    mode,
    backlog: () => buffer.bytes,
    diagnostics: () => {
      const now = clock.now();
      return {
        state: tripleStateOf(actor.getSnapshot().value),
        mode,
        paths: [...legs.values()].map((l) => ({
          id: l.id,
          label: l.label,
          grade: l.grade,
          rttMs: l.health.srtt,
          loss: l.health.loss(now, limits),
          framesIn: l.health.framesIn,
          framesOut: l.health.framesOut,
          beats: l.health.beatsSent,
          echoes: l.health.echoes,
        })),
        unackedFrames: buffer.size,
        unackedBytes: buffer.bytes,
        nextSeq: buffer.nextSeq,
        peerAck: buffer.acked,
        delivered: inbound.delivered,
        heldFrames: inbound.heldFrames,
        duplicates: inbound.duplicates,
        retransmits,
        early,
        timers: timerCount(),
      };
    },
  };
};
