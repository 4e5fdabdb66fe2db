/**
 * Call tracing inside a vat, for the visualizer's "messages between actors":
 * each E() call this vat makes, and each call a host makes into it, with its
 * answer — method name, the two endpoints, outcome (ok or the error's class
 * name), latency. Never an argument or a result value, never an error's
 * message: those may carry secrets.
 *
 * Cost: the host turns tracing on only while someone watches its machines (a
 * page, or a peer host's relay). While it is off, each CapTP message costs one
 * call of a closure that reads a flag. While it is on, at most
 * `callsPerSecond` calls are traced per second; the rest are counted as
 * dropped and reported, so the page can say how much it does not show. A
 * traced call's answer is always traced (the pair stays whole), so a second
 * holds at most twice that many records.
 *
 * Whose side records a call: the caller's, which sees the call leave and the
 * answer come back; a host does not trace, so a call from a host (this host's,
 * or another's `@host` endpoint) is recorded by the vat it calls. Every call
 * with a vat at one end is therefore recorded exactly once.
 *
 * Failure semantics: the tracer never throws into CapTP; a message it cannot
 * read is not traced.
 */
import { type CapTPMessage, methodOf } from '../capabilities/connection.js';

export interface CallTraceLimits {
  /** Calls traced per second by one vat; beyond, counted as dropped (a busy vat keeps its speed). */
  readonly callsPerSecond: number;
  /** Calls waiting for their answer that are remembered; past it the oldest is forgotten (its answer untraced). */
  readonly outstanding: number;
  /** Records wait this long to travel to the host as one post (the page shows them within 250 ms). */
  readonly flushMs: number;
  /** Reference counts (imports/exports per peer) and dropped calls are reported this often while tracing, when there is news. */
  readonly refsEveryMs: number;
}

export const DEFAULT_CALL_TRACE_LIMITS: CallTraceLimits = Object.freeze({
  // A person reads a few arrows a second; 200 keeps the page informative and the post small.
  callsPerSecond: 200,
  // Far more than a vat waits on at once in practice; bounds memory if answers never come.
  outstanding: 1000,
  flushMs: 20,
  refsEveryMs: 1000,
});

/** One traced call or answer, as a vat reports it (the host checks and completes it, runtime/viz/messages.ts). */
export interface TracedCall {
  /** Per vat, from 1: pairs a call with its answer. */
  readonly n: number;
  readonly phase: 'call' | 'answer';
  /** Milliseconds since the epoch (the call left, or its answer arrived). */
  readonly t: number;
  /** Full endpoint ids, `<VatId>/<name>` (a vat, or `@host`): caller and callee, for both phases. */
  readonly from: string;
  readonly to: string;
  readonly method: string;
  /** Sent to the answer of a call not yet answered (promise pipelining). */
  readonly pipelined?: true;
  /** Sent with no answer expected (E.sendOnly). */
  readonly oneway?: true;
  readonly outcome?: 'ok' | 'error';
  /** The error's class name only. */
  readonly error?: string;
  /** Latency of the answer, in ms. */
  readonly ms?: number;
}

export interface PeerRefs {
  /** The peer's full endpoint id. */
  readonly peer: string;
  readonly imports: number;
  readonly exports: number;
}

/** What a vat posts to its host (VatToHost `calls`). */
export interface CallReport {
  readonly calls: readonly TracedCall[];
  /** Calls not traced since the previous report (over the rate). */
  readonly dropped: number;
  /** Present when the references held changed since the last report. */
  readonly refs?: readonly PeerRefs[];
}

export interface CallTracerPowers {
  /** `<VatId>/<name>` of this vat. */
  readonly self: string;
  /** Wall clock (record times, comparable with the machines' steps). */
  readonly now: () => number;
  /** A monotonic clock with sub-millisecond resolution, for latency. */
  readonly precise: () => number;
  readonly setTimeout: (fn: () => void, ms: number) => unknown;
  readonly clearTimeout: (handle: unknown) => void;
  readonly post: (report: CallReport) => void;
  /** Imports and exports per connection, read while tracing. */
  readonly refs: () => readonly PeerRefs[];
  readonly limits?: Partial<CallTraceLimits>;
}

export interface CallTracer {
  /** Turns tracing on or off (the host says so while someone watches). */
  set(on: boolean): void;
  readonly on: boolean;
  /**
   * The `onMessage` hook for a connection to `peer` (full id). `peerIsHost`:
   * the peer is a host, whose calls into this vat this vat records.
   */
  hook(peer: string, peerIsHost: boolean): (dir: 'in' | 'out', msg: CapTPMessage) => void;
}

/** The class name of a rejection, from its capdata; never its message. */
export const errorNameOf = (capdata: unknown): string => {
  const body = (capdata as { body?: unknown } | null)?.body;
  if (typeof body !== 'string') return 'Error';
  try {
    const json: unknown = JSON.parse(body.startsWith('#') ? body.slice(1) : body);
    const e = json as { name?: unknown; message?: unknown; '#error'?: unknown } | null;
    if (!e || typeof e !== 'object') return 'rejected';
    let name = typeof e.name === 'string' ? e.name : 'Error';
    // Our named errors cross as `Error` with their name at the start of the message (docs/architecture.md).
    const message = typeof e.message === 'string' ? e.message : typeof e['#error'] === 'string' ? e['#error'] : '';
    const named = /^([A-Z][A-Za-z0-9_$]{0,60}Error): /.exec(message);
    if (name === 'Error' && named) name = named[1]!;
    return /^[A-Za-z_$][\w$]{0,60}$/.test(name) ? name : 'Error';
  } catch {
    return 'Error';
  }
};

interface Outstanding {
  readonly n: number;
  readonly start: number;
  readonly from: string;
  readonly to: string;
  readonly method: string;
}

export const makeCallTracer = (p: CallTracerPowers): CallTracer => {
  const limits: CallTraceLimits = { ...DEFAULT_CALL_TRACE_LIMITS, ...p.limits };
  let on = false;
  let n = 0;
  let window = 0;
  let inWindow = 0;
  let dropped = 0;
  let buffer: TracedCall[] = [];
  let flushTimer: unknown;
  let refsTimer: unknown;
  let lastRefs = '';
  /** Bumped by each `set`: a hook forgets the calls it waits on from an earlier tracing period. */
  let epoch = 0;

  /** Calls go every `flushMs`; dropped counts and references ride with the once-a-second report. */
  const flush = () => {
    flushTimer = undefined;
    if (buffer.length === 0) return;
    const report: CallReport = { calls: buffer, dropped: 0 };
    buffer = [];
    p.post(report);
  };
  const push = (c: TracedCall) => {
    buffer.push(c);
    flushTimer ??= p.setTimeout(flush, limits.flushMs);
  };
  const pollRefs = () => {
    refsTimer = undefined;
    if (!on) return;
    const refs = p.refs();
    const text = JSON.stringify(refs);
    const changed = text !== lastRefs;
    if (changed || dropped > 0) {
      lastRefs = text;
      p.post({ calls: buffer, dropped, ...(changed ? { refs } : {}) });
      buffer = [];
      dropped = 0;
    }
    refsTimer = p.setTimeout(pollRefs, limits.refsEveryMs);
  };

  /** Counts a new call against the rate: false when it is over and only counted. */
  const admit = (): boolean => {
    const t = p.now();
    const w = Math.floor(t / 1000);
    if (w !== window) {
      window = w;
      inWindow = 0;
    }
    if (inWindow >= limits.callsPerSecond) {
      dropped++;
      return false;
    }
    inWindow++;
    return true;
  };

  const begin = (pending: Map<string, Outstanding>, msg: CapTPMessage, from: string, to: string) => {
    if (!admit()) return;
    const method = methodOf(msg) ?? '(call)';
    const target = msg['target'];
    const qid = msg['questionID'];
    const call: TracedCall = {
      n: ++n,
      phase: 'call',
      t: p.now(),
      from,
      to,
      method,
      ...(typeof target === 'string' && target.startsWith('q-') ? { pipelined: true as const } : {}),
      ...(typeof qid === 'string' ? {} : { oneway: true as const }),
    };
    push(call);
    if (typeof qid !== 'string') return;
    if (pending.size >= limits.outstanding) pending.delete(pending.keys().next().value!);
    pending.set(qid, { n: call.n, start: p.precise(), from, to, method });
  };

  const end = (pending: Map<string, Outstanding>, msg: CapTPMessage) => {
    const id = msg['answerID'];
    if (typeof id !== 'string') return;
    const c = pending.get(id);
    if (!c) return;
    pending.delete(id);
    const failed = 'exception' in msg;
    push({
      n: c.n,
      phase: 'answer',
      t: p.now(),
      from: c.from,
      to: c.to,
      method: c.method,
      outcome: failed ? 'error' : 'ok',
      ...(failed ? { error: errorNameOf(msg['exception']) } : {}),
      ms: Math.max(0, Math.round((p.precise() - c.start) * 1000) / 1000),
    });
  };

  return {
    get on() {
      return on;
    },
    set(next) {
      if (next === on) return;
      on = next;
      epoch++;
      if (on) {
        lastRefs = '';
        refsTimer ??= p.setTimeout(pollRefs, 0);
        return;
      }
      // Off: nothing more is posted.
      buffer = [];
      dropped = 0;
      for (const t of [flushTimer, refsTimer]) if (t !== undefined) p.clearTimeout(t);
      flushTimer = refsTimer = undefined;
    },
    hook(peer, peerIsHost) {
      // Outbound calls are ours; inbound ones are recorded only from a host, which does not trace.
      // Held by the hook alone: they go with the connection.
      const mine = new Map<string, Outstanding>();
      const theirs = new Map<string, Outstanding>();
      let seen = epoch;
      return (dir, msg) => {
        if (!on) return;
        if (seen !== epoch) {
          seen = epoch;
          mine.clear();
          theirs.clear();
        }
        try {
          const type = msg.type;
          if (dir === 'out') {
            if (type === 'CTP_CALL') begin(mine, msg, p.self, peer);
            else if (type === 'CTP_RETURN' && peerIsHost) end(theirs, msg);
          } else if (type === 'CTP_RETURN') end(mine, msg);
          else if (type === 'CTP_CALL' && peerIsHost) begin(theirs, msg, peer, p.self);
        } catch {
          // A message the tracer cannot read is not traced; CapTP goes on.
        }
      };
    },
  };
};
