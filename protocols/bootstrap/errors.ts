/**
 * Errors of a tribe's bootstrap (docs/architecture.md "Sisters"). Each message
 * starts with its class name, so `reviveError` restores it by name after it
 * crossed a vat or a host.
 */
export class TribeBootstrapError extends Error {
  override name = 'TribeBootstrapError';
  constructor(message: string, options?: ErrorOptions) {
    const name = new.target.name;
    super(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, options);
  }
}

/** A sister record that is malformed, forged or of another tribe (the registry drops it). */
export class SisterRecordError extends TribeBootstrapError {
  override name = 'SisterRecordError';
}

/** A sister host process could not be started (no such program, its home unusable, it exited at once). */
export class SpawnFailedError extends TribeBootstrapError {
  override name = 'SpawnFailedError';
}

/** `--join` failed: the ref is not a sister's, the sister refused, or the tribe could not be reached. */
export class JoinFailedError extends TribeBootstrapError {
  override name = 'JoinFailedError';
}

/** No sister of that name (or VatId prefix) is in the tribe (`tribe spawn --on`). */
export class SisterNotFoundError extends TribeBootstrapError {
  override name = 'SisterNotFoundError';
}

/** A sister's process was replaced (its record is newer): the session with the old one ends with this. */
export class SisterRestartedError extends TribeBootstrapError {
  override name = 'SisterRestartedError';
}
