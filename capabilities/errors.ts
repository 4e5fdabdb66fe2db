/**
 * Errors of the capability layer. Tests match them by `name`.
 *
 * CapTP (through @endo/marshal) carries an error's message across a connection
 * but not its class: the receiver sees a plain `Error`. So every TribeError's
 * message starts with its name ("VatTimeBudgetError: vat …"), which survives
 * any number of hops, and `reviveError` restores `name` from it where needed.
 */
export class TribeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    const name = new.target.name;
    super(message.startsWith(`${name}: `) ? message : `${name}: ${message}`, options);
    this.name = name;
  }
}

/** A connection was aborted; pending and later calls on its references reject with this. */
export class ConnectionAbortedError extends TribeError {}
/** A peer sent a message that is not a CapTP message. */
export class ProtocolViolationError extends TribeError {}
/** `names.lookup` of a name nobody published. */
export class NameNotFoundError extends TribeError {}
/** `names.publish` of a name another owner holds. */
export class NameTakenError extends TribeError {}
/** A name that is empty, too long or has characters outside [A-Za-z0-9._-]. */
export class InvalidNameError extends TribeError {}

/** A value that CapTP cannot carry (an object with methods that is not Far, a class instance, a Map …). */
export class NotPassableError extends TribeError {}

/** One line naming the error, for CLI output and for messages that cross CapTP. */
export const describeError = (err: unknown): string => {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? err.name : '';
    return name && !err.message.startsWith(`${name}:`) ? `${name}: ${err.message}` : err.message;
  }
  // A thrown non-error (`throw 'text'`) is shown as what it was.
  return `thrown ${typeof err}: ${String(err)}`;
};

/**
 * The form of `err` that crosses CapTP: @endo/marshal passes only the standard
 * error classes, so ours travel as a plain Error whose message starts with the
 * class name ("SturdyRefError: …"); `reviveError` gives the name back.
 */
export const passableError = (err: unknown): Error => new Error(describeError(err));

/**
 * Undo the `describeError` flattening on the receiving side: an error whose
 * message reads `SomeError: text` gets `name` SomeError back. The message keeps
 * its prefix, so the name survives any further CapTP hop as well.
 */
export const reviveError = (err: unknown): Error => {
  if (!(err instanceof Error)) return passableError(err);
  const match = /^([A-Z][A-Za-z0-9]*Error): /.exec(err.message);
  if (!match || err.name === match[1]) return err;
  const revived = new Error(err.message, { cause: err });
  revived.name = match[1]!;
  return revived;
};

/** The session to another host ended: calls waiting on it and later calls on its references reject with this. */
export class SessionLostError extends TribeError {}
/** A sturdy ref that does not parse, or names no live export (unknown or revoked: the two look the same on purpose). */
export class SturdyRefError extends TribeError {}
/** A remote request over a limit (channels per session, pending enlivens). */
export class RemoteLimitError extends TribeError {}

/**
 * Three-party handoff (capabilities/handoff.ts, docs/protocol.md "Handoff").
 * A gift is what a donor deposits with an object's owner for one recipient.
 */
/** A claim on a gift by a party it was not given to, or naming another donor, or a nonce the owner never saw. */
export class GiftRefusedError extends TribeError {}
/** A nonce that was already claimed: gifts are claimed once. */
export class GiftClaimedError extends TribeError {}
/** No gift arrived for a claim within the wait bound, or a gift expired before anyone claimed it. */
export class GiftExpiredError extends TribeError {}
/** A donor past its bound of pending gifts, or a recipient past its bound of waiting claims. */
export class GiftLimitError extends TribeError {}
/** The owner of a handed-on reference cannot be reached from the recipient: it stays a proxy through the donor. */
export class HandoffUnreachableError extends TribeError {}

/**
 * Durable objects (docs/architecture.md, "Durable objects"): references that reach
 * their object again after its vat or host restarts.
 */
/** No durable object under that key here: never created, or its vat is not the one named. */
export class DurableObjectNotFoundError extends TribeError {}
/** A durable reference could not reach its object now (its host is down or unreachable); a later call tries again. */
export class DurableUnreachableError extends TribeError {}
