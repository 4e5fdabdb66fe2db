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
 */
import { makeCapTP, type CapTPMessage, type CapTPStats } from '@endo/captp';
import { makeImportExportTables } from './captp-tables.js';
import { ConnectionAbortedError, ProtocolViolationError } from './errors.js';
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
}

export interface Connection {
  readonly name: string;
  dispatch(msg: unknown): void;
  getBootstrap<T = any>(): Promise<T>;
  abort(reason?: Error): void;
  readonly aborted: Error | undefined;
  stats(): CapTPStats;
  trace(): readonly TraceEntry[];
}

/** A CTP_CALL's method is capdata `[prop, args]`; read just the method name for traces. */
const methodOf = (msg: CapTPMessage): string | undefined => {
  const m = msg['method'] as { body?: unknown } | undefined;
  if (!m || typeof m.body !== 'string') return undefined;
  const match = /^\["([^"]*)"/.exec(m.body);
  return match?.[1];
};

const isCapTPMessage = (msg: unknown): msg is CapTPMessage =>
  typeof msg === 'object' && msg !== null && typeof (msg as CapTPMessage).type === 'string' &&
  (msg as CapTPMessage).type.startsWith('CTP_');

/** Messages a peer may pipeline behind its bootstrap request before the answer goes out. */
export const MAX_HELD_MESSAGES = 10_000;

export const makeConnection = (opts: ConnectionOptions): Connection => {
  const { name, traceLimit = 0 } = opts;
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
    log.push(entry);
    if (log.length > traceLimit) log.shift();
  };

  let aborted: Error | undefined;
  // CapTP answers CTP_BOOTSTRAP a few microtasks late (it awaits the bootstrap
  // object), so a peer that pipelines a call on the bootstrap question in the
  // same batch would name an answer that does not exist yet. Hold inbound
  // messages from a bootstrap request until its answer has gone out.
  const awaitingBootstrap = new Set<string>();
  const held: CapTPMessage[] = [];
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
    record('out', msg);
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
    makeCapTPImportExportTables: makeImportExportTables,
    // CapTP reports every rejected remote promise here, including ordinary
    // exceptions thrown by remote methods; those are the caller's business, not
    // a connection fault. Malformed input is caught below by dispatch's result.
    onReject: () => {},
    ...(opts.onImport ? { importHook: (val: unknown) => opts.onImport!(val) } : {}),
  });

  const abort = (reason: Error = new ConnectionAbortedError(`${name}: connection closed`)) => {
    if (aborted) return;
    aborted = reason;
    captp.abort(reason);
    opts.onAbort?.(reason);
  };

  /** Delivers held messages in order; stops again if one of them is another bootstrap request. */
  const releaseHeld = () => {
    while (held.length > 0 && awaitingBootstrap.size === 0) deliver(held.shift()!);
  };

  const deliver = (msg: CapTPMessage) => {
    if (aborted) return;
    if (msg.type === 'CTP_DISCONNECT') {
      const reason = msg['reason'] as { message?: unknown } | undefined;
      const why = typeof reason?.message === 'string' ? `: ${reason.message.slice(0, 500)}` : '';
      abort(new ConnectionAbortedError(`${name}: peer disconnected${why}`));
      return;
    }
    if (msg.type === 'CTP_BOOTSTRAP') awaitingBootstrap.add(String(msg['questionID']));
    // dispatch() returns false when handling the message threw (bad slot,
    // unknown answer, undecodable body): the peer is broken or hostile.
    if (!captp.dispatch(msg) && !aborted) {
      abort(new ProtocolViolationError(`${name}: malformed ${msg.type} from peer`));
    }
  };

  return {
    name,
    dispatch(msg) {
      if (aborted) return;
      if (!isCapTPMessage(msg)) {
        abort(new ProtocolViolationError(`${name}: not a CapTP message`));
        return;
      }
      record('in', msg);
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
    },
    getBootstrap: () => captp.getBootstrap(),
    abort,
    get aborted() {
      return aborted;
    },
    stats: () => captp.getStats(),
    trace: () => [...log],
  };
};
