/**
 * The errors the Sister throws. Its module may import only @endo/far and files
 * beside it, so these are its own classes, named as in
 * protocols/bootstrap/errors.ts and runtime/errors.ts. Only the message crosses
 * CapTP intact; it starts with the class name, from which `reviveError` gives
 * callers the name back.
 */
class SisterError extends Error {
  constructor(message: string) {
    super(`${new.target.name}: ${message}`);
  }
}

/** `tribe spawn --on`: no such sister of this machine, or it is not connected now. */
export class SisterNotFoundError extends SisterError {}
/** A name spawned that another sister publishes. */
export class VatExistsError extends SisterError {}
/** A request the Sister cannot do as asked (a vat placed on another machine's sister). */
export class UsageError extends SisterError {}
