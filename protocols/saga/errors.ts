/**
 * Errors of the sync saga (protocols/saga/README.md). Each message starts with
 * its class name, so `reviveError` restores it by name after it crossed a vat
 * or a host. Any of them ends the saga it was raised in: nothing of that saga
 * is committed, and its temp space is discarded.
 */
export class SagaError extends Error {
  override name = 'SagaError';
  constructor(message: string, options?: ErrorOptions) {
    const name = new.target.name;
    super(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, options);
  }
}

/** A turn that is not a turn: not UTF-8 JSON of the turn shape, a field out of range, over a limit. */
export class SagaMalformedError extends SagaError {
  override name = 'SagaMalformedError';
}

/** A turn whose signature does not verify against the key this side knows for its sender (tampered, or signed by another key). */
export class SagaSignatureError extends SagaError {
  override name = 'SagaSignatureError';
}

/** A turn out of its place: another saga's, another sequence number, a `prev` that is not the previous turn's hash, or a kind the state does not expect. */
export class SagaOrderError extends SagaError {
  override name = 'SagaOrderError';
}

/** A turn seen before: a saga id used already, or a turn of this saga again. */
export class SagaReplayError extends SagaError {
  override name = 'SagaReplayError';
}

/** A leg got no answer within its timeout. */
export class SagaTimeoutError extends SagaError {
  override name = 'SagaTimeoutError';
}

/** The saga was aborted: by this side (its reason in the message) or by the peer's abort turn. */
export class SagaAbortedError extends SagaError {
  override name = 'SagaAbortedError';
}

/** No key is known for the peer a turn names as its sender, or the space is not one this side syncs. */
export class SagaRefusedError extends SagaError {
  override name = 'SagaRefusedError';
}
