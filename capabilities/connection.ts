/**
 * One CapTP connection over any message link (MessagePort, Unix socket, later a
 * secure session). This is the seam every layer above uses:
 *
 * - `dispatch(msg)` feeds one message received from the peer. A message that is
 *   not a CapTP message aborts the connection with ProtocolViolationError.
 * - `abort(reason)` is idempotent. It rejects every question still waiting for an
 *   answer with `reason`, and every later `E()` call on this connection's
 *   references rejects at once with the same reason.
 *
 * `trace` (off unless asked) keeps the last messages in each direction, so tests
 * can assert *what went over the wire in which order* rather than timing.
 *
 * Three-party handoff (`handoff` option, see handoff.ts): an outbound message
 * that first names a reference owned by a third party carries a `gifts` note per
 * such slot (owner, nonce); the sender deposited the gift with the owner. An
 * inbound message whose gifts name slots this side does not hold waits, and every
 * later message of this connection behind it (CapTP's order is kept), until each
 * gift is claimed from its owner; the slot then becomes that direct presence. A
 * gift that cannot be claimed leaves the slot an ordinary proxy through the
 * peer: handoff only ever falls back to what CapTP does without it.
 *
 * The handoff's own calls (`provideFor`, `acceptFrom` on the peer's bootstrap),
 * the bootstrap request and their answers are marked `oob`: the receiver
 * dispatches them even while messages wait for gifts, so two parties waiting on
 * each other's gifts cannot deadlock. Only those may pass; a receiver ignores
 * the mark on anything else. Passing lets a sender reorder only its own
 * messages, which it could do anyway.
 */
import { makeCapTP, type CapTPMessage, type CapTPStats } from '@endo/captp';
import { makeImportExportTables, type ImportExportTables } from './captp-tables.js';
import { ConnectionAbortedError, ProtocolViolationError } from './errors.js';
import { checkGiftNotes, type DurableNote, type DurableTerms, type GiftNote, type GiftTerms, type SlotNote } from './gift-notes.js';
import { makeOobMarks, reverseSlot } from './oob-marks.js';
import { rewriteSentError } from './passable.js';

export type { CapTPMessage };

export interface TraceEntry {
  readonly dir: 'out' | 'in';
  readonly type: string;
  readonly questionID?: string;
  readonly answerID?: string;
  readonly target?: string;
  /** The method name of a CTP_CALL, when it has one. */
  readonly method?: string;
  /** Gift notes the message carried (third-party references handed on). */
  readonly gifts?: number;
}

/**
 * A connection's part in three-party handoff (handoff.ts makes one per peer).
 * `give` is asked about each export the peer may lack; `take` claims a gift the
 * peer handed on. Neither throws: `give` answers undefined when the value is
 * not a third party's, and a failed `take` leaves the slot a proxy.
 */
export interface HandoffPort {
  /**
   * Terms of a gift deposited for this connection's peer, or of a durable object
   * (durable-refs.ts); undefined when `val` is neither a third party's reference nor durable.
   */
  give(val: unknown): GiftTerms | DurableTerms | undefined;
  /** The direct reference behind a gift the peer handed on; rejects when it cannot be claimed. */
  take(note: GiftNote): Promise<unknown>;
  /** What to import for a durable note's slot: a durable presence around `direct`, this connection's presence for it. */
  revivable(note: DurableNote, direct: unknown): unknown;
}

export interface ConnectionOptions {
  /** Name used in error messages and stats. */
  readonly name: string;
  /** Sends one message to the peer; may throw once the link is closed. */
  readonly send: (msg: CapTPMessage) => void;
  /** The object the peer gets from `getBootstrap()`. */
  readonly bootstrap?: unknown;
  /** Keep this many recent messages per connection for `trace()`; 0 = off. */
  readonly traceLimit?: number;
  /** Called for each new reference (presence or promise) imported from the peer. */
  readonly onImport?: (val: unknown) => void;
  /** Called once when the connection aborts, with the reason. */
  readonly onAbort?: (reason: Error) => void;
  /** Hand third parties' references on directly (see the file comment); without it they are proxied. */
  readonly handoff?: HandoffPort;
  /**
   * Sees every message that goes out or comes in, as the trace does (the
   * visualizer's call tracing, vats/call-trace.ts). Called inline on the hot
   * path: it must be cheap and must not throw.
   */
  readonly onMessage?: (dir: 'in' | 'out', msg: CapTPMessage) => void;
}

export interface Connection {
  readonly name: string;
  dispatch(msg: unknown): void;
  getBootstrap<T = any>(): Promise<T>;
  abort(reason?: Error): void;
  readonly aborted: Error | undefined;
  stats(): CapTPStats;
  trace(): readonly TraceEntry[];
  /** Gifts claimed directly, and gifts that fell back to a proxy through the peer. */
  handoffStats(): { readonly direct: number; readonly proxied: number };
  /** References held across this connection: imports from the peer, exports to it. */
  refs(): { readonly imports: number; readonly exports: number };
}

/** A CTP_CALL's method is capdata `[prop, args]`; read just the method name for traces. */
export const methodOf = (msg: CapTPMessage): string | undefined => {
  const m = msg['method'] as { body?: unknown } | undefined;
  if (!m || typeof m.body !== 'string') return undefined;
  const match = /^\["([^"]*)"/.exec(m.body);
  return match?.[1];
};

const isCapTPMessage = (msg: unknown): msg is CapTPMessage =>
  typeof msg === 'object' && msg !== null && typeof (msg as CapTPMessage).type === 'string' &&
  (msg as CapTPMessage).type.startsWith('CTP_');

/** Messages a peer may pipeline behind its bootstrap request (or a gift being claimed) before they are dispatched. */
export const MAX_HELD_MESSAGES = 10_000;

const CAPDATA_FIELDS = ['method', 'result', 'exception', 'res', 'rej'] as const;


/** The slots of every capdata field of a CapTP message. */
const slotsOf = (msg: CapTPMessage): string[] => {
  const out: string[] = [];
  for (const f of CAPDATA_FIELDS) {
    const slots = (msg[f] as { slots?: unknown } | undefined)?.slots;
    if (Array.isArray(slots)) for (const s of slots) if (typeof s === 'string') out.push(s);
  }
  return out;
};

export const makeConnection = (opts: ConnectionOptions): Connection => {
  const { name, traceLimit = 0, onMessage } = opts;
  const log: TraceEntry[] = [];
  const record = (dir: 'in' | 'out', msg: CapTPMessage) => {
    if (traceLimit === 0) return;
    const entry: TraceEntry = {
      dir,
      type: msg.type,
      ...(typeof msg['questionID'] === 'string' ? { questionID: msg['questionID'] } : {}),
      ...(typeof msg['answerID'] === 'string' ? { answerID: msg['answerID'] } : {}),
      ...(typeof msg['target'] === 'string' ? { target: msg['target'] } : {}),
    };
    const method = msg.type === 'CTP_CALL' ? methodOf(msg) : undefined;
    if (method !== undefined) (entry as { method?: string }).method = method;
    if (Array.isArray(msg['gifts'])) (entry as { gifts?: number }).gifts = msg['gifts'].length;
    log.push(entry);
    if (log.length > traceLimit) log.shift();
  };

  let aborted: Error | undefined;
  const { handoff } = opts;
  let tables!: ImportExportTables;
  const handoffCounts = { direct: 0, proxied: 0 };

  // --- out-of-band marks (oob-marks.ts) ---
  const oob = makeOobMarks(methodOf);

  /** Gift notes for the exports of `msg` that the peer may lack and that a third party owns. */
  const giftsFor = (msg: CapTPMessage): SlotNote[] | undefined => {
    let gifts: SlotNote[] | undefined;
    for (const slot of slotsOf(msg)) {
      if (!slot.startsWith('o+') || !tables.takeFresh(slot)) continue;
      const terms = handoff!.give(tables.getExport(slot));
      if (!terms) continue;
      gifts ??= [];
      gifts.push(harden({ slot, ...terms }) as SlotNote);
    }
    return gifts;
  };

  // CapTP answers CTP_BOOTSTRAP a few microtasks late (it awaits the bootstrap
  // object), so a peer that pipelines a call on the bootstrap question in the
  // same batch would name an answer that does not exist yet. Hold inbound
  // messages from a bootstrap request until its answer has gone out.
  const awaitingBootstrap = new Set<string>();
  const held: CapTPMessage[] = [];
  /** Messages waiting, in order, for the gifts of the first one to be claimed. */
  const waiting: CapTPMessage[] = [];
  const rawSend = (original: CapTPMessage) => {
    if (aborted && original.type !== 'CTP_DISCONNECT') return;
    let msg = original;
    if (msg.type === 'CTP_DISCONNECT' && msg['reason'] instanceof Error) {
      // The reason goes out as JSON: keep what a peer can use, not an empty object.
      const reason = msg['reason'];
      msg = { ...msg, reason: { name: reason.name, message: reason.message } };
    }
    // A rejection goes out with its class name kept and marshal's refusals explained (passable.ts).
    if (msg.type === 'CTP_RETURN' && 'exception' in msg) msg = { ...msg, exception: rewriteSentError(msg['exception']) };
    if (msg.type === 'CTP_RESOLVE' && 'rej' in msg) msg = { ...msg, rej: rewriteSentError(msg['rej']) };
    if (msg.type === 'CTP_RETURN' && awaitingBootstrap.delete(String(msg['answerID'])) && awaitingBootstrap.size === 0) {
      queueMicrotask(releaseHeld);
    }
    if (handoff) {
      if (oob.markOutbound(msg)) msg = { ...msg, oob: true };
      const gifts = giftsFor(msg);
      if (gifts) msg = { ...msg, gifts };
    }
    record('out', msg);
    onMessage?.('out', msg);
    try {
      opts.send(msg);
    } catch (cause) {
      // The link is gone; abort so that callers learn it instead of waiting forever.
      queueMicrotask(() => abort(new ConnectionAbortedError(`${name}: send failed`, { cause })));
    }
  };
  const captp = makeCapTP(name, rawSend, opts.bootstrap, {
    // Imports are held weakly; dropped ones are reported to the peer (CTP_DROP).
    gcImports: true,
    makeCapTPImportExportTables: (args: Parameters<typeof makeImportExportTables>[0]) =>
      (tables = makeImportExportTables({ ...args, trackFresh: handoff !== undefined })),
    // CapTP reports every rejected remote promise here, including ordinary
    // exceptions thrown by remote methods; those are the caller's business, not
    // a connection fault. Malformed input is caught below by dispatch's result.
    onReject: () => {},
    ...(opts.onImport ? { importHook: (val: unknown) => opts.onImport!(val) } : {}),
  });

  /** CapTP itself was aborted: nothing more is dispatched. */
  let unplugged = false;
  const unplug = () => {
    if (unplugged) return;
    unplugged = true;
    waiting.length = 0;
    held.length = 0;
    captp.abort(aborted);
  };
  const abort = (reason: Error = new ConnectionAbortedError(`${name}: connection closed`)) => {
    if (aborted) return;
    aborted = reason;
    opts.onAbort?.(reason);
    // Messages the peer sent before it went away still arrive, once their gifts
    // are claimed from the owners (a donor may end right after handing on); a
    // peer that broke the protocol gets nothing more delivered.
    if (waiting.length === 0 || reason.name === 'ProtocolViolationError') unplug();
  };

  /** Delivers held messages in order; stops again if one of them is another bootstrap request. */
  const releaseHeld = (): void => {
    while (held.length > 0 && awaitingBootstrap.size === 0) deliver(held.shift()!);
  };

  /**
   * Slots claimed for a message, set as its imports until it is dispatched: it may
   * wait behind a bootstrap answer (`held`) after it leaves the gift stage.
   */
  const presetsOf = new WeakMap<CapTPMessage, string[]>();

  /** Slots of `msg`'s durable notes that this side does not hold yet: imported as durable presences. */
  const durableSlots = (msg: CapTPMessage): string[] | undefined => {
    const notes = msg['gifts'] as SlotNote[] | undefined;
    if (!handoff || !notes) return undefined;
    const slots: string[] = [];
    for (const note of notes) {
      if (note.key === undefined) continue;
      const slot = reverseSlot(note.slot);
      if (tables.hasImport(slot)) continue;
      tables.wrapImport(slot, (direct) => handoff.revivable(note, direct));
      slots.push(slot);
    }
    return slots;
  };

  const deliver = (msg: CapTPMessage) => {
    if (unplugged) return;
    if (msg.type === 'CTP_DISCONNECT') {
      const reason = msg['reason'] as { message?: unknown } | undefined;
      const why = typeof reason?.message === 'string' ? `: ${reason.message.slice(0, 500)}` : '';
      abort(new ConnectionAbortedError(`${name}: peer disconnected${why}`));
      return;
    }
    if (msg.type === 'CTP_BOOTSTRAP') awaitingBootstrap.add(String(msg['questionID']));
    // dispatch() returns false when handling the message threw (bad slot,
    // unknown answer, undecodable body): the peer is broken or hostile.
    const wrapped = durableSlots(msg);
    const ok = captp.dispatch(msg);
    for (const slot of presetsOf.get(msg) ?? []) tables.clearPreset(slot);
    for (const slot of wrapped ?? []) tables.clearWrap(slot);
    if (!ok && !aborted) {
      abort(new ProtocolViolationError(`${name}: malformed ${msg.type} from peer`));
    }
  };

  /** After the gift stage: waits behind a bootstrap answer, or is dispatched. */
  const admit = (msg: CapTPMessage) => {
    if (awaitingBootstrap.size > 0 && msg.type !== 'CTP_DISCONNECT') {
      // Bounded by what the peer may send before one answer: a flood aborts.
      if (held.length >= MAX_HELD_MESSAGES) {
        abort(new ProtocolViolationError(`${name}: more than ${MAX_HELD_MESSAGES} messages before the bootstrap answer`));
        return;
      }
      held.push(msg);
      return;
    }
    deliver(msg);
  };

  // --- the gift stage: messages wait, in order, while their gifts are claimed ---
  let claiming = false;
  /** The gifts of `msg` naming slots this side does not hold. */
  const unclaimed = (msg: CapTPMessage): GiftNote[] =>
    ((msg['gifts'] as SlotNote[] | undefined) ?? []).filter(
      (g): g is GiftNote => g.key === undefined && !tables.hasImport(reverseSlot(g.slot)),
    );

  const claimAll = async (gifts: readonly GiftNote[]): Promise<string[]> => {
    const claimed = await Promise.all(
      gifts.map((g) =>
        handoff!.take(g).then(
          (val) => {
            if (unplugged) return undefined;
            handoffCounts.direct += 1;
            const slot = reverseSlot(g.slot);
            tables.preset(slot, val);
            return slot;
          },
          () => {
            handoffCounts.proxied += 1;
            return undefined;
          },
        ),
      ),
    );
    return claimed.filter((s): s is string => s !== undefined);
  };

  const pump = async () => {
    if (claiming) return;
    claiming = true;
    try {
      while (waiting.length > 0 && !unplugged) {
        const msg = waiting[0]!;
        const gifts = unclaimed(msg);
        const preset = gifts.length > 0 ? await claimAll(gifts) : [];
        if (unplugged) return;
        waiting.shift();
        if (preset.length > 0) presetsOf.set(msg, preset);
        admit(msg);
      }
    } finally {
      claiming = false;
      // The peer went away while its last messages waited: now they are in.
      if (aborted && waiting.length === 0) unplug();
    }
  };

  return {
    name,
    dispatch(raw) {
      if (aborted) return;
      if (!isCapTPMessage(raw)) {
        abort(new ProtocolViolationError(`${name}: not a CapTP message`));
        return;
      }
      let msg: CapTPMessage = raw;
      record('in', msg);
      onMessage?.('in', msg);
      if ('gifts' in msg || 'oob' in msg) {
        if (!handoff) {
          // A peer we never offered handoff to: the marks mean nothing here.
          const { gifts: _g, oob: _o, ...plain } = msg;
          msg = plain as CapTPMessage;
        } else if ('gifts' in msg) {
          const bad = checkGiftNotes(msg['gifts']);
          if (bad) {
            abort(new ProtocolViolationError(`${name}: ${bad}`));
            return;
          }
        }
      }
      if (handoff && msg.type !== 'CTP_DISCONNECT' && !oob.mayPass(msg)) {
        if (waiting.length > 0 || unclaimed(msg).length > 0) {
          if (waiting.length >= MAX_HELD_MESSAGES) {
            abort(new ProtocolViolationError(`${name}: more than ${MAX_HELD_MESSAGES} messages waiting for gifts`));
            return;
          }
          waiting.push(msg);
          void pump();
          return;
        }
      }
      admit(msg);
    },
    getBootstrap: () => captp.getBootstrap(),
    abort,
    get aborted() {
      return aborted;
    },
    stats: () => captp.getStats(),
    trace: () => [...log],
    handoffStats: () => ({ ...handoffCounts }),
    refs: () => tables.counts(),
  };
};
