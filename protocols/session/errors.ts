/**
 * Errors of the session layer (one path). Tests and callers match them by `name`.
 *
 * Every error carries the `code` that goes on the wire in an Abort (before the
 * session is established) or a Shutdown (after), and `remote`: true when the peer
 * reported it rather than this side detecting it. An Abort's code maps back to
 * the same class on the other side, so both ends of a failed handshake name the
 * failure alike. No error message ever carries key material.
 */

export interface SessionErrorOptions {
  readonly cause?: unknown;
  readonly remote?: boolean;
}

export class SessionError extends Error {
  override name = 'SessionError';
  /** Wire code for Abort/Shutdown. */
  readonly code: string = 'protocol-error';
  /** The peer reported this failure (Abort, NotMe, DuplicateConnection, Shutdown). */
  readonly remote: boolean;
  constructor(message: string, options: SessionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.remote = options.remote ?? false;
  }
}

/** No protocol version in common (ProtocolOffered). */
export class UnsupportedVersionError extends SessionError {
  override name = 'UnsupportedVersionError';
  override readonly code = 'unsupported-version';
}
/** The responder is not the VatId the initiator wanted, or its key does not hash to it. */
export class NotMeError extends SessionError {
  override name = 'NotMeError';
  override readonly code = 'not-me';
}
/** A message's VatId is not the hash of the identity key beside it. */
export class IdentityMismatchError extends SessionError {
  override name = 'IdentityMismatchError';
  override readonly code = 'identity-mismatch';
}
/** The responder already has (or prefers) another connection with this peer. */
export class DuplicateConnectionError extends SessionError {
  override name = 'DuplicateConnectionError';
  override readonly code = 'duplicate-connection';
}
/** No cipher, encoder or domain in common. */
export class NegotiationError extends SessionError {
  override name = 'NegotiationError';
  override readonly code = 'negotiation-failed';
}
export class BadSignatureError extends SessionError {
  override name = 'BadSignatureError';
  override readonly code = 'bad-signature';
}
/** A missing or invalid cookie after the responder demanded one, or a second demand. */
export class CookieError extends SessionError {
  override name = 'CookieError';
  override readonly code = 'bad-cookie';
}
/** X25519 gave the all-zero secret: the peer sent a low-order point. */
export class WeakKeyError extends SessionError {
  override name = 'WeakKeyError';
  override readonly code = 'weak-key';
}
export class HandshakeTimeoutError extends SessionError {
  override name = 'HandshakeTimeoutError';
  override readonly code = 'timeout';
}
/** A well-formed frame that the current state does not accept. */
export class UnexpectedFrameError extends SessionError {
  override name = 'UnexpectedFrameError';
  override readonly code = 'unexpected-frame';
}
/** Bytes that are not a valid frame or message (cause: FrameTooLargeError, MalformedFrameError, …). */
export class MalformedMessageError extends SessionError {
  override name = 'MalformedMessageError';
  override readonly code = 'malformed';
}
/** An Encrypted frame did not authenticate: corruption, replay, reordering or loss. */
export class AeadError extends SessionError {
  override name = 'AeadError';
  override readonly code = 'aead';
}
/** The path was closed: locally, or by the peer's Shutdown (then `remote`, with the peer's code). */
export class PathClosedError extends SessionError {
  override name = 'PathClosedError';
  override readonly code: string;
  /** What the closing side said, as it goes out in its Shutdown (the message adds who closed). */
  readonly detail: string;
  constructor(code: string, message: string, options: SessionErrorOptions & { detail?: string } = {}) {
    super(message, options);
    this.code = code;
    this.detail = options.detail ?? message;
  }
}
/** Nothing arrived from the peer for the dead interval, pings included. */
export class PathTimeoutError extends SessionError {
  override name = 'PathTimeoutError';
  override readonly code = 'timeout';
}
/** The byte stream ended or failed without a Shutdown (cause: the stream's error, if any). */
export class PathLostError extends SessionError {
  override name = 'PathLostError';
  override readonly code = 'lost';
}
/** More inbound data arrived before `onFrame` was set than the path will hold. */
export class PathOverflowError extends SessionError {
  override name = 'PathOverflowError';
  override readonly code = 'overflow';
}
/**
 * Bytes written to the peer and not yet taken by it would pass
 * `PathLimits.maxUnsentBytes`: the peer stopped reading (or reads far slower
 * than it asks). The frame that would pass the bound is not written.
 */
export class PathBackpressureError extends SessionError {
  override name = 'PathBackpressureError';
  override readonly code = 'backpressure';
}
/**
 * This host is stopping: dials, handshakes and waits for a session that were in
 * flight reject with it, a connect asked for afterwards too, and paths still
 * handshaking are aborted with it (the peer reads code 'host-stopping').
 */
export class HostStoppingError extends SessionError {
  override name = 'HostStoppingError';
  override readonly code = 'host-stopping';
}
/** An Abort whose code this side does not know. */
export class PeerAbortError extends SessionError {
  override name = 'PeerAbortError';
  override readonly code: string;
  constructor(code: string, message: string, options: SessionErrorOptions = {}) {
    super(message, options);
    this.code = code;
  }
}

type Plain = new (message: string, options?: SessionErrorOptions) => SessionError;

const BY_CODE = new Map<string, Plain>(
  (
    [
      UnsupportedVersionError,
      NotMeError,
      IdentityMismatchError,
      DuplicateConnectionError,
      NegotiationError,
      BadSignatureError,
      CookieError,
      WeakKeyError,
      HandshakeTimeoutError,
      UnexpectedFrameError,
      MalformedMessageError,
      HostStoppingError,
    ] as const
  ).map((C) => [new C('').code, C]),
);

/** The error a received Abort stands for, marked `remote`. */
export const errorFromAbort = (code: string, message: string): SessionError => {
  const C = BY_CODE.get(code);
  const text = `peer aborted (${code}): ${message}`;
  return C ? new C(text, { remote: true }) : new PeerAbortError(code, text, { remote: true });
};
