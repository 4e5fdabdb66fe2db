/** Errors of the host runtime (process, home, store, CLI). Tests match them by `name`. */
import { TribeError } from '../capabilities/errors.js';

export class HostAlreadyRunningError extends TribeError {}
export class HostNotRunningError extends TribeError {}
export class HomeError extends TribeError {}
export class UsageError extends TribeError {}
export class HostStoppedError extends TribeError {}
/** A peer's visualizer relay sent something that is not a well-formed, bounded batch of its own records. */
export class VizRelayError extends TribeError {}
