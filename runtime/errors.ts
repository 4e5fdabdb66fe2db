/** Errors of the host runtime (process, home, store, CLI). Tests match them by `name`. */
import { TribeError } from '../capabilities/errors.js';

export class HostAlreadyRunningError extends TribeError {}
export class HostNotRunningError extends TribeError {}
export class HomeError extends TribeError {}
/** The home's identity key is not the key whose VatId its store recorded (a key swapped, or a store copied from elsewhere). */
export class IdentityKeyMismatchError extends HomeError {}
/**
 * The home's store cannot be used (damaged, not a database, written by a newer Tribe,
 * read-only, disk full): the host refuses to start and leaves the file as it was.
 */
export class StoreUnusableError extends HomeError {}
export class UsageError extends TribeError {}
export class HostStoppedError extends TribeError {}
/** `tribe init` would overwrite a file that is there already. */
export class ProjectExistsError extends TribeError {}
/** `tribe spawn --check`: tsc found errors in the actor module (the message lists them). */
export class TypeCheckError extends TribeError {}
/**
 * `upgradeVat`: the new module did not start (load error, make() threw or did not
 * return in time). The vat's store was put back as it was and the old module
 * started again; the message says why and what the vat runs now.
 */
export class UpgradeFailedError extends TribeError {}
/** `upgradeVat` of a vat whose upgrade has not finished yet. */
export class UpgradeInProgressError extends TribeError {}
/** A peer's visualizer relay sent something that is not a well-formed, bounded batch of its own records. */
export class VizRelayError extends TribeError {}
/** An address asked for (listen or visualizer) is taken by another host or program. */
export class PortInUseError extends TribeError {}
/** `tribe space get`: the space has no live entry under that key. */
export class SpaceKeyNotFoundError extends TribeError {}

/** `err` as a PortInUseError when it is the OS saying the address is taken; otherwise unchanged. */
export const portInUse = (err: unknown, what: string, address: string, hint: string): unknown =>
  (err as { code?: string })?.code === 'EADDRINUSE'
    ? new PortInUseError(`${what} ${address} is taken (another host or program listens there); ${hint}`, { cause: err })
    : err;
