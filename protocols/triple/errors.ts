/**
 * Errors of the triple session (one logical session over up to three paths).
 * Tests and callers match them by `name`. They extend the session layer's
 * SessionError (protocols/session/errors.ts), so each carries a wire `code`
 * and `remote`; the CapTP mux above wraps whatever ends its path in its own
 * SessionLostError, with this error as the `cause`.
 *
 * Two kinds of failure, on purpose:
 * - a *path* fails (silence, its own AEAD or stream error): that path is
 *   detached with TriplePathDeadError and the session goes on over the others;
 * - the *peer* is broken or hostile (a well-authenticated frame that breaks a
 *   rule: malformed, a sequence number past the window, an ack of something
 *   never sent): the whole session aborts, since a session is the unit of trust.
 */
import { SessionError, type SessionErrorOptions } from '../session/errors.js';

/** Base of every triple-session error. Its message starts with the class name, which survives CapTP hops. */
export class TripleSessionError extends SessionError {
  override name = 'TripleSessionError';
  constructor(message: string, options: SessionErrorOptions = {}) {
    const name = new.target.name;
    super(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, options);
  }
}

/**
 * The session is gone: every path stayed down past the grace period, or the
 * session was aborted. Pending frames are dropped; nothing more is delivered.
 */
export class TripleSessionLostError extends TripleSessionError {
  override name = 'TripleSessionLostError';
  override readonly code: string = 'triple-lost';
}

/**
 * The peer started a new session (a new epoch on one of the paths): it restarted
 * and lost its tables, so the old session ends at once, without a grace period.
 */
export class TripleEpochChangedError extends TripleSessionLostError {
  override name = 'TripleEpochChangedError';
  override readonly code = 'triple-epoch';
}

/** One path went silent past `pathDeadMs` (or its stream ended): it is detached, the session goes on. */
export class TriplePathDeadError extends TripleSessionError {
  override name = 'TriplePathDeadError';
  override readonly code = 'triple-path-dead';
}

/**
 * Frames sent and not yet acknowledged would pass `maxUnackedBytes`: the peer
 * does not acknowledge (or every path has been down long enough to fill the
 * buffer). The session aborts; the frame that would pass the bound is not taken.
 */
export class TripleBackpressureError extends TripleSessionError {
  override name = 'TripleBackpressureError';
  override readonly code = 'triple-backpressure';
}

/** A triple frame that does not parse: wrong length, unknown kind, a tag it may not carry, a number past 2^53. */
export class TripleMalformedError extends TripleSessionError {
  override name = 'TripleMalformedError';
  override readonly code = 'malformed';
}

/**
 * A well-formed frame that breaks a rule of the protocol: a sequence number
 * beyond the receive window, an ack of a frame never sent, more out-of-order
 * bytes than the window holds, or a control frame that answers nothing.
 */
export class TripleProtocolError extends TripleSessionError {
  override name = 'TripleProtocolError';
  override readonly code = 'triple-protocol';
}

/** Send or attach on a session that has ended (cause: why it ended). */
export class TripleSessionClosedError extends TripleSessionError {
  override name = 'TripleSessionClosedError';
  override readonly code = 'closed';
}

/**
 * The peer does not speak triple sessions: the first frame it sent on a path
 * this host dialled was not a Join (a host before triple sessions sends its
 * CapTP bootstrap first, and aborts on our Join).
 */
export class TripleUnsupportedError extends TripleSessionError {
  override name = 'TripleUnsupportedError';
  override readonly code = 'triple-unsupported';
}

/** A new path brought no Join within the join timeout: it is closed (the session, if any, goes on). */
export class TripleJoinTimeoutError extends TripleSessionError {
  override name = 'TripleJoinTimeoutError';
  override readonly code = 'timeout';
}
