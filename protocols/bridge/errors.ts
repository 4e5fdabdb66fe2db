/**
 * Errors of bridges and relayed paths (docs/protocol.md section 15). Tests and
 * callers match them by `name`; each is a SessionError with a wire `code`, so
 * a bridge's refusal reaches the asking host by name.
 *
 * A bridge only refuses or ends a rendezvous or a route: the hop session it
 * rides on goes on, except for a malformed bridge frame, which aborts that
 * hop session (the peer is broken or hostile, and a session is the unit of trust).
 */
import { SessionError, type SessionErrorOptions } from '../session/errors.js';

export class BridgeError extends SessionError {
  override name = 'BridgeError';
  override readonly code: string = 'bridge-error';
  constructor(message: string, options: SessionErrorOptions = {}) {
    const name = new.target.name;
    super(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, options);
  }
}

/** The host asked is not a bridge (`tribe host --bridge` was not given). */
export class NotABridgeError extends BridgeError {
  override name = 'NotABridgeError';
  override readonly code = 'not-a-bridge';
}

/** Over a per-peer bound of the bridge: pending rendezvous or live routes. */
export class BridgeLimitError extends BridgeError {
  override name = 'BridgeLimitError';
  override readonly code = 'bridge-limit';
}

/** The other end did not come to the rendezvous in time. */
export class BridgeRendezvousTimeoutError extends BridgeError {
  override name = 'BridgeRendezvousTimeoutError';
  override readonly code = 'rendezvous-timeout';
}

/** A route ended: the other end left, its hop session ended, or the bridge ended it. */
export class RelayEndedError extends BridgeError {
  override name = 'RelayEndedError';
  override readonly code = 'relay-ended';
}

/** Bytes for a route piled up past the bridge's bound (its other end does not read). */
export class RelayBackpressureError extends BridgeError {
  override name = 'RelayBackpressureError';
  override readonly code = 'relay-backpressure';
}

/** A bridge frame that breaks its layout: the hop session aborts. */
export class BridgeMalformedError extends BridgeError {
  override name = 'BridgeMalformedError';
  override readonly code = 'bridge-malformed';
}

/** Not a bridge ref (`tribe://<VatId>@<host>:<port>`). */
export class BridgeRefError extends BridgeError {
  override name = 'BridgeRefError';
  override readonly code = 'bad-bridge-ref';
}

const BY_CODE: Record<string, new (message: string, options?: SessionErrorOptions) => BridgeError> = {
  'not-a-bridge': NotABridgeError,
  'bridge-limit': BridgeLimitError,
  'rendezvous-timeout': BridgeRendezvousTimeoutError,
  'relay-ended': RelayEndedError,
  'relay-backpressure': RelayBackpressureError,
  'bridge-malformed': BridgeMalformedError,
};

/** The named error for a code a bridge sent (remote); an unknown code gives BridgeError. */
export const bridgeErrorFromCode = (code: string, message: string): BridgeError =>
  new (BY_CODE[code] ?? BridgeError)(message, { remote: true });
