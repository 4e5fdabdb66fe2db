/**
 * Errors of the vat layer. Tests match them by `name`. Messages that cross CapTP
 * are flattened with `describeError` and revived with `reviveError`.
 */
import { TribeError } from '../capabilities/errors.js';

/** A vat ended; every call into it rejects with this (or a subclass). */
export class VatTerminatedError extends TribeError {}
/** The vat's event loop stayed busy past its time budget (an endless loop). */
export class VatTimeBudgetError extends VatTerminatedError {}
/** The vat's heap grew past its memory budget. */
export class VatMemoryBudgetError extends VatTerminatedError {}
/** The vat's worker failed outside any one call (an uncaught error, a crash). */
export class VatCrashedError extends VatTerminatedError {}
/**
 * The vat was stopped to be upgraded to new code (`tribe upgrade`): calls that were
 * still in flight reject with this. References to its old root stay dead; look its
 * name up again for the new one.
 */
export class VatUpgradedError extends VatTerminatedError {}

/** The actor module could not be loaded; the vat never ran. */
export class VatLoadError extends TribeError {}
export class ModuleNotFoundError extends VatLoadError {}
export class ModuleSyntaxError extends VatLoadError {}
/** The module loaded but does not export a `make(powers, params)` function. */
export class ModuleShapeError extends VatLoadError {}
/** The module imports something outside what a vat may reach. */
export class ModuleNotAllowedError extends VatLoadError {}
/** `make()` threw or rejected. */
export class ActorStartError extends VatLoadError {}

export class VatNotFoundError extends TribeError {}
export class VatExistsError extends TribeError {}
/**
 * Actor code reached for ambient authority a vat does not have (console, timers,
 * the clock, randomness); the message names the power or grant to use instead.
 */
export class AmbientAuthorityError extends TribeError {}
/** A store value that is not plain data (JSON), or a bad key. */
export class StoreValueError extends TribeError {}
export class InvalidParamsError extends TribeError {}
/**
 * A durable kind used wrongly: defined twice, a bad name or shape, or objects of
 * a kind that the vat's code (after a restart or upgrade) does not define.
 */
export class DurableKindError extends TribeError {}
/** A call into a replica of a replicated service that is not one (no call id, a method it lacks, a vat that is not replicated). */
export class ReplicaCallError extends TribeError {}
