/**
 * Errors of replicated services (runtime/replica/). Tests match them by `name`;
 * across CapTP they are flattened and revived by name (capabilities/errors.ts).
 */
import { TribeError } from '../../capabilities/errors.js';

/** A replicated vat's turn could not commit through its service's log: the vat ends, its callers retry elsewhere. */
export class ReplicationFailedError extends TribeError {}
/** No leader of the service answered within the caller's deadline (a majority of its replicas is down or cut off). */
export class ServiceUnavailableError extends TribeError {}
/** No replicated service of that name is known here. */
export class ServiceNotFoundError extends TribeError {}
